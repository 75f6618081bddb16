# Copyright (c) OpenMMLab. All rights reserved.
"""Per-level voxel structure of PTv3 and its per-level caches."""
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .attention import PatchIndex, PatchPartition
from .serialization import SerializedOrder, serialize
from .sparse_conv import SubMRulebook, spconv


def offset_to_batch(offset: Tensor) -> Tensor:
    """Sample index of every row from cumulative end offsets.

    Args:
        offset (Tensor): (B,) int64 cumulative end row of each sample.

    Returns:
        Tensor: (N,) int64 sample index, N = ``offset[-1]``.
    """
    counts = torch.diff(offset, prepend=offset.new_zeros(1))
    total = int(offset[-1]) if offset.numel() else 0
    return torch.repeat_interleave(
        torch.arange(offset.shape[0], device=offset.device),
        counts,
        output_size=total)


def batch_to_offset(batch: Tensor, num_samples: int) -> Tensor:
    """Cumulative end offsets from a sorted per-row sample index.

    Args:
        batch (Tensor): (N,) int64 sample index, non-decreasing.
        num_samples (int): B (samples may be empty).

    Returns:
        Tensor: (B,) int64 cumulative end row of each sample.
    """
    return torch.cumsum(torch.bincount(batch, minlength=num_samples), 0)


class PointLevel:
    """Voxels of one PTv3 level (stage) and the caches its blocks share.

    The caches (serializations, patch partitions, the conv rulebook and
    spconv's sparse tensor) are built on first use and reused by all blocks
    of the level.

    Args:
        coord (Tensor): (N, 3) float mean metric coordinates (x, y, z).
        grid_coord (Tensor): (N, 3) int64 voxel coordinates (x, y, z) at the
            level's grid, >= 0.
        batch (Tensor): (N,) int64 sample index, non-decreasing.
        offset (Tensor): (B,) int64 cumulative end row of each sample.
        order_names (Sequence[str]): serialization curves of this level, in
            the order blocks use them (block i uses ``i % len``).
        point_count (Tensor, optional): (N,) number of input points in each
            voxel, so that coarser levels average the input points exactly.
            Default: one per row.
    """

    def __init__(self,
                 coord: Tensor,
                 grid_coord: Tensor,
                 batch: Tensor,
                 offset: Tensor,
                 order_names: Sequence[str],
                 point_count: Optional[Tensor] = None) -> None:
        self.coord = coord
        self.point_count = (
            point_count if point_count is not None else torch.ones(
                coord.shape[0], dtype=coord.dtype, device=coord.device))
        self.grid_coord = grid_coord
        self.batch = batch
        self.offset = offset
        self.order_names = tuple(order_names)
        self._orders: Dict[int, SerializedOrder] = {}
        self._partitions: Dict[int, PatchPartition] = {}
        self._patch_indices: Dict[Tuple[int, int], PatchIndex] = {}
        self._rulebook: Optional[SubMRulebook] = None
        self._sparse_tensor: Optional[Any] = None

    @property
    def num_samples(self) -> int:
        """B, the number of samples."""
        return self.offset.shape[0]

    def serialized_order(self, order_index: int) -> SerializedOrder:
        """Serialization used by block ``order_index`` (cached).

        Args:
            order_index (int): block index; the curve is
                ``order_names[order_index % len(order_names)]``. Only the
                curves some block uses are ever computed.

        Returns:
            SerializedOrder: codes, sorting permutation and its inverse.
        """
        index = order_index % len(self.order_names)
        if index not in self._orders:
            self._orders[index] = serialize(self.grid_coord, self.batch,
                                            [self.order_names[index]])[0]
        return self._orders[index]

    def partition(self, patch_size: int) -> PatchPartition:
        """Patch partition for patch size ``patch_size`` (cached)."""
        if patch_size not in self._partitions:
            self._partitions[patch_size] = PatchPartition(
                self.offset, patch_size)
        return self._partitions[patch_size]

    def patch_index(self, order_index: int, patch_size: int) -> PatchIndex:
        """Patch gather/scatter indices of one order (cached).

        Args:
            order_index (int): block index; the order used is
                ``order_index % len(order_names)``.
            patch_size (int): K.

        Returns:
            PatchIndex: indices in this level's row space.
        """
        key = (order_index % len(self.order_names), patch_size)
        if key not in self._patch_indices:
            self._patch_indices[key] = self.partition(patch_size).index(
                self.serialized_order(key[0]))
        return self._patch_indices[key]

    def rulebook(self) -> SubMRulebook:
        """Submanifold-conv neighbour pairs of the level (cached)."""
        if self._rulebook is None:
            self._rulebook = SubMRulebook(self.grid_coord, self.batch)
        return self._rulebook

    def sparse_tensor(self) -> Any:
        """spconv ``SparseConvTensor`` of the level (cached, CUDA only).

        Its indices are ``(batch, x, y, z)``; its rulebook cache
        (``indice_dict``) is shared by every conv of the level through
        ``replace_feature``.
        """
        if spconv is None:
            raise RuntimeError('spconv is not installed')
        if self._sparse_tensor is None:
            indices = torch.cat([self.batch[:, None], self.grid_coord],
                                1).int().contiguous()
            spatial_shape = (self.grid_coord.amax(0) + 1).tolist()
            self._sparse_tensor = spconv.SparseConvTensor(
                features=self.coord.new_empty(self.coord.shape[0], 1),
                indices=indices,
                spatial_shape=spatial_shape,
                batch_size=self.num_samples)
        return self._sparse_tensor
