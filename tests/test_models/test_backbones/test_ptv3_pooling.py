# Copyright (c) OpenMMLab. All rights reserved.
"""Grid pooling and unpooling."""
import pytest
import torch

from projects.DOS.dos.models.backbones.ptv3.pooling import (GridPooling,
                                                            GridUnpooling,
                                                            grid_cluster)
from projects.DOS.dos.models.backbones.ptv3.structure import (PointLevel,
                                                              offset_to_batch)


def make_level(sizes=(80, 50, 64), seed=0):
    gen = torch.Generator().manual_seed(seed)
    grids = [
        torch.unique(torch.randint(0, 9, (n, 3), generator=gen), dim=0)
        for n in sizes
    ]
    grid = torch.cat([g[torch.randperm(len(g), generator=gen)] for g in grids])
    offset = torch.cumsum(torch.tensor([len(g) for g in grids]), 0)
    coord = grid.float() * 0.05 + torch.rand(grid.shape, generator=gen) * 0.05
    return PointLevel(coord, grid, offset_to_batch(offset), offset, ('z', ))


def test_pooling_then_unpooling_maps_points_to_their_parents():
    torch.manual_seed(0)
    level = make_level()
    pooling = GridPooling(6, 10, stride=2)
    feat = torch.randn(level.coord.shape[0], 6)
    pooled, parent, inverse = pooling(feat, level, ('hilbert', ))
    # Each row's parent is its own coarse cell in its own sample.
    torch.testing.assert_close(parent.grid_coord[inverse],
                               level.grid_coord // 2)
    assert torch.equal(parent.batch[inverse], level.batch)
    assert parent.order_names == ('hilbert', )
    assert torch.equal(parent.offset,
                       torch.cumsum(torch.bincount(parent.batch), 0))
    # Parents are distinct cells sorted by (batch, x, y, z).
    key = (
        parent.batch * 1000 + parent.grid_coord[:, 0] * 100 +
        parent.grid_coord[:, 1] * 10 + parent.grid_coord[:, 2])
    assert bool((key.diff() > 0).all())
    # Features: max of the projected rows; coords: mean of the children.
    projected = pooling.proj(feat)
    for cell in range(pooled.shape[0]):
        rows = (inverse == cell).nonzero().flatten()
        expected = pooling.act(
            pooling.norm(projected[rows].amax(0, keepdim=True)))
        torch.testing.assert_close(pooled[cell:cell + 1], expected)
        torch.testing.assert_close(parent.coord[cell],
                                   level.coord[rows].mean(0))
    # Unpooling hands every row the coarse features of its own parent.
    unpooling = GridUnpooling(10, 6, 12)
    out = unpooling(pooled, feat, inverse)
    torch.testing.assert_close(out - unpooling.proj_skip(feat),
                               unpooling.proj(pooled)[inverse])
    assert out.shape == (feat.shape[0], 12)


def test_grid_cluster_is_independent_of_row_order():
    level = make_level(seed=1)
    perm = torch.randperm(level.grid_coord.shape[0])
    grid, batch, inverse, counts = grid_cluster(level.grid_coord, level.batch,
                                                3)
    grid_p, batch_p, inverse_p, counts_p = grid_cluster(
        level.grid_coord[perm], level.batch[perm], 3)
    assert torch.equal(grid, grid_p) and torch.equal(batch, batch_p)
    assert torch.equal(counts, counts_p)
    assert torch.equal(inverse[perm], inverse_p)
    assert int(counts.sum()) == level.grid_coord.shape[0]


def test_pooling_gradient_reaches_the_max_rows():
    level = make_level(sizes=(40, ), seed=2)
    pooling = GridPooling(3, 4)
    feat = torch.randn(level.coord.shape[0], 3, requires_grad=True)
    pooled, _, _ = pooling(feat, level, ('z', ))
    pooled.sum().backward()
    assert feat.grad is not None and bool(feat.grad.abs().sum() > 0)


def test_pooling_rejects_stride_one():
    with pytest.raises(ValueError, match='stride'):
        GridPooling(2, 2, stride=1)
