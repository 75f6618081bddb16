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
    '../../../configs/_base_/datasets/nus_lidarseg.py',
    '../../../configs/_base_/models/ptv3_seg_ft.py',
    '../../../configs/_base_/schedules/seg_50e.py',
    '../../../configs/_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.DOS.dos'], allow_failed_imports=False)

pretrained = 'work_dirs/dos_pretrain_nus/dos_ptv3_backbone.pth'

model = dict(
    data_preprocessor=dict(attribute_scale=1 / 255.),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=16, ignore_index={{_base_.ignore_index}}))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone.embedding': dict(lr_mult=0.1),
            'backbone.pooling': dict(lr_mult=0.1),
            'backbone.enc': dict(lr_mult=0.1),
        }))

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=5,
        max_keep_ckpts=2,
        save_best='miou',
        rule='greater'))
