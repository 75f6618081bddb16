# Copyright (c) OpenMMLab. All rights reserved.
"""The pretraining dataset configs on mmdet3d's fixtures, end to end."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURES = osp.join(REPO, '..', 'shared', 'data', 'mmdet3d_fixtures')

CASES = [
    # (dataset base, fixture folder, info file, overrides, feature channels)
    ('nus_dos_pretrain.py', 'nuscenes', 'nus_info.pkl', {}, 4),
    ('semantickitti_dos_pretrain.py', 'semantickitti',
     'semantickitti_infos.pkl',
     dict(data_prefix=dict(pts='sequences/00/velodyne')), 4),
    ('scannet_dos_pretrain.py', 'scannet', 'scannet_infos.pkl', {}, 6),
]


@pytest.mark.skipif(
    not osp.isdir(FIXTURES),
    reason='mmdet3d fixtures absent (../shared/data/mmdet3d_fixtures)')
@pytest.mark.parametrize(
    'base, folder, ann_file, overrides, channels',
    CASES,
    ids=[case[0] for case in CASES])
def test_dataset_to_dos_batch(base, folder, ann_file, overrides, channels):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', base))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(
        data_root=osp.join(FIXTURES, folder), ann_file=ann_file, **overrides)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        dataset = DATASETS.build(dataset_cfg)
    np.random.seed(0)
    samples = [dataset[0], dataset[0]]  # two independent draws of a scene
    preprocessor = MODELS.build(
        dict(
            type='DOSDataPreprocessor',
            mask_ratio=0.7,
            mask_block_size=cfg.mask_block_size))
    batch = preprocessor(pseudo_collate(samples), training=True)['inputs']
    assert batch['feat'].shape == (batch['coord'].shape[0], channels)
    assert batch['offset'].shape == (4, )
    bounds = [0] + batch['offset'].tolist()
    for start, end in zip(bounds[:-1], bounds[1:]):
        grid = batch['grid_coord'][start:end]
        assert int(grid.min()) == 0
        assert torch.unique(grid, dim=0).shape[0] == end - start
        assert 0 < int(batch['visible'][start:end].sum()) < end - start
    # the two draws of one scene are differently augmented views
    assert not torch.equal(samples[0]['inputs']['coord'],
                           samples[1]['inputs']['coord'])
    assert samples[0]['data_samples'].lidar_path.startswith(
        osp.join(FIXTURES, folder))
