# Copyright (c) OpenMMLab. All rights reserved.
# CPU demo: CenterPoint with a randomly initialised PTv3-small encoder on 20 %
# of the synthetic nuScenes-format training frames (the scratch baseline of
# centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py).
#
#   python tools/make_synthetic_nuscenes.py --out data/synthetic_nuscenes
#   python tools/create_data.py nuscenes --root-path data/synthetic_nuscenes \
#       --out-dir data/synthetic_nuscenes --extra-tag nuscenes \
#       --version v1.0-mini
#   python tools/make_label_subset.py \
#       data/synthetic_nuscenes/nuscenes_infos_train.pkl --ratio 0.2 \
#       --mode interval --seed 0
#   python tools/train.py projects/DOS/configs/centerpoint_ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py  # noqa: E501
#
# Same grid (0.05 m voxels, 0.8 m BEV cells), data pipeline, copy-paste
# database of the subset, head and schedule as the nuScenes 20 % config. For
# CPU speed: the small PTv3 preset of dos_pretrain_synthetic.py, narrower
# SECOND / SECONDFPN, 2 frames per batch, no CBGS resampling, data loaders in
# the main process, and a +-25.6 m x +-25.6 m x [-3.2, 3.2] m voxel range
# (a 64 x 64 BEV map; mmcv's CPU hard voxelization allocates the dense
# voxel grid, 2.7 GB and 8 s per frame at +-51.2 m). Objects beyond 25.6 m
# are not detected, for the DOS and the scratch model alike; generate the
# demo data with objects within that radius.
_base_ = ['./centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d-20pct.py']

data_root = 'data/synthetic_nuscenes/'
label_subset = 'nuscenes_20pct'

_base_.train_dataloader.dataset.dataset.pipeline[3].db_sampler.data_root = (
    data_root)
_base_.train_dataloader.dataset.dataset.pipeline[3].db_sampler.info_path = (
    data_root + label_subset + '_dbinfos_train.pkl')
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_base_.train_dataloader.dataset.dataset, data_root=data_root))
# the synthetic release is a v1.0-mini one: NuScenesMetric evaluates on
# mini_val (the dataset class defaults to v1.0-trainval)
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=dict(version='v1.0-mini')))
test_dataloader = val_dataloader
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator

voxel_range = [-25.6, -25.6, -3.2, 25.6, 25.6, 3.2]
voxel_grid = [1024, 1024, 128]  # voxel_range / 0.05 m, (x, y, z)
ptv3_small_channels = (16, 32, 64, 128, 256)  # presets.PTV3_SMALL
model = dict(
    data_preprocessor=dict(voxel_layer=dict(point_cloud_range=voxel_range)),
    pts_middle_encoder=dict(
        backbone=dict(
            _delete_=True,
            type='PTv3',
            in_channels=4,
            enc_depths=(1, 1, 1, 1, 1),
            enc_channels=ptv3_small_channels,
            enc_num_head=(1, 2, 4, 8, 16),
            enc_patch_size=128,
            drop_path=0.0,
            enable_flash=False,
            up_cast_level=2),
        point_cloud_range=voxel_range,
        grid_size=voxel_grid),
    pts_backbone=dict(
        in_channels=sum(ptv3_small_channels[2:]),
        out_channels=[64, 128],
        layer_nums=[3, 3]),
    pts_neck=dict(in_channels=[64, 128], out_channels=[128, 128]),
    pts_bbox_head=dict(
        in_channels=256, bbox_coder=dict(pc_range=voxel_range[:2])),
    train_cfg=dict(
        pts=dict(grid_size=voxel_grid, point_cloud_range=voxel_range)),
    test_cfg=dict(pts=dict(pc_range=voxel_range[:2])))

default_hooks = dict(logger=dict(interval=5))
log_processor = dict(window_size=5)
