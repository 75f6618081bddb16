# Copyright (c) OpenMMLab. All rights reserved.
# PTv3 (encoder + decoder) trained from scratch on nuScenes-lidarseg: the
# baseline of dos-ptv3_ft_1xb8-50e_nus-lidarseg.py (same architecture and
# schedule; random initialisation, one lr for all parameters).
_base_ = ['./dos-ptv3_ft_1xb8-50e_nus-lidarseg.py']

model = dict(backbone=dict(init_cfg=None))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
