# Copyright (c) OpenMMLab. All rights reserved.
# What every PTv3 dataset config here shares for training: LiDAR-only input
# through the default file backend, a loader of 8 shuffled scenes per GPU
# with 4 workers, and the geometric augmentation of PTv3/Sonata (rotation
# about z in [-pi, pi], scale [0.9, 1.1], x/y flips, jitter sigma 0.005 m
# clipped to 0.02 m). The augmentation is this file's `train_pipeline`; the
# dataset configs put it between their loading and packing steps
# (`*_base_.train_pipeline`), or apply it to each DOS view.
input_modality = dict(use_lidar=True, use_camera=False)
backend_args = None

train_pipeline = [
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
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(modality=input_modality, backend_args=backend_args))
