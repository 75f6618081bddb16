# Copyright (c) OpenMMLab. All rights reserved.
# ScanNet v2 scenes for indoor DOS self-supervised pretraining (no labels).
#
# Indoor settings (DOS paper; Sonata's indoor recipe with its 2 global views
# only, ptv3_sonata_notes.md §2.1 and §3): 0.02 m grid, 0.4 m mask blocks,
# k-NN-ball crops of scale (0.4, 1.0); per view rotation about z in
# [-pi, pi], scale [0.9, 1.1], flips, jitter sigma 0.005 clipped to 0.02 m
# and colour jitter (brightness/contrast/saturation, chromatic translation);
# feat = (x, y, z, rgb / 127.5 - 1) -> 6 channels (mmdet3d's ScanNet points
# carry no normals). Scenes come through mmdet3d's ScanNetDataset with
# filter_empty_gt=False, sampled uniformly (ScanNetSegDataset insists on the
# point-count-weighted scene_idxs of supervised segmentation).
_base_ = ['./dos_pretrain_views.py']

dataset_type = 'ScanNetDataset'
data_root = 'data/scannet/'
data_prefix = dict(
    pts='points',
    pts_instance_mask='instance_mask',
    pts_semantic_mask='semantic_mask')

grid_size = 0.02  # PTv3 input voxel (m)
mask_block_size = 0.4  # DOS indoor mask cube (m); shared with the model

view_transforms = [*_base_.view_transforms, dict(type='RandomColorJitter')]
train_pipeline = [
    dict(
        type='LoadPointsFromFileChecked',
        coord_type='DEPTH',
        shift_height=False,
        use_color=True,
        load_dim=6,
        use_dim=[0, 1, 2, 3, 4, 5],
        skip_bad_frames=True,
        backend_args=_base_.backend_args),
    dict(_base_.train_pipeline[0], grid_size=grid_size),  # GridSample
    dict(
        _base_.train_pipeline[1],  # DOSMultiViewAug
        view_transforms=view_transforms,
        grid_size=grid_size,
        mask_block_size=mask_block_size),
    dict(type='PackDOSInputs', attribute_scale=1 / 127.5, attribute_shift=-1.)
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='scannet_infos_train.pkl',
        pipeline=train_pipeline,
        data_prefix=data_prefix,
        filter_empty_gt=False,
        box_type_3d='Depth'))
