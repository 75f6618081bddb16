# Copyright (c) OpenMMLab. All rights reserved.
# DOS pretraining on nuScenes for DETECTION fine-tuning: identical to
# dos_pretrain_nus.py except the mask ratio, 0.6 instead of 0.7 (paper,
# "Implementation Details"). Equivalent command-line override:
#   python tools/train.py projects/DOS/configs/dos_pretrain_nus.py \
#       --cfg-options model.data_preprocessor.mask_ratio=0.6
_base_ = ['./dos_pretrain_nus.py']

model = dict(data_preprocessor=dict(mask_ratio=0.6))
