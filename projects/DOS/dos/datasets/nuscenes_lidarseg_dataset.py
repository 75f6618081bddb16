# Copyright (c) OpenMMLab. All rights reserved.
"""nuScenes-lidarseg: per-point semantic labels of the nuScenes keyframes."""
from typing import Callable, Dict, List, Optional, Union

import numpy as np
from mmdet3d.datasets import Seg3DDataset
from mmdet3d.registry import DATASETS

__all__ = [
    'NuScenesLidarSegDataset', 'NUSCENES_LIDARSEG_CLASSES',
    'NUSCENES_LIDARSEG_LABEL_MAP'
]

# The 16 classes of the nuScenes-lidarseg benchmark, in benchmark order.
NUSCENES_LIDARSEG_CLASSES = ('barrier', 'bicycle', 'bus', 'car',
                             'construction_vehicle', 'motorcycle',
                             'pedestrian', 'traffic_cone', 'trailer', 'truck',
                             'driveable_surface', 'other_flat', 'sidewalk',
                             'terrain', 'manmade', 'vegetation')

# Raw lidarseg category index (``category.json`` ``index``, the uint8 value
# of ``*_lidarseg.bin``) -> benchmark class index. The 12 categories left
# out (noise 0, animal 1, personal_mobility 5, stroller 7, wheelchair 8,
# debris 10, pushable_pullable 11, bicycle_rack 13, ambulance 19, police
# vehicle 20, static.other 29, vehicle.ego 31) map to the ignore index. This
# is the devkit's ``nuscenes.eval.lidarseg.utils.LidarsegClassMapper``
# fine-to-coarse mapping with its coarse indices shifted down by one, so
# that "ignore" comes last as in mmdet3d's SemanticKITTI convention.
NUSCENES_LIDARSEG_LABEL_MAP: Dict[int, int] = {
    9: 0,  # movable_object.barrier -> barrier
    14: 1,  # vehicle.bicycle -> bicycle
    15: 2,  # vehicle.bus.bendy -> bus
    16: 2,  # vehicle.bus.rigid -> bus
    17: 3,  # vehicle.car -> car
    18: 4,  # vehicle.construction -> construction_vehicle
    21: 5,  # vehicle.motorcycle -> motorcycle
    2: 6,  # human.pedestrian.adult -> pedestrian
    3: 6,  # human.pedestrian.child -> pedestrian
    4: 6,  # human.pedestrian.construction_worker -> pedestrian
    6: 6,  # human.pedestrian.police_officer -> pedestrian
    12: 7,  # movable_object.trafficcone -> traffic_cone
    22: 8,  # vehicle.trailer -> trailer
    23: 9,  # vehicle.truck -> truck
    24: 10,  # flat.driveable_surface -> driveable_surface
    25: 11,  # flat.other -> other_flat
    26: 12,  # flat.sidewalk -> sidewalk
    27: 13,  # flat.terrain -> terrain
    28: 14,  # static.manmade -> manmade
    30: 15,  # static.vegetation -> vegetation
}
NUSCENES_LIDARSEG_MAX_LABEL = 31


@DATASETS.register_module()
class NuScenesLidarSegDataset(Seg3DDataset):
    """nuScenes-lidarseg semantic segmentation (16 classes, ignore = 16).

    mmdet3d has no nuScenes-lidarseg dataset; the nuScenes info files that
    ``tools/create_data.py nuscenes`` writes already hold each keyframe's
    ``pts_semantic_mask_path`` (the basename of its
    ``lidarseg/<version>/<sample_data_token>_lidarseg.bin``) when the
    lidarseg table is installed, so only the class vocabulary and the raw-id
    lookup are new. Labels are mapped in the pipeline by mmdet3d's
    ``PointSegClassMapping``, which reads :attr:`seg_label_mapping`: an
    (``max_label`` + 1,) int64 array from the 32 raw lidarseg ids to 0..15,
    with every unused id mapped to ``ignore_index``.

    The default mapping is :data:`NUSCENES_LIDARSEG_LABEL_MAP`; like
    :class:`mmdet3d.datasets.SemanticKittiDataset`, a config may replace it
    with ``metainfo=dict(seg_label_mapping={raw_id: class_id},
    max_label=...)``.

    Args:
        data_root (str, optional): Dataset root. Defaults to None.
        ann_file (str): Info pkl, relative to ``data_root``. Defaults to ''.
        metainfo (dict, optional): Overrides of the class metainfo
            (``classes`` to train on a subset, ``seg_label_mapping`` and
            ``max_label`` for another raw-id mapping). Defaults to None.
        data_prefix (dict): Folders of the lidar points and the lidarseg
            masks. Defaults to ``dict(pts='samples/LIDAR_TOP', img='',
            pts_semantic_mask='lidarseg/v1.0-trainval')``.
        pipeline (list[dict | Callable]): Processing pipeline.
            Defaults to [].
        modality (dict): Sensors used. Defaults to
            ``dict(use_lidar=True, use_camera=False)``.
        ignore_index (int, optional): Label of ignored points. Defaults to
            None (= number of classes, i.e. 16).
        test_mode (bool): Evaluation mode (masks go to ``eval_ann_info``).
            Defaults to False.
        **kwargs: Further :class:`Seg3DDataset` arguments.
    """
    METAINFO = {
        'classes':
        NUSCENES_LIDARSEG_CLASSES,
        # The devkit's LidarsegClassMapper colours, in class order.
        'palette': [[112, 128, 144], [220, 20, 60], [255, 127, 80],
                    [255, 158, 0], [233, 150, 70], [255, 61, 99], [0, 0, 230],
                    [47, 79, 79], [255, 140, 0], [255, 99, 71], [0, 207, 191],
                    [175, 0, 75], [75, 0, 75], [112, 180, 60], [222, 184, 135],
                    [0, 175, 0]],
        'seg_valid_class_ids':
        tuple(range(len(NUSCENES_LIDARSEG_CLASSES))),
        'seg_all_class_ids':
        tuple(range(len(NUSCENES_LIDARSEG_CLASSES))),
    }

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = '',
                 metainfo: Optional[dict] = None,
                 data_prefix: dict = dict(
                     pts='samples/LIDAR_TOP',
                     img='',
                     pts_semantic_mask='lidarseg/v1.0-trainval'),
                 pipeline: List[Union[dict, Callable]] = [],
                 modality: dict = dict(use_lidar=True, use_camera=False),
                 ignore_index: Optional[int] = None,
                 test_mode: bool = False,
                 **kwargs) -> None:
        # Seg3DDataset needs a metainfo dict with ``classes`` (it indexes the
        # palette by them); default to all 16 classes.
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', self.METAINFO['classes'])
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            metainfo=metainfo,
            data_prefix=data_prefix,
            pipeline=pipeline,
            modality=modality,
            ignore_index=ignore_index,
            test_mode=test_mode,
            **kwargs)

    def get_seg_label_mapping(self, metainfo: dict) -> np.ndarray:
        """Lookup array from raw lidarseg ids to training labels.

        Args:
            metainfo (dict): The dataset metainfo; optional keys
                ``seg_label_mapping`` (dict raw id -> class index, default
                :data:`NUSCENES_LIDARSEG_LABEL_MAP`) and ``max_label``
                (largest raw id, default 31).

        Returns:
            np.ndarray: (max_label + 1,) int64; entry r is the class index of
            raw id r, or ``ignore_index`` for ids without a class.

        Raises:
            ValueError: A mapping entry is outside [0, max_label] or maps to
                neither a class index nor ``ignore_index``.
        """
        label_map = metainfo.get('seg_label_mapping',
                                 NUSCENES_LIDARSEG_LABEL_MAP)
        max_label = int(metainfo.get('max_label', NUSCENES_LIDARSEG_MAX_LABEL))
        num_classes = len(self.METAINFO['classes'])
        mapping = np.full(max_label + 1, self.ignore_index, dtype=np.int64)
        for raw_id, class_id in label_map.items():
            if not 0 <= int(raw_id) <= max_label:
                raise ValueError(
                    f'{type(self).__name__}: seg_label_mapping raw id '
                    f'{raw_id} is outside [0, max_label={max_label}]')
            if not (0 <= int(class_id) < num_classes
                    or int(class_id) == self.ignore_index):
                raise ValueError(
                    f'{type(self).__name__}: seg_label_mapping maps raw id '
                    f'{raw_id} to {class_id}, which is neither a class index '
                    f'in [0, {num_classes}) nor ignore_index='
                    f'{self.ignore_index}')
            mapping[int(raw_id)] = int(class_id)
        return mapping
