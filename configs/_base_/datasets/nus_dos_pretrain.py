# Copyright (c) OpenMMLab. All rights reserved.
# nuScenes LiDAR frames for DOS self-supervised pretraining (no labels).
#
# Pipeline (decisions of ptv3_sonata_notes.md §3 and §4.6):
#   1. load the key-frame .pcd.bin (x, y, z, intensity, ring) keeping x, y, z,
#      intensity; corrupt/empty frames are skipped with a warning, NaN/inf
#      points dropped, points outside the CenterPoint range dropped;
#   2. the view generation of dos_pretrain_views.py: grid sampling at
#      0.05 m, two crops each augmented (rotation, scale, flips, jitter and
#      here intensity gain/noise) with 1 m mask blocks;
#   3. pack: feat = (x, y, z, intensity / 255) -> 4 channels.
# NuScenesDataset runs with filter_empty_gt=False and without
# LoadAnnotations3D, so frames without boxes are kept.
_base_ = ['./dos_pretrain_views.py']

dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
data_prefix = dict(pts='samples/LIDAR_TOP', img='', sweeps='sweeps/LIDAR_TOP')

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]

view_transforms = [
    *_base_.view_transforms,
    dict(type='RandomIntensityJitter', intensity_dim=3, max_value=255.),
]
train_pipeline = [
    dict(
        type='LoadPointsFromFileChecked',
        coord_type='LIDAR',
        load_dim=5,
        use_dim=4,
        point_cloud_range=point_cloud_range,
        skip_bad_frames=True,
        backend_args=_base_.backend_args),
    _base_.train_pipeline[0],  # GridSample
    dict(_base_.train_pipeline[1], view_transforms=view_transforms),
    dict(type='PackDOSInputs', attribute_scale=1 / 255.)
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        data_prefix=data_prefix,
        filter_empty_gt=False,
        box_type_3d='LiDAR'))
