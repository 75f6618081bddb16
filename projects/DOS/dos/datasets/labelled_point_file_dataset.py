# Copyright (c) OpenMMLab. All rights reserved.
"""A user's per-point labelled scans, given as files (no info pkl)."""
import os.path as osp
from typing import List

from mmdet3d.registry import DATASETS

from .point_cloud_folder_dataset import PointCloudFolderDataset


@DATASETS.register_module()
class LabelledPointFileDataset(PointCloudFolderDataset):
    """Point files of a folder (glob or list file), each with a label file.

    The scans are listed as by :class:`PointCloudFolderDataset`; each one's
    label file is found with ``label_template``, a format string of the
    point file's folder ``{dir}``, its name up to the first dot ``{name}``
    and the dataset's ``{root}``. The default pairs the SemanticKITTI
    layout, ``sequences/00/velodyne/000104.bin`` with
    ``sequences/00/labels/000104.label``; ``'{dir}/{name}.labels.npy'``
    pairs ``scan.npy`` with ``scan.labels.npy`` in one folder. Each sample
    gains ``pts_semantic_mask_path``, read by
    :class:`LoadPointLabelsFromFile`; ``metainfo['classes']`` names the
    class indices.

    Args:
        data_root (str): Folder of the scans.
        label_template (str): Label path of a point file (see above).
            Defaults to ``'{dir}/../labels/{name}.label'``.
        **kwargs: :class:`PointCloudFolderDataset` arguments (``pattern``,
            ``file_list``, ``pipeline``, ``metainfo``, ...).

    Raises:
        FileNotFoundError: A point file has no label file.
        KeyError: ``label_template`` names another field.
    """

    def __init__(self,
                 data_root: str,
                 label_template: str = '{dir}/../labels/{name}.label',
                 **kwargs) -> None:
        self.label_template = label_template
        super().__init__(data_root=data_root, **kwargs)

    def label_path(self, points_path: str) -> str:
        """The label file of ``points_path`` (``label_template`` filled)."""
        fields = dict(
            dir=osp.dirname(points_path),
            name=osp.basename(points_path).split('.')[0],
            root=self.data_root)
        try:
            return osp.normpath(self.label_template.format(**fields))
        except KeyError as error:
            raise KeyError(
                f'LabelledPointFileDataset: label_template '
                f'{self.label_template!r} uses {error}; the fields are '
                '{dir}, {name} and {root}') from None

    def load_data_list(self) -> List[dict]:
        """The folder's samples, each with ``pts_semantic_mask_path``."""
        data_list = super().load_data_list()
        for info in data_list:
            points_path = info['lidar_points']['lidar_path']
            label_path = self.label_path(points_path)
            if not osp.isfile(label_path):
                raise FileNotFoundError(
                    f'LabelledPointFileDataset: no label file {label_path!r} '
                    f'for {points_path!r} (label_template '
                    f'{self.label_template!r})')
            info['pts_semantic_mask_path'] = label_path
        return data_list
