# Copyright (c) OpenMMLab. All rights reserved.
"""Cubic block masking of point-cloud views (the DOS visible sets I_v)."""
from typing import Optional

import torch
from torch import Tensor


class DegenerateViewError(ValueError):
    """A view that cannot be split into visible and masked blocks.

    Args:
        message (str): What is wrong.
        segment (int): Index of the offending segment in the batch.
    """

    def __init__(self, message: str, segment: int) -> None:
        super().__init__(message)
        self.segment = segment


class BlockMasking:
    """Mask whole cubes of every view, drawn independently per segment.

    Each segment (one view of one scene) is cut into cubes of edge
    ``block_size`` anchored at the segment's own minimum coordinate, so the
    cubes are measured on that view. ``clamp(round(mask_ratio * n_blocks), 1,
    n_blocks - 1)`` cubes are masked; visibility is constant within a cube.
    The ratio therefore holds per scene and view (Sonata draws one
    permutation over the whole batch, so its per-scene ratio varies). Every
    segment keeps a non-empty, strict subset of its points visible; if the
    drawn cubes would leave fewer than ``min_visible`` points visible, the
    segment is redrawn taking cubes in the same random order but skipping
    any cube whose masking would leave too few visible points.

    Randomness comes only from one integer seed per segment, so the mask of
    a view does not depend on which other views share the batch or on the
    device; seeds are normally drawn by the data pipeline
    (``DOSMultiViewAug``), or from ``generator`` here.

    Args:
        block_size (float): Cube edge in metres (1.0 outdoor, 0.4 indoor).
        mask_ratio (float): Fraction of cubes masked, in [0, 1) (0.7 for
            segmentation pretraining, 0.6 for detection).
        min_visible (int): Fewest visible points per segment. Defaults to 2
            (a softmap over one point is constant).
    """

    def __init__(self,
                 block_size: float,
                 mask_ratio: float,
                 min_visible: int = 2) -> None:
        self.block_size = block_size
        self.mask_ratio = mask_ratio
        if min_visible < 1:
            raise ValueError(
                f'BlockMasking: min_visible must be >= 1, got {min_visible}')
        self.min_visible = min_visible

    @property
    def block_size(self) -> float:
        """float: Cube edge in metres (> 0)."""
        return self._block_size

    @block_size.setter
    def block_size(self, value: float) -> None:
        if not value > 0:
            raise ValueError(
                f'BlockMasking: block_size must be > 0 metres, got {value}')
        self._block_size = float(value)

    @property
    def mask_ratio(self) -> float:
        """float: Fraction of cubes masked per segment, in [0, 1)."""
        return self._mask_ratio

    @mask_ratio.setter
    def mask_ratio(self, value: float) -> None:
        if not 0 <= value < 1:
            raise ValueError(
                f'BlockMasking: mask_ratio must be in [0, 1), got {value}')
        self._mask_ratio = float(value)

    @staticmethod
    def point_segment(offset: Tensor) -> Tensor:
        """Segment index of every point.

        Args:
            offset (Tensor): (S,) int64 cumulative segment ends.

        Returns:
            Tensor: (N,) int64 segment of each point, on ``offset.device``.
        """
        sizes = torch.diff(offset, prepend=offset.new_zeros(1))
        return torch.repeat_interleave(
            torch.arange(sizes.numel(), device=offset.device), sizes)

    def block_index(self, coord: Tensor, segment: Tensor,
                    num_segments: int) -> Tensor:
        """Batch-unique cube index of every point.

        Args:
            coord (Tensor): (N, 3) float coordinates (x, y, z), metres.
            segment (Tensor): (N,) int64 segment of each point.
            num_segments (int): Number of segments S.

        Returns:
            Tensor: (N,) int64 cube index in [0, n_cubes), cubes sorted by
            (segment, x, y, z), so the cubes of a segment are contiguous.
        """
        seg_min = coord.new_full((num_segments, 3), float('inf'))
        seg_min = seg_min.scatter_reduce(
            0, segment[:, None].expand(-1, 3), coord, reduce='amin')
        cube = torch.div(
            coord - seg_min[segment], self.block_size,
            rounding_mode='floor').long()
        extent = cube.amax(dim=0) + 1
        keys = ((segment * extent[0] + cube[:, 0]) * extent[1] +
                cube[:, 1]) * extent[2] + cube[:, 2]
        _, index = torch.unique(keys, return_inverse=True)
        return index

    def __call__(self,
                 coord: Tensor,
                 offset: Tensor,
                 seeds: Optional[Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> Tensor:
        """Draw the visible points of every segment.

        Args:
            coord (Tensor): (N, 3) float augmented coordinates (x, y, z) of
                all segments, metres.
            offset (Tensor): (S,) int64 cumulative segment ends (no leading
                zero).
            seeds (Tensor, optional): (S,) int64 seed of each segment's mask.
                Drawn from ``generator`` when None.
            generator (torch.Generator, optional): CPU generator used only
                when ``seeds`` is None.

        Returns:
            Tensor: (N,) bool on ``coord.device``, True = visible.

        Raises:
            DegenerateViewError: A segment has fewer than two cubes or fewer
                than ``min_visible + 1`` points.
        """
        offset = offset.to(coord.device)
        num_segments = offset.numel()
        if seeds is None:
            seeds = torch.randint(
                0, 2**31 - 1, (num_segments, ), generator=generator)
        if seeds.numel() != num_segments:
            raise ValueError(f'BlockMasking: {seeds.numel()} seeds for '
                             f'{num_segments} segments')
        sizes = torch.diff(offset, prepend=offset.new_zeros(1))
        self._check_segments(sizes)
        point_segment = self.point_segment(offset)
        block = self.block_index(coord, point_segment, num_segments)
        num_blocks = int(block.max()) + 1
        # segment of each cube and number of cubes per segment
        block_segment = point_segment.new_zeros(num_blocks).scatter_(
            0, block, point_segment)
        blocks_per_segment = torch.bincount(
            block_segment, minlength=num_segments)
        self._check_segments(sizes, blocks_per_segment)

        # Cube ranks within their segment, by a per-segment seeded score.
        scores = torch.cat([
            torch.rand(
                int(n),
                generator=torch.Generator().manual_seed(int(seed)),
                dtype=torch.float64)
            for n, seed in zip(blocks_per_segment.tolist(), seeds.tolist())
        ]).to(coord.device)
        order = torch.argsort(block_segment.double() * 2 + scores)
        first_block = torch.cumsum(blocks_per_segment, 0) - blocks_per_segment
        rank = torch.empty_like(order)
        rank[order] = torch.arange(num_blocks, device=coord.device)
        rank = rank - first_block[block_segment]

        num_masked = torch.round(blocks_per_segment.double() *
                                 self.mask_ratio).long()
        num_masked = torch.minimum(
            num_masked.clamp(min=1), blocks_per_segment - 1)
        block_visible = rank >= num_masked[block_segment]
        self._repair_segments(block, block_segment, rank, num_masked,
                              block_visible, num_segments)
        return block_visible[block]

    def _check_segments(self,
                        sizes: Tensor,
                        blocks_per_segment: Optional[Tensor] = None) -> None:
        """Raise for segments that cannot hold a strict non-empty subset.

        Args:
            sizes (Tensor): (S,) points per segment.
            blocks_per_segment (Tensor, optional): (S,) occupied cubes per
                segment; only the point counts are checked when None.
        """
        too_small = sizes < self.min_visible + 1
        if blocks_per_segment is not None:
            too_small |= blocks_per_segment < 2
        if bool(too_small.any()):
            seg = int(torch.nonzero(too_small)[0])
            blocks = ('' if blocks_per_segment is None else
                      f' in {int(blocks_per_segment[seg])} block(s) of '
                      f'{self.block_size} m')
            raise DegenerateViewError(
                f'segment {seg} has {int(sizes[seg])} points{blocks}; block '
                f'masking needs >= 2 blocks and >= {self.min_visible + 1} '
                f'points (min_visible={self.min_visible} visible + 1 '
                'masked)', seg)

    def _repair_segments(self, block: Tensor, block_segment: Tensor,
                         rank: Tensor, num_masked: Tensor,
                         block_visible: Tensor, num_segments: int) -> None:
        """Redraw segments left with fewer than ``min_visible`` points.

        For such a segment the cubes are walked in rank order and masked
        unless masking one would leave fewer than ``min_visible`` visible
        points, until ``num_masked`` cubes are masked or the cubes run out.
        Modifies ``block_visible`` in place.

        Raises:
            DegenerateViewError: No cube of the segment can be masked.
        """
        block_points = torch.bincount(block, minlength=rank.numel())
        visible_points = torch.zeros(
            num_segments, dtype=torch.long, device=block.device).index_add_(
                0, block_segment, block_points * block_visible.long())
        deficient = torch.nonzero(visible_points < self.min_visible)
        for seg in deficient.flatten().tolist():
            cubes = torch.nonzero(block_segment == seg).flatten()
            cubes = cubes[torch.argsort(rank[cubes])]
            block_visible[cubes] = True
            remaining = int(block_points[cubes].sum())
            masked = 0
            for cube in cubes.tolist():
                if masked == int(num_masked[seg]):
                    break
                if remaining - int(block_points[cube]) >= self.min_visible:
                    block_visible[cube] = False
                    remaining -= int(block_points[cube])
                    masked += 1
            if masked == 0:
                raise DegenerateViewError(
                    f'segment {seg}: masking any one of its '
                    f'{cubes.numel()} blocks leaves fewer than '
                    f'min_visible={self.min_visible} visible points', seg)

    def __repr__(self) -> str:
        """str: Return a string that describes the object."""
        return (f'{self.__class__.__name__}(block_size={self.block_size}, '
                f'mask_ratio={self.mask_ratio}, '
                f'min_visible={self.min_visible})')
