# Copyright (c) OpenMMLab. All rights reserved.
# Fine-tuning: the PTv3 encoder plus its U-Net decoder (Pointcept's outdoor
# sizes), whose level-0 output (64 channels per 0.05 m voxel) is read by a
# Linear layer; nothing is frozen.
_base_ = ['./ptv3_seg.py']

model = dict(
    freeze_backbone=False,
    backbone=dict(
        decoder=True,
        dec_depths=(2, 2, 2, 2),
        dec_channels=(64, 64, 128, 256),
        dec_num_head=(4, 4, 8, 16),
        dec_patch_size=1024),
    decode_head=dict(channels=64))
