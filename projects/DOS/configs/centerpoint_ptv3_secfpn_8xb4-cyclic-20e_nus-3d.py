# Copyright (c) OpenMMLab. All rights reserved.
# CenterPoint with a randomly initialised PTv3-base encoder on nuScenes, 100 %
# of the training labels: the "scratch" baseline of the DOS detection
# transfer, and the base of the DOS-initialised and 20 % configs.
#
#   bash tools/dist_train.sh projects/DOS/configs/centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py 8  # noqa: E501
#
# mmdet3d's CenterPoint config (its data pipeline with the key frame + 9
# sweeps, copy-paste ObjectSample, CBGS, the cyclic 20-epoch schedule,
# NuScenesMetric; the stock CenterPoint detector, SECOND, SECONDFPN and
# CenterHead) with PTv3BEVEncoder in place of SparseEncoder.
#
# Grid decision. DOS pretrains PTv3 on a 0.05 m ISOTROPIC input grid (the
# GridSample size of dos_pretrain_nus*.py); its xCPE, attention patches and
# serialization depth are in voxel units, so the detector voxelises at the
# same 0.05 m in x, y AND z (not CenterPoint's 0.2 m in z): 2048 x 2048 x 160
# voxels over [-51.2, 51.2] x [-51.2, 51.2] x [-5, 3] m. The PTv3 output
# (up-cast level 2: stride 4 = 0.2 m, the DOS supervision voxel; 128 + 256 +
# 512 = 896 channels) is max-pooled into 0.8 m BEV cells, out_size_factor
# 16: the 128 x 128 heatmap of stock voxel01 CenterPoint, so SECOND /
# SECONDFPN / CenterHead run at their usual resolution. PTv3BEVEncoder
# refuses a DOS checkpoint pretrained on another grid.
#
# Input features: the points keep mmdet3d's 5 dims (x, y, z, intensity,
# sweep time lag), but HardSimpleVFE(num_features=4) averages only the
# first 4 and PTv3BEVEncoder scales intensity by 1 / 255: exactly the
# (x, y, z, intensity / 255) features of DOS pretraining, so the pretrained
# stem applies unchanged (the scratch baseline gets the same input).
_base_ = [
    'mmdet3d::centerpoint/centerpoint_voxel01_second_secfpn_8xb4-cyclic-20e_nus-3d.py',  # noqa: E501
    '../../../configs/_base_/models/ptv3_base.py'
]
custom_imports = dict(imports=['projects.DOS.dos'], allow_failed_imports=False)

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]  # as the base's
voxel_size = [0.05, 0.05, 0.05]  # = DOS pretraining grid (x, y, z), m
grid_size = [2048, 2048, 160]  # (x, y, z) voxels
out_size_factor = 16  # BEV cell = 16 voxels = 0.8 m -> 128 x 128 map
ptv3_out_channels = 128 + 256 + 512  # up-cast concat of stages 2..4

model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(voxel_size=voxel_size, max_voxels=(160000, 200000))),
    pts_voxel_encoder=dict(type='HardSimpleVFE', num_features=4),
    pts_middle_encoder=dict(
        _delete_=True,
        type='PTv3BEVEncoder',
        backbone=dict(
            **_base_.backbone,
            in_channels=4,
            drop_path=0.3,
            enable_flash=True,
            up_cast_level=2),
        point_cloud_range=point_cloud_range,
        voxel_size=voxel_size,
        grid_size=grid_size,
        out_size_factor=out_size_factor,
        feat_scale=(1., 1., 1., 1 / 255.),
        reduce='amax'),
    pts_backbone=dict(in_channels=ptv3_out_channels),
    pts_bbox_head=dict(
        bbox_coder=dict(
            out_size_factor=out_size_factor, voxel_size=voxel_size[:2])),
    train_cfg=dict(
        pts=dict(
            grid_size=grid_size,
            voxel_size=voxel_size,
            out_size_factor=out_size_factor)),
    test_cfg=dict(
        pts=dict(out_size_factor=out_size_factor, voxel_size=voxel_size[:2])))

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='NuScenes metric/pred_instances_3d_NuScenes/NDS',
        rule='greater'))
