# Copyright (c) OpenMMLab. All rights reserved.
# CenterPoint with a DOS-pretrained PTv3-base encoder on 20 % of the nuScenes
# training frames (the paper's Table 2 setting; target NDS 62.1 / mAP 57.1),
# evaluated on the full val split. Identical to the scratch baseline
# centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d-20pct.py except the
# encoder's initialisation; the backbone file comes from
# tools/convert_dos_ckpt.py (see centerpoint_dos-ptv3_..._nus-3d.py) and the
# subset from tools/make_label_subset.py (see the scratch 20 % config).
_base_ = ['./centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d-20pct.py']

dos_backbone = 'checkpoints/dos_ptv3_nus_backbone.pth'
model = dict(
    pts_middle_encoder=dict(
        backbone=dict(
            init_cfg=dict(type='Pretrained', checkpoint=dos_backbone))))
