# Copyright (c) OpenMMLab. All rights reserved.
"""Submanifold conv against dense conv3d and spconv's CPU forward."""
import contextlib
from typing import Iterator

import pytest
import torch
import torch.nn.functional as F

from projects.DOS.dos.models.backbones.ptv3.sparse_conv import (SubMConv3d,
                                                                SubMRulebook,
                                                                kernel_offsets)
from projects.DOS.dos.models.backbones.ptv3.structure import (PointLevel,
                                                              offset_to_batch)

SHAPE = (7, 6, 5)  # (X, Y, Z) extent of the test grids


@contextlib.contextmanager
def spconv_cpu_single_threaded() -> Iterator[None]:
    """Run spconv's CPU kernels on one intra-op thread.

    spconv 2.3.8's multi-threaded CPU conv races now and then (seen: about
    one run in six with 2 threads gives a few wrong outputs). PTv3 never uses
    spconv on CPU (its own conv serves there), so the reference comparisons
    take the deterministic single-threaded path.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def make_level(sizes=(60, 45), seed=0):
    """Random unique voxels per sample, rows shuffled within samples."""
    gen = torch.Generator().manual_seed(seed)
    volume = SHAPE[0] * SHAPE[1] * SHAPE[2]
    grids = []
    for n in sizes:
        flat = torch.randperm(volume, generator=gen)[:n]
        grids.append(
            torch.stack([
                flat // (SHAPE[1] * SHAPE[2]),
                (flat // SHAPE[2]) % SHAPE[1], flat % SHAPE[2]
            ], 1))
    grid = torch.cat(grids)
    offset = torch.cumsum(torch.tensor(sizes), 0)
    return PointLevel(grid.float(), grid, offset_to_batch(offset), offset,
                      ('z', ))


def dense_conv(feat, level, weight, bias):
    """Scatter to a dense (B, C, X, Y, Z) grid, conv3d, gather back."""
    dense = feat.new_zeros(level.num_samples, *SHAPE, feat.shape[1])
    x, y, z = level.grid_coord.unbind(1)
    dense = dense.index_put((level.batch, x, y, z), feat)
    out = F.conv3d(
        dense.permute(0, 4, 1, 2, 3),
        weight.permute(0, 4, 1, 2, 3),
        bias,
        padding=1)
    return out.permute(0, 2, 3, 4, 1)[level.batch, x, y, z]


def test_kernel_offsets_order():
    offsets = kernel_offsets()
    assert offsets.shape == (27, 3)
    assert offsets[0].tolist() == [-1, -1, -1]
    assert offsets[5].tolist() == [-1, 0, 1]
    assert offsets[13].tolist() == [0, 0, 0]
    assert torch.equal(offsets.flip(0), -offsets)


def test_rulebook_pairs_are_grid_neighbours():
    level = make_level()
    rulebook = level.rulebook()
    assert rulebook is level.rulebook()
    offsets = kernel_offsets()
    start = 0
    for k, count in zip(rulebook.offset_ids, rulebook.counts):
        out_rows = rulebook.out_index[start:start + count]
        in_rows = rulebook.in_index[start:start + count]
        start += count
        assert torch.equal(level.batch[out_rows], level.batch[in_rows])
        delta = level.grid_coord[in_rows] - level.grid_coord[out_rows]
        assert bool((delta == offsets[k]).all())
    # Brute force: every same-sample pair at Chebyshev distance 1.
    diff = (level.grid_coord[:, None] - level.grid_coord[None]).abs()
    adjacent = (diff.amax(-1) == 1) & (
        level.batch[:, None] == level.batch[None])
    assert start == int(adjacent.sum())


@pytest.mark.parametrize('channels', [(3, 5), (8, 8)])
def test_subm_conv_equals_dense_conv3d(channels):
    torch.manual_seed(0)
    level = make_level()
    conv = SubMConv3d(*channels)
    feat = torch.randn(level.coord.shape[0], channels[0])
    torch.testing.assert_close(
        conv(feat, level),
        dense_conv(feat, level, conv.weight, conv.bias),
        atol=1e-5,
        rtol=1e-5)


def test_subm_conv_gradients_equal_dense_conv3d():
    torch.manual_seed(1)
    level = make_level(seed=2)
    conv = SubMConv3d(4, 6)
    feat = torch.randn(level.coord.shape[0], 4, requires_grad=True)
    grad = torch.randn(level.coord.shape[0], 6)
    (conv(feat, level) * grad).sum().backward()
    got = (feat.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone())
    feat.grad = None
    conv.zero_grad()
    (dense_conv(feat, level, conv.weight, conv.bias) * grad).sum().backward()
    for a, b in zip(got, (feat.grad, conv.weight.grad, conv.bias.grad)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_subm_conv_equals_spconv_cpu_forward():
    spconv = pytest.importorskip('spconv.pytorch')
    torch.manual_seed(0)
    level = make_level(sizes=(150, 90, 120), seed=4)
    ours = SubMConv3d(8, 16, bias=False)
    feat = torch.randn(level.coord.shape[0], 8)
    reference = spconv.SubMConv3d(8, 16, 3, bias=False)
    # Same KRSC layout: spconv checkpoints load as they are.
    ours.load_state_dict(reference.state_dict())
    sparse = spconv.SparseConvTensor(
        feat,
        torch.cat([level.batch[:, None], level.grid_coord], 1).int(),
        spatial_shape=list(SHAPE),
        batch_size=level.num_samples)
    with torch.no_grad(), spconv_cpu_single_threaded():
        expected = reference(sparse).features
        got = ours(feat, level)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_spconv_backend_shares_the_module_parameters():
    """The CUDA backend (spconv) run on CPU: same weights, same result.

    spconv's CPU kernels accept a bias only in training mode, hence
    ``train()`` under ``no_grad`` (spconv's CPU backward needs CUDA).
    """
    pytest.importorskip('spconv.pytorch')
    torch.manual_seed(0)
    level = make_level(sizes=(150, 90), seed=5)
    conv = SubMConv3d(6, 10, indice_key='stage0').train()
    torch.nn.init.normal_(conv.bias)
    feat = torch.randn(level.coord.shape[0], 6)
    with torch.no_grad(), spconv_cpu_single_threaded():
        expected = conv(feat, level)
        got = conv._forward_spconv(feat, level)
        # The rulebook cached under indice_key is reused by a second call.
        again = conv._forward_spconv(feat * 2, level)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        again, 2 * expected - conv.bias, atol=1e-5, rtol=1e-5)
    assert 'stage0' in level.sparse_tensor().indice_dict
    assert [name for name, _ in conv.named_parameters()] == ['weight', 'bias']


def test_rulebook_rejects_duplicate_voxels():
    grid = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match='duplicate voxels'):
        SubMRulebook(grid, torch.zeros(3, dtype=torch.long))
    # The same voxel in two samples is fine.
    SubMRulebook(grid, torch.tensor([0, 0, 1]))
