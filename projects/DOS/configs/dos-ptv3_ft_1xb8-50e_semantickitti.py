# Copyright (c) OpenMMLab. All rights reserved.
# Fine-tuning DOS-pretrained PTv3 with its decoder on SemanticKITTI, with
# the recipe of dos-ptv3_ft_1xb8-50e_nus-lidarseg.py (pretrained encoder at
# lr x 0.1, decoder and head from scratch).
#
#   python tools/train.py \
#       projects/DOS/configs/dos-ptv3_ft_1xb8-50e_semantickitti.py
_base_ = [
    './_base_/dos-ptv3_seg_semantickitti.py',
    '../../../configs/_base_/models/ptv3_seg_ft.py',
    '../../../configs/_base_/schedules/seg_50e_ft.py',
]

model = dict(
    data_preprocessor=dict(attribute_scale=1.),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}})),
    decode_head=dict(num_classes=19, ignore_index=19))
