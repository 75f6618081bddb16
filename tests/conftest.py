# Copyright (c) OpenMMLab. All rights reserved.
"""Fixtures shared by the whole test suite.

Besides paths, a tiny synthetic nuScenes v1.0-mini release (and its info pkls
made by mmdet3d's converters) is generated once per session.
"""
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from projects.DOS.dos.datasets.synthetic_nuscenes import (
    LidarConfig, SyntheticNuScenesConfig, generate_synthetic_nuscenes)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """The repository root (holding ``projects/`` and ``tools/``)."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """``../shared/data`` next to the repository: small real frames.

    Skips the requesting test with a reason when the folder is absent (a
    user's clone has no ``../shared``).
    """
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'real sample frames not found at {SHARED_DATA} '
                    '(only present on the project machines)')
    return SHARED_DATA


@pytest.fixture(scope='session')
def synthetic_nuscenes_config() -> SyntheticNuScenesConfig:
    """Settings of the tiny release: two scenes (scene-0061 in mini_train,
    scene-0103 in mini_val), 3 samples with 2 sweeps before each keyframe,
    objects close to the ego so all 10 classes are in evaluation range,
    half the azimuth resolution for speed."""
    return SyntheticNuScenesConfig(
        seed=0,
        num_scenes=2,
        samples_per_scene=3,
        sweeps_per_sample=2,
        objects_per_scene=80,
        placement_radius=40.0,
        lidar=LidarConfig(azimuth_steps=542))


@pytest.fixture(scope='session')
def synthetic_nuscenes_root(
        tmp_path_factory: pytest.TempPathFactory,
        synthetic_nuscenes_config: SyntheticNuScenesConfig) -> str:
    """Root of a tiny synthetic nuScenes v1.0-mini release."""
    root = str(tmp_path_factory.mktemp('synthetic_nuscenes'))
    generate_synthetic_nuscenes(root, synthetic_nuscenes_config)
    return root


@pytest.fixture(scope='session')
def synthetic_nuscenes_infos(synthetic_nuscenes_root: str) -> str:
    """The tiny release converted by ``tools/create_data.py nuscenes``
    (mmdet3d's converters); returns the dataset root holding the pkls."""
    root = synthetic_nuscenes_root
    result = subprocess.run([
        sys.executable,
        str(REPO_ROOT / 'tools' / 'create_data.py'), 'nuscenes', '--root-path',
        root, '--out-dir', root, '--extra-tag', 'nuscenes', '--version',
        'v1.0-mini', '--max-sweeps', '2'
    ],
                            cwd=root,
                            capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError('tools/create_data.py failed on the synthetic '
                           f'set:\n{result.stdout[-2000:]}\n'
                           f'{result.stderr[-4000:]}')
    return root


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
