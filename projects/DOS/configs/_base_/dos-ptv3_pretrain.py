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

# Collapse and its fix (issue #13; figures: tools/analyze_collapse.py on the
# synthetic set, README "Why DOS collapsed"): the softmap KL is exactly 0
# when every point has the same embedding (flat softmaps), and with one
# global tau_T the target's sharpness is the features' cosine spread divided
# by tau_T, so shrinking the spread lowers the loss; with the student's
# imperfect view of the teacher (same-view score correlation 0.6, cross-view
# 0.04 at initialisation) its loss-optimal spread is 0.75x / 0.25x the
# teacher's, and the EMA teacher follows it down. teacher_spread gives each
# prototype its own temperature per view, std_i(cos_ik) / 2, so the target
# keeps a logit spread of 2 (column entropy about 0.8 log N) however
# collapsed the features are, and shrinking no longer pays. The paper leaves
# tau_T open; set model.teacher_spread=None for the single Sonata tau_T.
model = dict(
    teacher_spread=2.0,
    backbone=dict(
        drop_path=0.3,
        enable_flash=True,  # flash-attn on CUDA when installed, else SDPA
        up_cast_level=2))  # stride 4: the supervision voxel
custom_hooks = _base_.custom_hooks + [
    dict(type='RandomStateCheckpointHook'),
]
