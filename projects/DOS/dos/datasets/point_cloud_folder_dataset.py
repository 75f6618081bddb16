# Copyright (c) OpenMMLab. All rights reserved.
"""Unlabelled scans from a folder, for self-supervised pretraining."""
import glob
import os.path as osp
from typing import List, Optional

from mmdet3d.registry import DATASETS
from mmengine.dataset import BaseDataset


@DATASETS.register_module()
class PointCloudFolderDataset(BaseDataset):
    """Every point-cloud file of a folder (or of a list file), no labels.

    Self-supervised pretraining needs scans, not info files: each sample is
    one file, given to the pipeline as ``lidar_points.lidar_path`` (the key
    mmdet3d's loaders read), so the same checked loading runs as for
    nuScenes (:class:`LoadPointsFromFileChecked`: a corrupt, truncated or
    empty file is skipped with a counted warning naming it). The record
    layout is the loader's business (``load_dim`` / ``use_dim``): KITTI
    ``.bin`` = float32 (x, y, z, intensity in [0, 1]); nuScenes
    ``.pcd.bin`` = float32 (x, y, z, intensity in [0, 255], ring).

    Why not mmdet3d's ``Det3DDataset``: it requires an info pkl with
    annotations and metainfo; mmengine's :class:`BaseDataset` is used with
    :meth:`load_data_list` listing the files instead (serialisation,
    ``max_refetch`` retries after a skipped file and ``indices`` all work
    as for any mmengine dataset).

    Files come either from ``pattern`` (a glob relative to ``data_root``,
    recursive ``**`` allowed) or from ``file_list`` (a text file, one path
    per line, relative to ``data_root`` unless absolute; blank lines and
    lines starting with ``#`` are ignored). Paths are sorted (glob) or kept
    in list order, so the sample order is deterministic.

    Args:
        data_root (str): Folder of the scans.
        pattern (str): Glob of the scan files under ``data_root``.
            Defaults to ``'**/*.bin'`` (KITTI ``velodyne/*.bin`` and nuScenes
            ``samples/LIDAR_TOP/*.pcd.bin`` alike).
        file_list (str, optional): List file (relative to ``data_root``
            unless absolute) used instead of ``pattern``. Defaults to None.
        pipeline (list[dict]): Data pipeline.
        **kwargs: Other :class:`BaseDataset` arguments (``indices``,
            ``test_mode``, ``max_refetch``, ...).

    Raises:
        FileNotFoundError: ``data_root``, ``file_list`` or a listed file does
            not exist.
        ValueError: No file matches ``pattern`` or the list is empty.
    """

    def __init__(self,
                 data_root: str,
                 pattern: str = '**/*.bin',
                 file_list: Optional[str] = None,
                 pipeline: List[dict] = [],
                 **kwargs) -> None:
        if not osp.isdir(data_root):
            raise FileNotFoundError(
                f'PointCloudFolderDataset: data_root {data_root!r} is not a '
                'folder')
        self.pattern = pattern
        self.file_list = file_list
        super().__init__(
            ann_file='', data_root=data_root, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One sample per file: ``lidar_points.lidar_path`` and
        ``sample_idx``."""
        if self.file_list is None:
            paths = sorted(
                glob.glob(
                    osp.join(self.data_root, self.pattern), recursive=True))
            if not paths:
                raise ValueError(
                    f'PointCloudFolderDataset: no file in {self.data_root!r} '
                    f'matches pattern {self.pattern!r}')
        else:
            paths = self._read_file_list()
        return [
            dict(lidar_points=dict(lidar_path=path), sample_idx=index)
            for index, path in enumerate(paths)
        ]

    def _read_file_list(self) -> List[str]:
        """The listed paths, each checked to exist."""
        list_path = self.file_list if osp.isabs(self.file_list) else osp.join(
            self.data_root, self.file_list)
        if not osp.isfile(list_path):
            raise FileNotFoundError(
                f'PointCloudFolderDataset: file_list {list_path!r} does not '
                'exist')
        paths = []
        with open(list_path) as f:
            for number, line in enumerate(f, 1):
                entry = line.strip()
                if not entry or entry.startswith('#'):
                    continue
                path = entry if osp.isabs(entry) else osp.join(
                    self.data_root, entry)
                if not osp.isfile(path):
                    raise FileNotFoundError(
                        f'PointCloudFolderDataset: {list_path} line {number}: '
                        f'{path!r} does not exist')
                paths.append(path)
        if not paths:
            raise ValueError(
                f'PointCloudFolderDataset: file_list {list_path!r} names no '
                'file')
        return paths
