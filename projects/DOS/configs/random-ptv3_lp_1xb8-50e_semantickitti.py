# Copyright (c) OpenMMLab. All rights reserved.
# Linear probe of a randomly initialised, frozen PTv3 on SemanticKITTI: the
# baseline of dos-ptv3_lp_1xb8-50e_semantickitti.py.
_base_ = ['./dos-ptv3_lp_1xb8-50e_semantickitti.py']

model = dict(backbone=dict(init_cfg=None))
