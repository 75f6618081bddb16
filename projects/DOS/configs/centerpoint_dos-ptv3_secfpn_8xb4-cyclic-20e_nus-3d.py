# Copyright (c) OpenMMLab. All rights reserved.
# CenterPoint with a DOS-pretrained PTv3-base encoder on nuScenes, 100 % of
# the training labels. Identical to the scratch baseline
# centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py except the encoder's
# initialisation:
#
#   python tools/train.py projects/DOS/configs/dos_pretrain_nus_det.py
#   python tools/convert_dos_ckpt.py \
#       --src work_dirs/dos_pretrain_nus_det/epoch_50.pth --which student \
#       --dst checkpoints/dos_ptv3_nus_backbone.pth
#   bash tools/dist_train.sh projects/DOS/configs/centerpoint_dos-ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py 8  # noqa: E501
#
# (another backbone file: --cfg-options
# model.pts_middle_encoder.backbone.init_cfg.checkpoint=PATH). The encoder
# refuses a checkpoint pretrained on another grid than its 0.05 m voxels and
# fails unless every PTv3 tensor was loaded from it.
_base_ = ['./centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py']

dos_backbone = 'checkpoints/dos_ptv3_nus_backbone.pth'
model = dict(
    pts_middle_encoder=dict(
        backbone=dict(
            init_cfg=dict(type='Pretrained', checkpoint=dos_backbone))))
