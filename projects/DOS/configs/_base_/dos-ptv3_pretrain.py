# Copyright (c) OpenMMLab. All rights reserved.
# What the DOS pretraining configs share besides their dataset and schedule
# bases: the DOS model on PTv3-base (configs/_base_/models/dos_ptv3_base.py)
# with drop path 0.3, flash attention and the supervision at up-cast level
# 2 (stride 4 of the input grid: 0.2 m voxels for 0.05 m, 0.08 m for
# 0.02 m), the runtime, the project's modules and the hook that checkpoints
# torch's random state (RandomStateCheckpointHook: --resume continues the
# exact trajectory). Each pretraining config sets the backbone's input
# channels and hands its dataset's grid and mask cube to the model.
_base_ = [
    '../../../../configs/_base_/default_runtime.py',
    '../../../../configs/_base_/models/dos_ptv3_base.py',
]
custom_imports = dict(imports=['projects.DOS.dos'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        drop_path=0.3,
        enable_flash=True,  # flash-attn on CUDA when installed, else SDPA
        up_cast_level=2))  # stride 4: the supervision voxel
custom_hooks = _base_.custom_hooks + [
    dict(type='RandomStateCheckpointHook'),
]
