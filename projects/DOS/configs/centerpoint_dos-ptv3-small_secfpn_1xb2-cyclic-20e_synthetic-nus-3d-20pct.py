# Copyright (c) OpenMMLab. All rights reserved.
# CPU demo: CenterPoint with the DOS-pretrained PTv3-small encoder of
# dos_pretrain_synthetic.py on 20 % of the synthetic nuScenes-format training
# frames. Identical to the scratch baseline
# centerpoint_ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py
# except the encoder's initialisation:
#
#   python tools/train.py projects/DOS/configs/dos_pretrain_synthetic.py
#   python tools/convert_dos_ckpt.py \
#       --src work_dirs/dos_pretrain_synthetic/iter_200.pth --which student \
#       --dst checkpoints/dos_ptv3-small_synthetic_backbone.pth
#   python tools/train.py projects/DOS/configs/centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py  # noqa: E501
_base_ = [
    './centerpoint_ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py'
]

dos_backbone = 'checkpoints/dos_ptv3-small_synthetic_backbone.pth'
model = dict(
    pts_middle_encoder=dict(
        backbone=dict(
            init_cfg=dict(type='Pretrained', checkpoint=dos_backbone))))
