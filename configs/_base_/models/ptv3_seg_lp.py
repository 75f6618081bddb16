# Copyright (c) OpenMMLab. All rights reserved.
# Linear probing (the DOS/Sonata protocol, ptv3_sonata_notes.md §2.8): the
# PTv3 encoder is frozen (requires_grad=False, kept in eval mode, run without
# autograd) and its hypercolumn is unrolled to the 0.05 m input level
# (up_cast_level=0: 32 + 64 + 128 + 256 + 512 = 992 channels per voxel),
# read by a single Linear layer.
_base_ = ['./ptv3_seg.py']

model = dict(
    freeze_backbone=True,
    backbone=dict(up_cast_level=0),
    decode_head=dict(channels=992))
