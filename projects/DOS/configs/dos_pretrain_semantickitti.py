# Copyright (c) OpenMMLab. All rights reserved.
# DOS pretraining of PTv3 on SemanticKITTI scans (outdoor settings as
# dos_pretrain_nus.py: 0.05 m grid, 1 m mask cubes, 70 % masked, 0.2 m
# supervision, K = 1024, alpha = 1.3, batch 16 = 8 per GPU x 2 GPUs,
# 50 epochs of the schedule base).
#
#   bash tools/dist_train.sh \
#       projects/DOS/configs/dos_pretrain_semantickitti.py 2 --amp
#
# Needs data/semantickitti/semantickitti_infos_train.pkl
# (tools/create_data.py semantickitti).
_base_ = [
    '../../../configs/_base_/datasets/semantickitti_dos_pretrain.py',
    '../../../configs/_base_/schedules/dos_pretrain_50e.py',
    './_base_/dos-ptv3_pretrain.py',
]

model = dict(
    data_preprocessor=dict(mask_block_size={{_base_.mask_block_size}}),
    backbone=dict(in_channels=4),  # x, y, z, reflectance
    grid_size={{_base_.grid_size}})
