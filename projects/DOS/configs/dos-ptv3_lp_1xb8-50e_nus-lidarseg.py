# Copyright (c) OpenMMLab. All rights reserved.
# Linear probing of DOS-pretrained PTv3 on nuScenes-lidarseg (mIoU), the
# paper's headline downstream protocol (DOS Tables 1 and 5: 74.1 mIoU).
#
#   python tools/train.py \
#       projects/DOS/configs/dos-ptv3_lp_1xb8-50e_nus-lidarseg.py
#
# Backbone weights: the output of tools/convert_dos_ckpt.py (the student
# backbone of a DOS pretraining checkpoint on the same 0.05 m grid), e.g.
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/x/backbone.pth
# Frozen encoder, 992-channel hypercolumn per 0.05 m voxel, Linear(992, 16),
# CE + Lovasz, 50 epochs AdamW lr 0.002 (the Concerto outdoor LP recipe).
_base_ = [
    './_base_/dos-ptv3_seg_nus-lidarseg.py',
    '../../../configs/_base_/models/ptv3_seg_lp.py',
    '../../../configs/_base_/schedules/seg_50e.py',
]

model = dict(
    # feat = (x, y, z, intensity / 255), as in DOS pretraining.
    data_preprocessor=dict(attribute_scale=1 / 255.),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}})),
    decode_head=dict(num_classes=16, ignore_index={{_base_.ignore_index}}))
