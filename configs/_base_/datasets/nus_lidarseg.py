# Copyright (c) OpenMMLab. All rights reserved.
# nuScenes-lidarseg semantic segmentation: 16 classes, unlabeled -> 16.
#
# Data: `tools/create_data.py nuscenes` with the lidarseg tables installed
# under data/nuscenes/v1.0-trainval (the converter then writes each
# keyframe's pts_semantic_mask_path into the info pkls). The 32 raw lidarseg
# ids are mapped to the 16 benchmark classes by NuScenesLidarSegDataset's
# seg_label_mapping, applied by PointSegClassMapping.
#
# Points: the key-frame .pcd.bin (x, y, z, intensity, ring) keeping
# (x, y, z, intensity); no range crop, so evaluation covers every labelled
# point (the model's data preprocessor voxelises at 0.05 m and maps the
# predictions back to all points). Training augmentation as PTv3/Sonata on
# nuScenes (ptv3_train_defaults.py): rotation about z in [-pi, pi], scale
# [0.9, 1.1], x/y flips, jitter sigma 0.005 m clipped to 0.02 m.
_base_ = ['./ptv3_train_defaults.py']

dataset_type = 'NuScenesLidarSegDataset'
data_root = 'data/nuscenes/'
class_names = [
    'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck', 'driveable_surface',
    'other_flat', 'sidewalk', 'terrain', 'manmade', 'vegetation'
]
metainfo = dict(classes=class_names)
ignore_index = 16
data_prefix = dict(
    pts='samples/LIDAR_TOP',
    img='',
    pts_semantic_mask='lidarseg/v1.0-trainval')

load_points = dict(
    type='LoadPointsFromFile',
    coord_type='LIDAR',
    load_dim=5,
    use_dim=4,
    backend_args=_base_.backend_args)
load_labels = dict(
    type='LoadAnnotations3D',
    with_bbox_3d=False,
    with_label_3d=False,
    with_seg_3d=True,
    seg_3d_dtype='np.uint8',
    backend_args=_base_.backend_args)

train_pipeline = [
    load_points, load_labels,
    dict(type='PointSegClassMapping'), *_base_.train_pipeline,
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
]
test_pipeline = [
    load_points, load_labels,
    dict(type='PointSegClassMapping'),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        data_prefix=data_prefix,
        pipeline=train_pipeline,
        metainfo=metainfo,
        ignore_index=ignore_index))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        data_prefix=data_prefix,
        pipeline=test_pipeline,
        metainfo=metainfo,
        modality=_base_.input_modality,
        ignore_index=ignore_index,
        test_mode=True,
        backend_args=_base_.backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(type='LongTailSegMetric')
test_evaluator = val_evaluator
