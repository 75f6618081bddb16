# Copyright (c) OpenMMLab. All rights reserved.
"""Point-cloud loading that survives corrupt frames in long pretraining."""
import io
import logging
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmdet3d.datasets.transforms import LoadPointsFromFile
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures.points import BasePoints
from mmengine.fileio import get
from mmengine.logging import print_log


class BadPointCloudError(ValueError):
    """A point-cloud frame that cannot be used (its message names the file)."""


def load_npy_bytes(data: bytes, path: str) -> np.ndarray:
    """The array of a ``.npy`` file's bytes (no pickles).

    Raises:
        BadPointCloudError: The bytes are not a readable ``.npy`` array
            (the message names ``path``).
    """
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:
        raise BadPointCloudError(
            f'{path}: not a readable .npy array ({error})') from None


@TRANSFORMS.register_module()
class LoadPointsFromFileChecked(LoadPointsFromFile):
    """:class:`LoadPointsFromFile` that validates the frame it loads.

    mmdet3d's loader reshapes whatever bytes it reads, so a truncated file
    fails with a bare numpy reshape error, NaN coordinates flow into the
    model, and an empty sweep crashes a later transform. This subclass checks
    the frame and, for a bad one, either raises :class:`BadPointCloudError`
    (``FileNotFoundError`` for a missing file) naming the file and the
    problem, or (``skip_bad_frames=True``) logs a warning and returns
    ``None``, upon which mmengine's ``BaseDataset.__getitem__`` draws another
    frame in train mode. A single corrupt frame among thousands then costs
    one warning, never the run or a NaN loss.

    Checks, in order:

    1. the file exists and its size is a positive multiple of the record size
       ``4 * load_dim`` bytes (float32 records), or, for a ``.npy`` file,
       it holds a non-empty 2-D array of ``load_dim`` columns;
    2. rows with a non-finite value in a used column are dropped, with a
       warning and a running counter (``num_nonfinite_points``);
    3. rows outside ``point_cloud_range`` are dropped (a normal crop, not
       an error; mmdet3d's ``BasePoints.in_range_3d`` semantics);
    4. at least ``min_points`` rows remain.

    A bad frame is counted in ``num_skipped_frames`` (per dataloader worker).

    Per-point labels loaded *before* the points (``pts_semantic_mask``, e.g.
    by :class:`LoadPointLabelsFromFile`) must have one entry per record and
    are filtered with the rows, so checks 2 and 3 keep them aligned.

    Required Keys:

    - lidar_points (dict): with ``lidar_path`` (str).
    - pts_semantic_mask (np.ndarray, optional): (R,) per-record labels.

    Added Keys:

    - points (:obj:`BasePoints`)

    Modified Keys:

    - pts_semantic_mask (np.ndarray): the kept rows' labels.

    Args:
        coord_type (str): 'LIDAR', 'DEPTH' or 'CAMERA' (see
            :class:`LoadPointsFromFile`).
        load_dim (int): float32 values per record in the file.
            Defaults to 6.
        use_dim (int | list[int]): Columns kept. Defaults to [0, 1, 2].
        shift_height (bool): See :class:`LoadPointsFromFile`.
            Defaults to False.
        use_color (bool): See :class:`LoadPointsFromFile`. Defaults to False.
        norm_intensity (bool): See :class:`LoadPointsFromFile`.
            Defaults to False.
        point_cloud_range (Sequence[float], optional): (x_min, y_min, z_min,
            x_max, y_max, z_max) in metres; points outside are dropped.
            Defaults to None (no range filter).
        min_points (int): Fewest points a usable frame has after filtering.
            Defaults to 1.
        skip_bad_frames (bool): Return ``None`` with a warning for a bad
            frame instead of raising. Defaults to True.
        backend_args (dict, optional): File backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 coord_type: str,
                 load_dim: int = 6,
                 use_dim: Union[int, List[int]] = [0, 1, 2],
                 shift_height: bool = False,
                 use_color: bool = False,
                 norm_intensity: bool = False,
                 point_cloud_range: Optional[Sequence[float]] = None,
                 min_points: int = 1,
                 skip_bad_frames: bool = True,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(
            coord_type=coord_type,
            load_dim=load_dim,
            use_dim=use_dim,
            shift_height=shift_height,
            use_color=use_color,
            norm_intensity=norm_intensity,
            backend_args=backend_args)
        if point_cloud_range is not None and len(point_cloud_range) != 6:
            raise ValueError(
                'LoadPointsFromFileChecked: point_cloud_range must be '
                '(x_min, y_min, z_min, x_max, y_max, z_max), got '
                f'{point_cloud_range}')
        if min_points < 1:
            raise ValueError('LoadPointsFromFileChecked: min_points must be '
                             f'>= 1, got {min_points}')
        self.point_cloud_range = (None if point_cloud_range is None else
                                  [float(v) for v in point_cloud_range])
        self.min_points = min_points
        self.skip_bad_frames = skip_bad_frames
        self.num_skipped_frames = 0
        self.num_nonfinite_points = 0

    def _load_points(self, pts_filename: str) -> np.ndarray:
        """Read the raw float32 values of a point file, checking its size.

        Args:
            pts_filename (str): Path of the point file.

        Returns:
            np.ndarray: (R * load_dim,) float32 values.

        Raises:
            FileNotFoundError: The file does not exist.
            BadPointCloudError: The file is empty, its size is not a
                multiple of the record size, or (``.npy``) it does not hold
                an (R, load_dim) array.
        """
        if self.backend_args is None and not osp.isfile(pts_filename):
            raise FileNotFoundError(
                f'point cloud file not found: {pts_filename}')
        pts_bytes = get(pts_filename, backend_args=self.backend_args)
        if pts_filename.endswith('.npy'):
            return self._load_npy(pts_bytes, pts_filename)
        if len(pts_bytes) == 0:
            raise BadPointCloudError(f'{pts_filename}: the file is empty')
        record = 4 * self.load_dim
        if len(pts_bytes) % record != 0:
            raise BadPointCloudError(
                f'{pts_filename}: size {len(pts_bytes)} bytes is not a '
                f'multiple of the record size {record} bytes '
                f'(load_dim={self.load_dim} float32 values); the file is '
                'truncated or load_dim is wrong')
        return np.frombuffer(pts_bytes, dtype=np.float32)

    def _load_npy(self, pts_bytes: bytes, pts_filename: str) -> np.ndarray:
        """The float32 values of an (R, load_dim) ``.npy`` array."""
        array = load_npy_bytes(pts_bytes, pts_filename)
        if array.ndim != 2 or array.shape[0] == 0 or (array.shape[1]
                                                      != self.load_dim):
            raise BadPointCloudError(
                f'{pts_filename}: .npy array of shape {array.shape}, '
                f'expected (points > 0, load_dim={self.load_dim})')
        return np.ascontiguousarray(array, dtype=np.float32).reshape(-1)

    def transform(self, results: dict) -> Optional[dict]:
        """Load, validate and filter the frame's points.

        Args:
            results (dict): Result dict with ``lidar_points.lidar_path``.

        Returns:
            dict | None: The dict with ``points``, or ``None`` for a bad
            frame when ``skip_bad_frames`` is True.

        Raises:
            FileNotFoundError: Missing file and ``skip_bad_frames`` is False.
            BadPointCloudError: Any other bad frame and ``skip_bad_frames``
                is False.
        """
        path = results['lidar_points']['lidar_path']
        try:
            results = super().transform(results)
            labels = results.get('pts_semantic_mask')
            if labels is not None and len(labels) != len(results['points']):
                raise BadPointCloudError(
                    f'{path}: {len(results["points"])} points but '
                    f'{len(labels)} labels in '
                    f'{results.get("pts_semantic_mask_path", "the mask")}')
            keep = self._valid_rows(results['points'], path)
            results['points'] = results['points'][keep]
            if labels is not None:
                results['pts_semantic_mask'] = labels[keep.numpy()]
        except (FileNotFoundError, BadPointCloudError) as error:
            if not self.skip_bad_frames:
                raise
            self.num_skipped_frames += 1
            print_log(
                f'skipping bad frame ({self.num_skipped_frames} skipped in '
                f'this worker so far): {error}',
                logger='current',
                level=logging.WARNING)
            return None
        return results

    def _valid_rows(self, points: BasePoints, path: str) -> torch.Tensor:
        """The finite, in-range rows; checks enough remain.

        Args:
            points (:obj:`BasePoints`): Loaded points.
            path (str): The frame's file, for messages.

        Returns:
            Tensor: (R,) bool, the rows to keep.

        Raises:
            BadPointCloudError: Fewer than ``min_points`` rows remain.
        """
        finite = points.tensor.isfinite().all(dim=1)
        num_bad = int((~finite).sum())
        if num_bad:
            self.num_nonfinite_points += num_bad
            print_log(
                f'{path}: dropped {num_bad} of {len(points)} points with '
                f'NaN/inf values ({self.num_nonfinite_points} in this worker '
                'so far)',
                logger='current',
                level=logging.WARNING)
        keep = finite
        if self.point_cloud_range is not None:
            # NaN rows compare False, so they stay dropped
            keep = keep & points.in_range_3d(self.point_cloud_range)
        num_kept = int(keep.sum())
        if num_kept < self.min_points:
            range_note = ('' if self.point_cloud_range is None else
                          f' inside point_cloud_range '
                          f'{self.point_cloud_range}')
            raise BadPointCloudError(
                f'{path}: {num_kept} valid points{range_note}, fewer '
                f'than min_points={self.min_points}')
        return keep

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{super().__repr__()[:-1]}, '
                f'point_cloud_range={self.point_cloud_range}, '
                f'min_points={self.min_points}, '
                f'skip_bad_frames={self.skip_bad_frames})')
