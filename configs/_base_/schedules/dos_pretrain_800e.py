# Copyright (c) OpenMMLab. All rights reserved.
# The DOS pretraining schedule of dos_pretrain_50e.py over 800 epochs, for
# small indoor datasets (ScanNet: 1,201 training scenes, 75 iterations per
# epoch at batch 16, so 800 epochs = 60k iterations, PTv3's ScanNet length).
_base_ = ['./dos_pretrain_50e.py']

max_epochs = 800
base_lr = 0.004 * 16 / 96  # as in dos_pretrain_50e.py
warmup_epochs = 40  # 5 %

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 1e-4,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingParamScheduler',
        param_name='weight_decay',
        eta_min=0.2,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
