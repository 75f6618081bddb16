# Copyright (c) OpenMMLab. All rights reserved.
# What the DOS segmentation configs on SemanticKITTI share besides their
# protocol (the linear-probe or fine-tuning model and schedule bases):
# mmdet3d's own SemanticKittiDataset, pipeline and runtime (19 classes,
# unlabeled -> 19) with 8 scans per batch and the long-tail mIoU metric, the
# project's modules, the DOS weights (tools/convert_dos_ckpt.py output of
# dos_pretrain_semantickitti.py) and keeping the checkpoint of the best val
# mIoU (validation every 5 epochs, seg_50e.py).
_base_ = [
    'mmdet3d::_base_/datasets/semantickitti.py',
    'mmdet3d::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.DOS.dos'], allow_failed_imports=False)

pretrained = 'work_dirs/dos_pretrain_semantickitti/dos_ptv3_backbone.pth'

train_dataloader = dict(batch_size=8)
val_evaluator = dict(type='LongTailSegMetric')
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=5,
        max_keep_ckpts=2,
        save_best='miou',
        rule='greater'))
