# Copyright (c) OpenMMLab. All rights reserved.
"""Size presets of the PTv3 backbone.

``PTV3_BASE`` is the nuScenes-sized base model (Pointcept's outdoor PTv3
sizes, 38.7 M encoder parameters); ``PTV3_SMALL`` trains in seconds on a
CPU (tests, debugging). They are keyword arguments of :class:`PTv3`
(``PTv3(**PTV3_SMALL)``); the config bases ``configs/_base_/models/ptv3_*.py``
hold the same values with ``type='PTv3'``.
"""
PTV3_BASE = dict(
    enc_depths=(2, 2, 2, 6, 2),
    enc_channels=(32, 64, 128, 256, 512),
    enc_num_head=(2, 4, 8, 16, 32),
    enc_patch_size=1024)

PTV3_SMALL = dict(
    enc_depths=(1, 1, 1, 1, 1),
    enc_channels=(16, 32, 64, 128, 256),
    enc_num_head=(1, 2, 4, 8, 16),
    enc_patch_size=128)

PTV3_PRESETS = dict(base=PTV3_BASE, small=PTV3_SMALL)
