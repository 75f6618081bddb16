# Copyright (c) OpenMMLab. All rights reserved.
# DOS pretraining of the small PTv3 preset on a folder of raw, unlabelled
# scans, on a CPU: the model, crops (8192 points), optimiser and 300-iteration
# schedule of dos_pretrain_synthetic.py, the data of
# configs/_base_/datasets/folder_dos_pretrain.py (KITTI-style .bin by
# default; nuScenes .pcd.bin, xyz-only and list files are described there):
#
#   python tools/train.py \
#       projects/DOS/configs/dos_pretrain_folder_small_cpu.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/scans
#
# Add train_cfg.max_iters=N (and the schedulers' `end`) for longer runs.
_base_ = ['./dos_pretrain_synthetic.py']

data_root = 'data/scans/'
train_pipeline = [
    dict(_base_.train_pipeline[0], load_dim=4),  # x, y, z, intensity [0, 1]
    _base_.train_pipeline[1],  # GridSample
    # geometric view augmentation only (no intensity-range assumption)
    dict(
        _base_.train_pipeline[2], view_transforms=_base_.view_transforms[:-1]),
    dict(type='PackDOSInputs', attribute_scale=1.),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PointCloudFolderDataset',
        data_root=data_root,
        pattern='**/*.bin',
        pipeline=train_pipeline))
