# Copyright (c) OpenMMLab. All rights reserved.
# Fine-tuning DOS-pretrained PTv3 with its U-Net decoder on nuScenes-lidarseg.
#
#   python tools/train.py \
#       projects/DOS/configs/dos-ptv3_ft_1xb8-50e_nus-lidarseg.py
#
# The encoder starts from the DOS weights (tools/convert_dos_ckpt.py output),
# the decoder and the Linear(64, 16) head from scratch; everything trains,
# the pretrained encoder at lr x 0.1 (Sonata's fine-tuning recipe). CE +
# Lovasz, 50 epochs AdamW lr 0.002 as the linear probe.
_base_ = [
    './_base_/dos-ptv3_seg_nus-lidarseg.py',
    '../../../configs/_base_/models/ptv3_seg_ft.py',
    '../../../configs/_base_/schedules/seg_50e_ft.py',
]

model = dict(
    data_preprocessor=dict(attribute_scale=1 / 255.),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}})),
    decode_head=dict(num_classes=16, ignore_index={{_base_.ignore_index}}))
