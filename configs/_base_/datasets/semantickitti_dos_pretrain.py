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
dataset_type = 'SemanticKittiDataset'
data_root = 'data/semantickitti/'
class_names = [
    'car', 'bicycle', 'motorcycle', 'truck', 'bus', 'person', 'bicyclist',
    'motorcyclist', 'road', 'parking', 'sidewalk', 'other-ground', 'building',
    'fence', 'vegetation', 'trunck', 'terrian', 'pole', 'traffic-sign'
]
metainfo = dict(classes=class_names, seg_label_mapping=dict(), max_label=259)
input_modality = dict(use_lidar=True, use_camera=False)
backend_args = None

point_cloud_range = [-35.2, -35.2, -4.0, 35.2, 35.2, 2.0]
grid_size = 0.05  # PTv3 input voxel (m)
mask_block_size = 1.0  # DOS outdoor mask cube (m); shared with the model

view_transforms = [
    dict(
        type='GlobalRotScaleTrans',
        rot_range=[-3.14159265, 3.14159265],
        scale_ratio_range=[0.9, 1.1],
        translation_std=[0, 0, 0]),
    dict(
        type='RandomFlip3D',
        sync_2d=False,
        flip_ratio_bev_horizontal=0.5,
        flip_ratio_bev_vertical=0.5),
    dict(
        type='RandomJitterPoints',
        jitter_std=[0.005, 0.005, 0.005],
        clip_range=[-0.02, 0.02]),
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
        backend_args=backend_args),
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    dict(
        type='DOSMultiViewAug',
        view_transforms=view_transforms,
        grid_size=grid_size,
        num_views=2,
        crop_scale=(0.4, 1.0),
        max_crop_points=65536,
        mask_block_size=mask_block_size),
    dict(type='PackDOSInputs', attribute_scale=1.)
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='semantickitti_infos_train.pkl',
        pipeline=train_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        test_mode=False,
        backend_args=backend_args))
val_dataloader = None
test_dataloader = None
val_evaluator = None
test_evaluator = None
