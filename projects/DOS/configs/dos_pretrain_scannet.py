# Copyright (c) OpenMMLab. All rights reserved.
# Indoor DOS pretraining of PTv3 on ScanNet v2 (paper's indoor settings):
# 0.02 m grid, 0.4 m mask cubes, 70 % masked, supervision at 0.08 m voxels
# (up-cast level 2 of the 0.02 m grid), K = 1024, Zipf alpha = 1.3 (1.6 was
# best for ScanNet200), colour features, cross-view term on (Table 11: it
# matters indoors), batch 16 = 8 per GPU x 2 GPUs, 800 epochs (ScanNet is
# small: 75 iterations per epoch).
#
#   bash tools/dist_train.sh \
#       projects/DOS/configs/dos_pretrain_scannet.py 2 --amp
#
# Needs data/scannet/scannet_infos_train.pkl (tools/create_data.py scannet).
_base_ = [
    '../../../configs/_base_/datasets/scannet_dos_pretrain.py',
    '../../../configs/_base_/schedules/dos_pretrain_800e.py',
    './_base_/dos-ptv3_pretrain.py',
]

model = dict(
    data_preprocessor=dict(mask_block_size={{_base_.mask_block_size}}),
    backbone=dict(in_channels=6),  # x, y, z, r, g, b
    grid_size={{_base_.grid_size}})

default_hooks = dict(checkpoint=dict(interval=20))
