# Copyright (c) OpenMMLab. All rights reserved.
"""Serialized patch attention against dense attention patch by patch."""
import pytest
import torch

from projects.DOS.dos.models.backbones.ptv3.attention import (
    PatchPartition, SerializedAttention, flash_attn_varlen_qkvpacked_func)
from projects.DOS.dos.models.backbones.ptv3.structure import (PointLevel,
                                                              offset_to_batch)

# Sample sizes around K = 8: shorter, equal, longer (ragged), multiple.
SIZES = (5, 8, 19, 16, 1, 9)
K = 8


def make_level(sizes, seed=0, orders=('z', 'hilbert'), extent=12):
    """Random unique voxels in an ``extent``-cube per sample."""
    gen = torch.Generator().manual_seed(seed)
    grids = []
    for n in sizes:
        flat = torch.randperm(extent**3, generator=gen)[:n]
        grids.append(
            torch.stack(
                [flat // extent**2,
                 (flat // extent) % extent, flat % extent], 1))
    grid = torch.cat(grids)
    offset = torch.cumsum(torch.tensor(sizes), 0)
    return PointLevel(grid.float() * 0.1, grid, offset_to_batch(offset),
                      offset, orders)


def reference_patches(sizes, patch_size):
    """Per-sample patches (serialized positions), built with Python loops.

    A sample with n > K is cut into ceil(n / K) patches; the last one is
    completed with the tokens K places earlier. A sample with n <= K is one
    patch of n tokens. Each token's own patch is the one holding its first
    occurrence.
    """
    patches, owner = [], {}
    start = 0
    for n in sizes:
        if n <= patch_size:
            seqs = [list(range(start, start + n))]
        else:
            padded = -(-n // patch_size) * patch_size
            tokens = [p if p < n else p - patch_size for p in range(padded)]
            seqs = [[start + t for t in tokens[i:i + patch_size]]
                    for i in range(0, padded, patch_size)]
        for seq in seqs:
            for pos in seq:
                owner.setdefault(pos, (len(patches), seq.index(pos)))
            patches.append(seq)
        start += n
    return patches, owner


def test_partition_pads_with_previous_patch_tokens():
    offset = torch.cumsum(torch.tensor(SIZES), 0)
    partition = PatchPartition(offset, K)
    patches, _ = reference_patches(SIZES, K)
    flat = [pos for seq in patches for pos in seq]
    assert partition.pad.tolist() == flat
    lengths = [len(seq) for seq in patches]
    assert partition.cu_seqlens.tolist(
    ) == [0] + torch.tensor(lengths).cumsum(0).tolist()
    assert partition.cu_seqlens.dtype == torch.int32
    assert partition.max_seqlen == K
    # unpad points at each position's own (first) token.
    assert torch.equal(partition.pad[partition.unpad],
                       torch.arange(sum(SIZES)))


def test_partition_computes_each_query_once():
    offset = torch.cumsum(torch.tensor(SIZES), 0)
    partition = PatchPartition(offset, K)
    patches, _ = reference_patches(SIZES, K)
    # 8 -> 1, 19 -> 2, 16 -> 2 and 9 -> 1 complete patches.
    assert partition.full_index.tolist() == [
        patches[i] for i in (1, 2, 3, 5, 6, 8)
    ]
    # Partial sequences: the padded last patch (19, 9) or the short sample
    # (5, 1) as keys, the positions no complete patch holds as queries.
    assert partition.partial_lengths == [5, 8, 1, 8]
    assert partition.partial_queries == [5, 3, 1, 1]
    windows = partition.partial_index.split(partition.partial_lengths)
    last_patches = [patches[i] for i in (0, 4, 7, 9)]
    assert [sorted(w.tolist())
            for w in windows] == [sorted(seq) for seq in last_patches]
    # Every position has exactly one output row: nothing is computed twice.
    assert torch.equal(
        torch.sort(partition.sorted_to_output).values,
        torch.arange(sum(SIZES)))


def dense_patch_attention(module, feat, level, order_index):
    """Dense softmax(QK^T / sqrt(d)) V inside each reference patch."""
    order = level.serialized_order(order_index)
    patches, owner = reference_patches(
        torch.diff(level.offset, prepend=torch.zeros(1).long()).tolist(),
        module.patch_size)
    heads, channels = module.num_heads, module.channels
    qkv = module.qkv(feat)[order.order]
    results = []
    for seq in patches:
        q, k, v = qkv[seq].view(len(seq), 3, heads, -1).permute(1, 2, 0, 3)
        attn = (q @ k.transpose(-1, -2)) * (channels // heads)**-0.5
        results.append(
            (attn.softmax(-1) @ v).transpose(0, 1).reshape(len(seq), channels))
    out_sorted = torch.stack([
        results[owner[pos][0]][owner[pos][1]] for pos in range(feat.shape[0])
    ])
    return module.proj(out_sorted[order.inverse])


@pytest.mark.parametrize('order_index', [0, 1])
def test_sdpa_attention_equals_dense_patch_attention(order_index):
    torch.manual_seed(0)
    level = make_level(SIZES)
    module = SerializedAttention(16, 4, patch_size=K).eval()
    feat = torch.randn(sum(SIZES), 16)
    out = module(feat, level, order_index)
    expected = dense_patch_attention(module, feat, level, order_index)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_attention_partition_is_cached_per_level():
    level = make_level(SIZES)
    module = SerializedAttention(8, 2, patch_size=K)
    module(torch.randn(sum(SIZES), 8), level, 0)
    assert level.partition(K) is level.partition(K)
    assert level.patch_index(2, K) is level.patch_index(0, K)


def test_attention_gradients_match_dense():
    torch.manual_seed(1)
    level = make_level(SIZES, seed=3)
    module = SerializedAttention(8, 2, patch_size=K)
    feat = torch.randn(sum(SIZES), 8, requires_grad=True)
    grad = torch.randn(sum(SIZES), 8)
    (module(feat, level, 1) * grad).sum().backward()
    got = feat.grad.clone()
    feat.grad = None
    (dense_patch_attention(module, feat, level, 1) * grad).sum().backward()
    torch.testing.assert_close(got, feat.grad, atol=1e-5, rtol=1e-5)


def test_attention_rejects_bad_sizes():
    with pytest.raises(ValueError, match='divisible'):
        SerializedAttention(10, 3)
    with pytest.raises(ValueError, match='patch_size'):
        PatchPartition(torch.tensor([4]), 0)


@pytest.mark.skipif(
    not torch.cuda.is_available() or flash_attn_varlen_qkvpacked_func is None,
    reason='flash attention needs CUDA and flash-attn')
def test_flash_path_equals_sdpa_path():
    torch.manual_seed(0)
    level = make_level((300, 1100, 2048, 70), extent=16)
    cuda_level = PointLevel(level.coord.cuda(), level.grid_coord.cuda(),
                            level.batch.cuda(), level.offset.cuda(),
                            level.order_names)
    module = SerializedAttention(64, 4, patch_size=1024).cuda().eval()
    feat = torch.randn(level.coord.shape[0], 64, device='cuda')
    flash = module(feat, cuda_level, 0)
    module.enable_flash = False
    sdpa = module(feat, cuda_level, 0)
    torch.testing.assert_close(flash, sdpa, atol=2e-2, rtol=2e-2)
