# Copyright (c) OpenMMLab. All rights reserved.
# What the DOS segmentation configs on nuScenes-lidarseg share besides their
# protocol (the linear-probe or fine-tuning model and schedule bases): the
# dataset, the runtime, the project's modules, the DOS weights
# (tools/convert_dos_ckpt.py output of dos_pretrain_nus.py) and keeping the
# checkpoint of the best val mIoU (validation every 5 epochs, seg_50e.py).
_base_ = [
    '../../../../configs/_base_/datasets/nus_lidarseg.py',
    '../../../../configs/_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.DOS.dos'], allow_failed_imports=False)

pretrained = 'work_dirs/dos_pretrain_nus/dos_ptv3_backbone.pth'

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=5,
        max_keep_ckpts=2,
        save_best='miou',
        rule='greater'))
