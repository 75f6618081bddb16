# Copyright (c) OpenMMLab. All rights reserved.
# PTv3-base LiDAR semantic segmentor, shared by the linear-probe
# (ptv3_seg_lp.py) and fine-tuning (ptv3_seg_ft.py) models. Clouds are
# voxelised at 0.05 m by the data preprocessor (one point per voxel, on CPU
# or GPU), PTv3 (in_channels 4: x, y, z and one point attribute) encodes the
# voxels, a Linear layer classifies them, trained with cross-entropy +
# Lovasz-softmax, and every original point is predicted through its voxel.
# Project configs set the classes, ignore index, attribute scaling and the
# pretrained weights (backbone.init_cfg).
_base_ = ['./ptv3_base.py']

model = dict(
    type='PTv3Segmentor',
    data_preprocessor=dict(type='PTv3SegDataPreprocessor', voxel_size=0.05),
    backbone={{_base_.backbone}},
    decode_head=dict(
        type='PTv3SegHead',
        dropout_ratio=0.,
        loss_lovasz=dict(type='LovaszLoss', loss_weight=1.0,
                         reduction='none')))
