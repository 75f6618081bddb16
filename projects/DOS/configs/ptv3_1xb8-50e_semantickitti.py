# Copyright (c) OpenMMLab. All rights reserved.
# PTv3 (encoder + decoder) trained from scratch on SemanticKITTI: the
# baseline of dos-ptv3_ft_1xb8-50e_semantickitti.py.
_base_ = ['./dos-ptv3_ft_1xb8-50e_semantickitti.py']

model = dict(backbone=dict(init_cfg=None))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
