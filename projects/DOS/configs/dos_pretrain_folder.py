# Copyright (c) OpenMMLab. All rights reserved.
# DOS pretraining of PTv3-base on a folder of raw, unlabelled scans, on GPUs
# (paper settings as dos_pretrain_nus.py: 0.05 m grid, 1 m mask cubes, 70 %
# masked, 0.2 m supervision, K = 1024, alpha = 1.3, 50 epochs, batch 16):
#
#   bash tools/dist_train.sh projects/DOS/configs/dos_pretrain_folder.py 2 \
#       --amp --cfg-options train_dataloader.dataset.data_root=/path/to/scans
#
# Scan layouts (KITTI .bin by default, nuScenes .pcd.bin, xyz only) and list
# files: configs/_base_/datasets/folder_dos_pretrain.py.
_base_ = [
    '../../../configs/_base_/datasets/folder_dos_pretrain.py',
    '../../../configs/_base_/schedules/dos_pretrain_50e.py',
    './_base_/dos-ptv3_pretrain.py',
]

model = dict(
    data_preprocessor=dict(
        mask_ratio=0.7, mask_block_size={{_base_.mask_block_size}}),
    backbone=dict(in_channels=4),  # x, y, z, intensity
    grid_size={{_base_.grid_size}})
