# Copyright (c) OpenMMLab. All rights reserved.
# DOS pretraining schedule: 50 epochs, batch 16 (8 per GPU x 2 GPUs).
#
# The paper gives only "2 x A100, batch 16"; the rest follows Sonata
# (ptv3_sonata_notes.md §2.7, §4.6 item 12), scaled linearly to batch 16:
# - AdamW, lr = 0.004 (Sonata, batch 96) x 16 / 96 = 6.7e-4, betas
#   (0.9, 0.999); layer-wise lr decay is not used (Sonata's 0.9 is optional).
# - lr: Sonata's OneCycle (pct_start 0.05, div_factor 10, final_div_factor
#   1000) as LinearLR from lr / 10 over the first 5 % of iterations, then a
#   cosine to lr / 1e4 at the end.
# - weight decay: cosine 0.04 -> 0.2 over the run, in every param group
#   (no norm/bias exclusion, as Sonata).
# - gradient clipping at max_norm 3.0.
# - bf16 mixed precision on GPU: `tools/train.py ... --amp` switches the
#   wrapper to AmpOptimWrapper(dtype='bfloat16'); the plain OptimWrapper
#   default keeps CPU runs working.
max_epochs = 50
base_lr = 0.004 * 16 / 96
warmup_epochs = 2.5  # 5 % of the run

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.04),
    clip_grad=dict(max_norm=3.0, norm_type=2))

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
val_cfg = None
test_cfg = None

# `tools/train.py --auto-scale-lr` rescales lr linearly from this batch.
auto_scale_lr = dict(enable=False, base_batch_size=16)
