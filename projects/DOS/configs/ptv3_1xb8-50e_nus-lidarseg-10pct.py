# Copyright (c) OpenMMLab. All rights reserved.
# Label efficiency: the from-scratch baseline ptv3_1xb8-50e_nus-lidarseg.py
# on the same 10 % of the training scenes as
# dos-ptv3_ft_1xb8-50e_nus-lidarseg-10pct.py.
_base_ = ['./ptv3_1xb8-50e_nus-lidarseg.py']

train_dataloader = dict(
    dataset=dict(ann_file='nuscenes_10pct_infos_train.pkl'))
