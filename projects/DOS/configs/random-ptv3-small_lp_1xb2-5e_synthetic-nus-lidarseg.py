# Copyright (c) OpenMMLab. All rights reserved.
# CPU demo baseline: the linear probe of
# dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py on a RANDOMLY
# initialised, frozen small PTv3 (same architecture, head, schedule, seed).
_base_ = ['./dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py']

model = dict(backbone=dict(init_cfg=None))
