# Copyright (c) OpenMMLab. All rights reserved.
"""Two overlapping, independently augmented crops of one grid-sampled scan."""
import logging
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures.points import BasePoints
from mmengine.logging import print_log

from .grid_sample import compute_grid_coord, one_point_per_voxel, voxel_keys


@TRANSFORMS.register_module()
class DOSMultiViewAug(BaseTransform):
    """Crop a grid-sampled scan into views, augment and voxelise each.

    Crop: the Sonata k-NN-ball crop. A view is the ``size`` points nearest
    (Euclidean, on the un-augmented coordinates) to a centre, with
    ``size = U(crop_scale) * min(max_crop_points, N)``. The first centre is a
    random point; every later centre is a random point of the first view, so
    all views overlap. The selection is an O(N) ``np.argpartition`` over
    squared distances (no k-d tree), about a millisecond for a 35k-point
    nuScenes frame; a sector or box crop would be no faster and would lose
    the point-count semantics of Sonata's ``scale`` that DOS inherits.

    Augmentation: ``view_transforms`` (an mmdet3d pipeline, e.g.
    ``GlobalRotScaleTrans``, ``RandomFlip3D``, ``RandomJitterPoints`` and a
    photometric jitter) runs once per view on a copy of the view's points,
    each run drawing its own random parameters.

    Grid: ``grid_coord`` is computed per view from the augmented coordinates
    of the FULL view (anchored at the view's minimum), so the masked student
    subset later keeps the teacher's voxels. Rotation and down-scaling can
    move two points of the scan into one voxel of the view; PTv3 needs one
    row per voxel, so one random point of each such voxel is kept (the point
    ids of the survivors stay exact).

    Degenerate frames: a view with fewer than ``min_view_points`` points or
    spanning fewer than ``min_view_blocks`` mask blocks of edge
    ``mask_block_size`` (anchored at the view's minimum, as
    :class:`BlockMasking` does) cannot be block-masked into a non-empty
    strict subset. Such a frame is skipped: a warning is logged, the frame
    counted in ``num_skipped_frames`` and ``None`` returned, so mmengine's
    dataset draws another frame.

    Required Keys:

    - points (:obj:`BasePoints`): the grid-sampled scan; its row index is
      the point id shared by all views.

    Added Keys:

    - views (list[dict]): ``num_views`` dicts, each with ``points``
      (:obj:`BasePoints`, augmented), ``grid_coord`` ((n, 3) int64 (x, y, z)
      voxel index, >= 0, unique rows), ``point_id`` ((n,) int64 sorted row
      index into the grid-sampled scan), ``mask_seed`` (int seed of the
      view's block mask, drawn from the pipeline RNG so a mask depends on
      the sample only, not on batch composition or rank) and the keys
      ``view_transforms`` record (e.g. ``pcd_rotation``,
      ``pcd_scale_factor``, ``pcd_horizontal_flip``).

    Args:
        view_transforms (list[dict]): Per-view augmentation pipeline.
        grid_size (float): PTv3 input voxel in metres (0.05 outdoor, 0.02
            indoor).
        num_views (int): Number of views. Defaults to 2.
        crop_scale (tuple[float, float]): Range of the crop size as a
            fraction of ``min(max_crop_points, N)``. Defaults to (0.4, 1.0).
        max_crop_points (int): Cap on the crop size. Defaults to 65536.
        mask_block_size (float): Edge of the mask blocks in metres (1.0
            outdoor, 0.4 indoor), for the degeneracy check. Defaults to 1.0.
        min_view_blocks (int): Fewest occupied mask blocks per view.
            Defaults to 2.
        min_view_points (int): Fewest points per view. Defaults to 3 (two
            visible points and one masked point).
    """

    def __init__(self,
                 view_transforms: Sequence[dict],
                 grid_size: float,
                 num_views: int = 2,
                 crop_scale: Tuple[float, float] = (0.4, 1.0),
                 max_crop_points: int = 65536,
                 mask_block_size: float = 1.0,
                 min_view_blocks: int = 2,
                 min_view_points: int = 3) -> None:
        if not grid_size > 0:
            raise ValueError(f'DOSMultiViewAug: grid_size must be > 0, got '
                             f'{grid_size}')
        if num_views < 1:
            raise ValueError(f'DOSMultiViewAug: num_views must be >= 1, got '
                             f'{num_views}')
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError('DOSMultiViewAug: crop_scale must satisfy '
                             f'0 < low <= high <= 1, got {crop_scale}')
        if not mask_block_size > 0:
            raise ValueError('DOSMultiViewAug: mask_block_size must be > 0, '
                             f'got {mask_block_size}')
        if min_view_blocks < 2 or min_view_points < 3:
            raise ValueError(
                'DOSMultiViewAug: block masking needs min_view_blocks >= 2 '
                f'and min_view_points >= 3, got {min_view_blocks} and '
                f'{min_view_points}')
        self.view_pipeline = Compose(
            [TRANSFORMS.build(t) for t in view_transforms])
        self.grid_size = grid_size
        self.num_views = num_views
        self.crop_scale = tuple(crop_scale)
        self.max_crop_points = max_crop_points
        self.mask_block_size = mask_block_size
        self.min_view_blocks = min_view_blocks
        self.min_view_points = min_view_points
        self.num_skipped_frames = 0

    @staticmethod
    def nearest_points(coord: np.ndarray, centre: np.ndarray,
                       size: int) -> np.ndarray:
        """The ``size`` points nearest to ``centre`` (a k-NN ball).

        Args:
            coord (np.ndarray): (N, 3) coordinates (x, y, z).
            centre (np.ndarray): (3,) ball centre.
            size (int): Number of points kept, >= 1.

        Returns:
            np.ndarray: (min(size, N),) sorted int64 indices into ``coord``.
        """
        if size >= coord.shape[0]:
            return np.arange(coord.shape[0], dtype=np.int64)
        sq_dist = np.square(coord - centre).sum(axis=1)
        nearest = np.argpartition(sq_dist, size - 1)[:size]
        return np.sort(nearest).astype(np.int64)

    def crop_indices(self, coord: np.ndarray) -> List[np.ndarray]:
        """Draw the k-NN-ball crops of every view.

        Args:
            coord (np.ndarray): (N, 3) un-augmented coordinates (x, y, z).

        Returns:
            list[np.ndarray]: ``num_views`` sorted (n_v,) int64 index arrays
            into ``coord``.
        """
        num_points = coord.shape[0]
        cap = min(self.max_crop_points, num_points)
        crops: List[np.ndarray] = []
        for view in range(self.num_views):
            size = max(1, int(np.random.uniform(*self.crop_scale) * cap))
            pool = crops[0] if view else np.arange(num_points)
            centre = coord[pool[np.random.randint(pool.shape[0])]]
            crops.append(self.nearest_points(coord, centre, size))
        return crops

    def make_view(self, points: BasePoints, point_id: np.ndarray) -> dict:
        """Augment one crop and voxelise it on its own grid.

        Args:
            points (:obj:`BasePoints`): The grid-sampled scan.
            point_id (np.ndarray): (n,) sorted int64 rows of the crop.

        Returns:
            dict: The view (see the class docstring).
        """
        view = self.view_pipeline(
            dict(
                points=points[point_id],
                point_id=point_id,
                mask_seed=int(np.random.randint(2**31 - 1))))
        grid_coord = compute_grid_coord(view['points'].coord.numpy(),
                                        self.grid_size)
        kept = one_point_per_voxel(grid_coord, randomize=True)
        if kept.shape[0] < grid_coord.shape[0]:
            view['points'] = view['points'][kept]
            view['point_id'] = view['point_id'][kept]
        view['grid_coord'] = grid_coord[kept]
        return view

    def _degeneracy(self, coord: np.ndarray) -> Optional[str]:
        """Why a view cannot be block-masked, or None if it can."""
        if coord.shape[0] < self.min_view_points:
            return (f'{coord.shape[0]} points, fewer than min_view_points='
                    f'{self.min_view_points}')
        blocks = compute_grid_coord(coord, self.mask_block_size)
        num_blocks = int(np.unique(voxel_keys(blocks)).shape[0])
        if num_blocks < self.min_view_blocks:
            return (f'{num_blocks} occupied {self.mask_block_size} m mask '
                    f'block(s), fewer than min_view_blocks='
                    f'{self.min_view_blocks}')
        return None

    def transform(self, results: dict) -> Optional[dict]:
        """Create the augmented views of ``results['points']``.

        Args:
            results (dict): Result dict with the grid-sampled ``points``.

        Returns:
            dict | None: The dict with ``views``, or ``None`` (frame skipped
            with a warning) when a view is degenerate.
        """
        points = results['points']
        views = []
        for view_idx, point_id in enumerate(
                self.crop_indices(points.coord.numpy())):
            view = self.make_view(points, point_id)
            problem = self._degeneracy(view['points'].coord.numpy())
            if problem is not None:
                self.num_skipped_frames += 1
                path = results.get('lidar_points',
                                   {}).get('lidar_path', '<unknown file>')
                print_log(
                    f'skipping frame {path} ({self.num_skipped_frames} '
                    f'skipped in this worker so far): view {view_idx} of '
                    f'{len(points)} grid-sampled points has {problem}',
                    logger='current',
                    level=logging.WARNING)
                return None
            views.append(view)
        results['views'] = views
        return results

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{self.__class__.__name__}(grid_size={self.grid_size}, '
                f'num_views={self.num_views}, crop_scale={self.crop_scale}, '
                f'max_crop_points={self.max_crop_points}, '
                f'mask_block_size={self.mask_block_size}, '
                f'view_transforms={self.view_pipeline})')
