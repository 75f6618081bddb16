# Copyright (c) OpenMMLab. All rights reserved.
"""Grid pooling and unpooling between PTv3 levels (PT-v3m2 style).

Written on :func:`torch.Tensor.scatter_reduce` so that the backbone does not
depend on ``torch_scatter`` (a source-only package on PyPI for CPU).
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor, nn

from .structure import PointLevel, batch_to_offset

_AXIS_BITS = 16


def _linear_norm_act(in_channels: int, out_channels: int) -> nn.Sequential:
    """Linear + LayerNorm + GELU."""
    return nn.Sequential(
        nn.Linear(in_channels, out_channels), nn.LayerNorm(out_channels),
        nn.GELU())


def grid_cluster(grid_coord: Tensor, batch: Tensor,
                 stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Group voxels into the cells of a ``stride`` times coarser grid.

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates (x, y, z), in
            ``[0, 2**16)``.
        batch (Tensor): (N,) int64 sample index, < 2**15.
        stride (int): coarsening factor per axis.

    Returns:
        tuple[Tensor, Tensor, Tensor, Tensor]:

        - parent_grid_coord (M, 3) int64 (x, y, z) of each coarse cell,
        - parent_batch (M,) int64 sample index, non-decreasing,
        - inverse (N,) int64 coarse cell of every voxel,
        - counts (M,) int64 voxels per coarse cell.
        Cells are sorted by (batch, x, y, z), independent of the row order.
    """
    coarse = grid_coord.long() // stride
    key = ((batch.long() << (3 * _AXIS_BITS))
           | (coarse[:, 0] << (2 * _AXIS_BITS))
           | (coarse[:, 1] << _AXIS_BITS) | coarse[:, 2])
    unique_key, inverse, counts = torch.unique(
        key, sorted=True, return_inverse=True, return_counts=True)
    mask = (1 << _AXIS_BITS) - 1
    parent_grid_coord = torch.stack(
        [(unique_key >> (2 * _AXIS_BITS)) & mask,
         (unique_key >> _AXIS_BITS) & mask, unique_key & mask], 1)
    return parent_grid_coord, unique_key >> (3 * _AXIS_BITS), inverse, counts


class GridPooling(nn.Module):
    """Max-pool voxel features into a ``stride`` times coarser grid.

    Features go through Linear, are max-reduced per coarse cell, then
    LayerNorm + GELU; coordinates become the mean of the input points in
    the cell.

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        stride (int): coarsening factor per axis. Default: 2.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 2) -> None:
        super().__init__()
        if stride < 2:
            raise ValueError(f'GridPooling stride must be >= 2, got {stride}')
        self.stride = stride
        self.proj = nn.Linear(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels)
        self.act = nn.GELU()

    def forward(
            self, feat: Tensor, level: PointLevel,
            order_names: Sequence[str]) -> Tuple[Tensor, PointLevel, Tensor]:
        """Pool one level into the next.

        Args:
            feat (Tensor): (N, C_in) features of ``level``'s rows.
            level (PointLevel): the finer level.
            order_names (Sequence[str]): serialization curves of the new
                level's blocks.

        Returns:
            tuple[Tensor, PointLevel, Tensor]: (M, C_out) pooled features,
            the coarser level, and the (N,) int64 inverse mapping every row
            of ``level`` to its row in the coarser level.
        """
        grid_coord, batch, inverse, counts = grid_cluster(
            level.grid_coord, level.batch, self.stride)
        num_cells = counts.shape[0]
        point_count = level.point_count.new_zeros(num_cells).index_add_(
            0, inverse, level.point_count)
        coord = level.coord.new_zeros(num_cells, 3).index_add_(
            0, inverse, level.coord * level.point_count[:, None])
        coord = coord / point_count[:, None]
        proj = self.proj(feat)
        pooled = proj.new_zeros(num_cells, proj.shape[1]).scatter_reduce(
            0,
            inverse[:, None].expand_as(proj),
            proj,
            'amax',
            include_self=False)
        pooled = self.act(self.norm(pooled))
        offset = batch_to_offset(batch, level.num_samples)
        return pooled, PointLevel(coord, grid_coord, batch, offset,
                                  order_names, point_count), inverse


class GridUnpooling(nn.Module):
    """Map coarse features back onto a finer level and merge the skip.

    ``out = proj(child)[inverse] + proj_skip(skip)`` with both projections
    Linear + LayerNorm + GELU (the PT-v3m1 decoder, LayerNorm throughout).

    Args:
        in_channels (int): channels of the coarse (child) features.
        skip_channels (int): channels of the fine (skip) features.
        out_channels (int): C_out.
    """

    def __init__(self, in_channels: int, skip_channels: int,
                 out_channels: int) -> None:
        super().__init__()
        self.proj = _linear_norm_act(in_channels, out_channels)
        self.proj_skip = _linear_norm_act(skip_channels, out_channels)

    def forward(self, feat: Tensor, skip: Tensor, inverse: Tensor) -> Tensor:
        """Unpool.

        Args:
            feat (Tensor): (M, C_in) coarse features.
            skip (Tensor): (N, C_skip) fine features.
            inverse (Tensor): (N,) int64 coarse row of every fine row.

        Returns:
            Tensor: (N, C_out) fine features.
        """
        return self.proj(feat)[inverse] + self.proj_skip(skip)
