# Copyright (c) OpenMMLab. All rights reserved.
# Downstream segmentation schedule (Pointcept's outdoor PTv3 / Concerto
# linear-probe recipe, ptv3_sonata_notes.md §2.8): 50 epochs, AdamW lr 0.002,
# weight decay 0.005; OneCycle (pct_start 0.04, div 10, final_div 100) as a
# linear warm-up from lr / 10 over 2 epochs, then a cosine to lr / 1000.
# Validation every 5 epochs.
max_epochs = 50
base_lr = 0.002
warmup_epochs = 2

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.005))

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
        eta_min=base_lr * 1e-3,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# `tools/train.py --auto-scale-lr` rescales lr linearly from this batch.
auto_scale_lr = dict(enable=False, base_batch_size=8)
