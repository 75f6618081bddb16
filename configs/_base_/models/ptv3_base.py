# Copyright (c) OpenMMLab. All rights reserved.
# PTv3 base (nuScenes-sized, 38.7 M parameters); same values as
# projects.DOS.dos.models.backbones.ptv3.presets.PTV3_BASE.
backbone = dict(
    type='PTv3',
    enc_depths=(2, 2, 2, 6, 2),
    enc_channels=(32, 64, 128, 256, 512),
    enc_num_head=(2, 4, 8, 16, 32),
    enc_patch_size=1024)
