# Copyright (c) OpenMMLab. All rights reserved.
# Linear probing of DOS-pretrained PTv3 on SemanticKITTI (19 classes,
# unlabeled -> 19) with mmdet3d's own SemanticKittiDataset, pipeline and
# SegMetric (DOS Table 1: 67.5 mIoU).
#
#   python tools/train.py \
#       projects/DOS/configs/dos-ptv3_lp_1xb8-50e_semantickitti.py
#
# Same protocol as dos-ptv3_lp_1xb8-50e_nus-lidarseg.py. Point features are
# (x, y, z, reflectance), reflectance already in [0, 1], as in
# dos_pretrain_semantickitti.py; the weights are tools/convert_dos_ckpt.py's
# output for a SemanticKITTI pretraining checkpoint.
_base_ = [
    './_base_/dos-ptv3_seg_semantickitti.py',
    '../../../configs/_base_/models/ptv3_seg_lp.py',
    '../../../configs/_base_/schedules/seg_50e.py',
]

model = dict(
    data_preprocessor=dict(attribute_scale=1.),
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}})),
    decode_head=dict(num_classes=19, ignore_index=19))
