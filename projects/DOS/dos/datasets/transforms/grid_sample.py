# Copyright (c) OpenMMLab. All rights reserved.
"""Voxel-grid subsampling of a point cloud (one point per occupied voxel)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS


def compute_grid_coord(coord: np.ndarray, grid_size: float) -> np.ndarray:
    """Integer voxel coordinates of points on a grid anchored at their minimum.

    Args:
        coord (np.ndarray): (N, 3) float metric coordinates in (x, y, z)
            order, metres.
        grid_size (float): Voxel edge length in metres.

    Returns:
        np.ndarray: (N, 3) int64 voxel coordinates in (x, y, z) order, all
        >= 0; the voxel of the per-axis minimum coordinate is (0, 0, 0).
    """
    if coord.shape[0] == 0:
        return np.zeros((0, 3), dtype=np.int64)
    origin = coord.min(axis=0)
    return np.floor((coord - origin) / grid_size).astype(np.int64)


def voxel_keys(grid_coord: np.ndarray) -> np.ndarray:
    """Flatten (x, y, z) voxel coordinates into unique int64 keys.

    Args:
        grid_coord (np.ndarray): (N, 3) int64 voxel coordinates (x, y, z),
            all >= 0.

    Returns:
        np.ndarray: (N,) int64 keys, equal iff the voxel coordinates are
        equal (row-major over the occupied extent of the grid).
    """
    extent = grid_coord.max(axis=0) + 1
    return (grid_coord[:, 0] * extent[1] + grid_coord[:, 1]) * extent[2] + \
        grid_coord[:, 2]


def one_point_per_voxel(grid_coord: np.ndarray, randomize: bool) -> np.ndarray:
    """Pick one point of every occupied voxel.

    Args:
        grid_coord (np.ndarray): (N, 3) int64 voxel coordinates (x, y, z),
            all >= 0.
        randomize (bool): Pick a uniformly random point of each voxel
            (numpy's global RNG); otherwise the first in row order.

    Returns:
        np.ndarray: (M,) int64 sorted row indices, one per occupied voxel.
    """
    if grid_coord.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    keys = voxel_keys(grid_coord)
    if randomize:
        order = np.random.permutation(keys.shape[0])
        _, first = np.unique(keys[order], return_index=True)
        kept = order[first]
    else:
        _, kept = np.unique(keys, return_index=True)
    return np.sort(kept).astype(np.int64)


@TRANSFORMS.register_module()
class GridSample(BaseTransform):
    """Keep one point per occupied voxel of a regular grid.

    DOS voxelises each scan exactly ONCE, before the views are cropped; the
    surviving points define the scene's point ids (their row index), which
    both views share. mmdet3d has no voxel subsampling transform that keeps
    the raw points (its voxelisation lives in the data preprocessor and
    averages or caps points per voxel), hence this one.

    In ``'train'`` mode the kept point of each voxel is drawn uniformly at
    random (numpy's global RNG, seeded per worker by mmengine); in ``'test'``
    mode the first point of each voxel in file order is kept. The kept points
    stay in file order.

    Required Keys:

    - points (:obj:`BasePoints`)

    Modified Keys:

    - points (:obj:`BasePoints`): one point per occupied voxel.

    Args:
        grid_size (float): Voxel edge length in metres, e.g. 0.05 outdoor,
            0.02 indoor.
        mode (str): ``'train'`` (random point per voxel) or ``'test'`` (first
            point per voxel). Defaults to ``'train'``.
    """

    def __init__(self, grid_size: float, mode: str = 'train') -> None:
        if not grid_size > 0:
            raise ValueError(f'GridSample: grid_size must be > 0, got '
                             f'{grid_size}')
        if mode not in ('train', 'test'):
            raise ValueError(f"GridSample: mode must be 'train' or 'test', "
                             f'got {mode!r}')
        self.grid_size = grid_size
        self.mode = mode

    def sample_indices(self, coord: np.ndarray) -> np.ndarray:
        """Indices of the points kept by the grid sampling.

        Args:
            coord (np.ndarray): (N, 3) float coordinates (x, y, z), metres.

        Returns:
            np.ndarray: (M,) int64 sorted indices into ``coord``, one per
            occupied voxel.
        """
        return one_point_per_voxel(
            compute_grid_coord(coord, self.grid_size),
            randomize=self.mode == 'train')

    def transform(self, results: dict) -> dict:
        """Subsample ``results['points']`` to one point per voxel.

        Args:
            results (dict): Result dict with ``points``.

        Returns:
            dict: The same dict with the subsampled ``points``.
        """
        points = results['points']
        kept = self.sample_indices(points.coord.numpy())
        results['points'] = points[kept]
        return results

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{self.__class__.__name__}(grid_size={self.grid_size}, '
                f"mode='{self.mode}')")
