# Copyright (c) OpenMMLab. All rights reserved.
# The view generation every DOS pretraining dataset config shares (no labels;
# decisions of ptv3_sonata_notes.md §3 and §4.6). Its `train_pipeline` is the
# middle of the dataset configs' pipelines, between their loading and
# packing steps:
#   1. grid-sample ONCE at `grid_size` (one random point per voxel): the row
#      index of the result is the point id shared by both views;
#   2. two Sonata k-NN-ball crops, scale (0.4, 1.0) of the cloud, the second
#      centred inside the first, each augmented independently by
#      `view_transforms` (the geometric augmentation of
#      ptv3_train_defaults.py; the dataset configs append their attribute
#      jitter), then given its grid_coord at `grid_size` on the full
#      augmented view (one point kept where the augmentation put two in one
#      voxel: about 9 % of a real nuScenes view).
# The dataset configs that change `grid_size`, `mask_block_size` or
# `view_transforms` set them on these two steps again.
_base_ = ['./ptv3_train_defaults.py']

grid_size = 0.05  # PTv3 input voxel (m)
mask_block_size = 1.0  # DOS outdoor mask cube (m); shared with the model

view_transforms = _base_.train_pipeline
train_pipeline = [
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    dict(
        type='DOSMultiViewAug',
        view_transforms=view_transforms,
        grid_size=grid_size,
        num_views=2,
        crop_scale=(0.4, 1.0),
        max_crop_points=65536,
        mask_block_size=mask_block_size),
]

train_dataloader = dict(dataset=dict(test_mode=False))
val_dataloader = None
test_dataloader = None
val_evaluator = None
test_evaluator = None
