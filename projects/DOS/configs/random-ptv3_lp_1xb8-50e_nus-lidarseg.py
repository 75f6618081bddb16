# Copyright (c) OpenMMLab. All rights reserved.
# Linear probe of a RANDOMLY initialised, frozen PTv3 on nuScenes-lidarseg:
# the lower bound dos-ptv3_lp_1xb8-50e_nus-lidarseg.py is compared with (same
# architecture, head, schedule and seed; only the backbone weights differ).
_base_ = ['./dos-ptv3_lp_1xb8-50e_nus-lidarseg.py']

model = dict(backbone=dict(init_cfg=None))
