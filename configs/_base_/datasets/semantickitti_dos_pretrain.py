# Copyright (c) OpenMMLab. All rights reserved.
# SemanticKITTI LiDAR scans for DOS self-supervised pretraining (no labels).
#
# Same view pipeline as nus_dos_pretrain.py with SemanticKITTI's format and
# range: scans are (x, y, z, reflectance in [0, 1]) float32 records, the
# range is PTv3's SemanticKITTI clip (x, y within +-35.2 m, z in [-4, 2] m),
# the 0.05 m grid, 1 m mask blocks; feat = (x, y, z, reflectance) ->
# 4 channels. Only the scan paths of the info pkl are used: no labels are
# read, so the label lookup that SemanticKittiDataset's constructor builds
# from seg_label_mapping/max_label is given an empty mapping (the class names
# are still required by its palette set-up).
_base_ = ['./dos_pretrain_views.py']

dataset_type = 'SemanticKittiDataset'
data_root = 'data/semantickitti/'
class_names = [
    'car', 'bicycle', 'motorcycle', 'truck', 'bus', 'person', 'bicyclist',
    'motorcyclist', 'road', 'parking', 'sidewalk', 'other-ground', 'building',
    'fence', 'vegetation', 'trunck', 'terrian', 'pole', 'traffic-sign'
]
metainfo = dict(classes=class_names, seg_label_mapping=dict(), max_label=259)

point_cloud_range = [-35.2, -35.2, -4.0, 35.2, 35.2, 2.0]

view_transforms = [
    *_base_.view_transforms,
    dict(type='RandomIntensityJitter', intensity_dim=3, max_value=1.),
]
train_pipeline = [
    dict(
        type='LoadPointsFromFileChecked',
        coord_type='LIDAR',
        load_dim=4,
        use_dim=4,
        point_cloud_range=point_cloud_range,
        skip_bad_frames=True,
        backend_args=_base_.backend_args),
    _base_.train_pipeline[0],  # GridSample
    dict(_base_.train_pipeline[1], view_transforms=view_transforms),
    dict(type='PackDOSInputs', attribute_scale=1.)
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='semantickitti_infos_train.pkl',
        pipeline=train_pipeline,
        metainfo=metainfo))
