# Copyright (c) OpenMMLab. All rights reserved.
# A folder of raw, unlabelled LiDAR scans for DOS pretraining: no info pkl,
# no labels (PointCloudFolderDataset lists the files itself).
#
# Defaults: KITTI-style `.bin` scans, float32 (x, y, z, intensity in [0, 1]),
# under `data_root`, matched by `**/*.bin`. Other layouts, from the command
# line (the indices are those of `train_pipeline` below):
#   nuScenes .pcd.bin (x, y, z, intensity 0-255, ring):
#     train_dataloader.dataset.pattern='**/*.pcd.bin'
#     train_dataloader.dataset.pipeline.0.load_dim=5
#     train_dataloader.dataset.pipeline.3.attribute_scale=0.00392156862745098
#   xyz only (no intensity channel; the backbone then takes 3 channels):
#     train_dataloader.dataset.pipeline.0.use_dim=3
#     model.backbone.in_channels=3
#   a list file instead of a glob (one path per line, relative to data_root):
#     train_dataloader.dataset.file_list=train.txt
# The same checked loading as for nuScenes: a corrupt, truncated or empty
# file is skipped with a counted warning naming it. The view augmentation is
# geometric only (no intensity jitter), so the intensity scale matters only
# where PackDOSInputs turns it into a feature.
_base_ = ['./dos_pretrain_views.py']

data_root = 'data/scans/'
point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]

train_pipeline = [
    dict(
        type='LoadPointsFromFileChecked',
        coord_type='LIDAR',
        load_dim=4,
        use_dim=4,
        point_cloud_range=point_cloud_range,
        skip_bad_frames=True,
        backend_args=_base_.backend_args),
    _base_.train_pipeline[0],  # GridSample
    _base_.train_pipeline[1],  # DOSMultiViewAug
    dict(type='PackDOSInputs', attribute_scale=1.)
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PointCloudFolderDataset',
        data_root=data_root,
        pattern='**/*.bin',
        pipeline=train_pipeline,
        test_mode=False))
