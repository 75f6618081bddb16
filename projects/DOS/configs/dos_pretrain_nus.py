# Copyright (c) OpenMMLab. All rights reserved.
# DOS pretraining of PTv3 on nuScenes LiDAR (the paper's outdoor setting).
#
#   python tools/train.py projects/DOS/configs/dos_pretrain_nus.py [--amp]
#   bash tools/dist_train.sh projects/DOS/configs/dos_pretrain_nus.py 2 --amp
#
# Needs data/nuscenes/nuscenes_infos_train.pkl (tools/create_data.py
# nuscenes). Paper settings (arXiv 2512.11465, "Implementation Details"):
# PTv3 with LayerNorm, K = 1024 prototypes, Zipf alpha = 1.3, 70 % of 1 m
# cubes masked per view (segmentation; 0.6 for detection, see
# dos_pretrain_nus_det.py), supervision at 0.2 m voxels (up-cast level 2 of
# the 0.05 m grid), 2 x A100 with batch 16 -> 8 scenes per GPU here.
# Decisions the paper leaves open (ptv3_sonata_notes.md §4.6): Sonata's
# temperatures (tau_T 0.04 -> 0.07 over 5 %, tau_S 0.1), EMA momentum 0.994 ->
# 1 cosine, 3 Sinkhorn iterations, no mask warm-up, masks drawn per scene and
# view, cross-view term on (L = L1 + L2, Table 11 finds it neutral on
# nuScenes; set model.cross_view=False to drop it). The optimiser and its
# 50-epoch schedule are documented in the schedule base.
_base_ = [
    '../../../configs/_base_/datasets/nus_dos_pretrain.py',
    '../../../configs/_base_/schedules/dos_pretrain_50e.py',
    './_base_/dos-ptv3_pretrain.py',
]

mask_ratio = 0.7  # segmentation pretraining; detection uses 0.6

model = dict(
    data_preprocessor=dict(
        mask_ratio=mask_ratio, mask_block_size={{_base_.mask_block_size}}),
    backbone=dict(in_channels=4),  # x, y, z, intensity / 255
    grid_size={{_base_.grid_size}})
