# Copyright (c) OpenMMLab. All rights reserved.
# The DOS pretraining schedule of dos_pretrain_50e.py over 800 epochs, for
# small indoor datasets (ScanNet: 1,201 training scenes, 75 iterations per
# epoch at batch 16, so 800 epochs = 60k iterations, PTv3's ScanNet length).
_base_ = ['./dos_pretrain_50e.py']

max_epochs = 800
warmup_epochs = 40  # 5 %

# The schedulers of dos_pretrain_50e.py over the new length: linear lr
# warm-up, lr cosine to lr / 1e4, weight-decay cosine 0.04 -> 0.2.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(_base_.param_scheduler[1], begin=warmup_epochs, end=max_epochs),
    dict(_base_.param_scheduler[2], end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
