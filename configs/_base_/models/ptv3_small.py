# Copyright (c) OpenMMLab. All rights reserved.
# PTv3 small (trains in seconds on a CPU); same values as
# projects.DOS.dos.models.backbones.ptv3.presets.PTV3_SMALL.
backbone = dict(
    type='PTv3',
    enc_depths=(1, 1, 1, 1, 1),
    enc_channels=(16, 32, 64, 128, 256),
    enc_num_head=(1, 2, 4, 8, 16),
    enc_patch_size=128)
