# Copyright (c) OpenMMLab. All rights reserved.
"""Fixtures of the engine tests: a tiny DOS pretraining config."""
from pathlib import Path

import pytest
from mmengine.config import Config


@pytest.fixture(scope='session')
def tiny_pretrain_config(tmp_path_factory: pytest.TempPathFactory,
                         repo_root: Path,
                         synthetic_nuscenes_infos: str) -> Path:
    """``dos_pretrain_synthetic.py`` made small and exactly reproducible.

    On the tiny synthetic set: 512-point crops, one scene per batch, seed 0
    in deterministic mode, each iteration's own loss logged (window 1) and a
    checkpoint after every iteration (all kept). Returns the dumped file.
    """
    cfg = Config.fromfile(
        str(repo_root / 'projects' / 'DOS' / 'configs' /
            'dos_pretrain_synthetic.py'))
    pipeline = cfg.train_dataloader.dataset.pipeline
    views = [t for t in pipeline if t['type'] == 'DOSMultiViewAug']
    assert len(views) == 1, [t['type'] for t in pipeline]
    views[0]['max_crop_points'] = 512
    cfg.train_dataloader.dataset.data_root = f'{synthetic_nuscenes_infos}/'
    cfg.train_dataloader.batch_size = 1
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.log_processor.window_size = 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    path = tmp_path_factory.mktemp('configs') / 'dos_pretrain_tiny.py'
    cfg.dump(str(path))
    return path
