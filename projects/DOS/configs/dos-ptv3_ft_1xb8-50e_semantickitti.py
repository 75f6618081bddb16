# Copyright (c) OpenMMLab. All rights reserved.
# Fine-tuning DOS-pretrained PTv3 with its decoder on SemanticKITTI, with
# the recipe of dos-ptv3_ft_1xb8-50e_nus-lidarseg.py (pretrained encoder at
# lr x 0.1, decoder and head from scratch).
#
#   python tools/train.py \
#       projects/DOS/configs/dos-ptv3_ft_1xb8-50e_semantickitti.py
_base_ = [
    'mmdet3d::_base_/datasets/semantickitti.py',
    '../../../configs/_base_/models/ptv3_seg_ft.py',
    '../../../configs/_base_/schedules/seg_50e.py',
    'mmdet3d::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.DOS.dos'], allow_failed_imports=False)

pretrained = 'work_dirs/dos_pretrain_semantickitti/dos_ptv3_backbone.pth'

model = dict(
    data_preprocessor=dict(attribute_scale=1.),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=19, ignore_index=19))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone.embedding': dict(lr_mult=0.1),
            'backbone.pooling': dict(lr_mult=0.1),
            'backbone.enc': dict(lr_mult=0.1),
        }))

train_dataloader = dict(batch_size=8)
val_evaluator = dict(type='LongTailSegMetric')
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=5,
        max_keep_ckpts=2,
        save_best='miou',
        rule='greater'))
