# Copyright (c) OpenMMLab. All rights reserved.
# nuScenes LiDAR frames for DOS self-supervised pretraining (no labels).
#
# Pipeline (decisions of ptv3_sonata_notes.md §3 and §4.6):
#   1. load the key-frame .pcd.bin (x, y, z, intensity, ring) keeping x, y, z,
#      intensity; corrupt/empty frames are skipped with a warning, NaN/inf
#      points dropped, points outside the CenterPoint range dropped;
#   2. grid-sample ONCE at 0.05 m (one random point per voxel): the row index
#      of the result is the point id shared by both views;
#   3. two Sonata k-NN-ball crops, scale (0.4, 1.0) of the cloud, the second
#      centred inside the first, each augmented independently (rotation about
#      z in [-pi, pi], scale [0.9, 1.1], x/y flips, jitter sigma 0.005 clipped
#      to 0.02 m, intensity gain/noise), then given its grid_coord at 0.05 m
#      on the full augmented view (one point kept where the augmentation put
#      two in one voxel: about 9 % of a real nuScenes view);
#   4. pack: feat = (x, y, z, intensity / 255) -> 4 channels.
# NuScenesDataset runs with filter_empty_gt=False and without
# LoadAnnotations3D, so frames without boxes are kept.
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
input_modality = dict(use_lidar=True, use_camera=False)
data_prefix = dict(pts='samples/LIDAR_TOP', img='', sweeps='sweeps/LIDAR_TOP')
backend_args = None

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
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
    dict(type='PackDOSInputs', attribute_scale=1 / 255.)
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        modality=input_modality,
        data_prefix=data_prefix,
        test_mode=False,
        filter_empty_gt=False,
        box_type_3d='LiDAR',
        backend_args=backend_args))
val_dataloader = None
test_dataloader = None
val_evaluator = None
test_evaluator = None
