# Copyright (c) OpenMMLab. All rights reserved.
"""Tests of the DOS pictures and tools/visualize_dos.py (Agg, no display)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.visualization import Visualizer

from projects.DOS.dos.visualization import (log_image, plot_feature_pca,
                                            plot_prototype_map,
                                            plot_prototype_usage,
                                            plot_training_curves, read_scalars,
                                            save_image)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'projects/DOS/configs/dos_pretrain_synthetic.py')


def _scene(num: int = 500, seed: int = 0) -> np.ndarray:
    """(num, 3) float32 (x, y, z): a ground plane and a box."""
    rng = np.random.default_rng(seed)
    coord = rng.uniform([-20, -20, -1.8], [20, 20, -1.6], (num, 3))
    coord[:num // 5] = rng.uniform([2, 2, -1.6], [6, 4, 0.5], (num // 5, 3))
    return coord.astype(np.float32)


def _check_png(path: str, size) -> None:
    """The PNG exists, has (width, height) = size and is not blank."""
    assert osp.getsize(path) > 0
    image = imread(path)
    assert image.shape[:2] == (size[1], size[0])
    assert np.unique(image.reshape(-1, image.shape[2]), axis=0).shape[0] > 1


def _check_image(image: np.ndarray, size) -> None:
    assert image.dtype == np.uint8
    assert image.shape == (size[1], size[0], 3)
    assert np.unique(image.reshape(-1, 3), axis=0).shape[0] > 1


@pytest.mark.parametrize('size', [(320, 200), (333, 217)])
def test_prototype_map_size(tmp_path, size):
    coord = _scene()
    prototype = np.random.default_rng(1).integers(0, 7, coord.shape[0])
    image = plot_prototype_map(coord, prototype, size)
    _check_image(image, size)
    save_image(image, str(tmp_path / 'map.png'))
    _check_png(str(tmp_path / 'map.png'), size)


def test_feature_pca_and_bad_input(tmp_path):
    coord = _scene()
    feat = np.random.default_rng(2).normal(size=(coord.shape[0], 8))
    image = plot_feature_pca(coord, feat, (300, 160))
    _check_image(image, (300, 160))
    with pytest.raises(ValueError, match='feat has 3 rows'):
        plot_feature_pca(coord, feat[:3], (300, 160))
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        plot_prototype_map(coord[:, :2], np.zeros(500, int), (300, 160))
    with pytest.raises(ValueError, match='size'):
        plot_feature_pca(coord, feat, (300, ))


def test_prototype_usage():
    counts = np.zeros(64)
    counts[:10] = np.arange(10, 0, -1)
    image = plot_prototype_usage(counts, alpha=1.3, size=(400, 300))
    _check_image(image, (400, 300))
    with pytest.raises(ValueError, match='counts'):
        plot_prototype_usage(np.zeros(4), alpha=1.3)


def _write_scalars(work_dir: str) -> None:
    """Two runs (the second resumed at step 20) of LocalVisBackend scalars."""
    runs = (('20260101_000000', (10, 20), 0.5), ('20260102_000000', (20, 30),
                                                 0.1))
    for run, steps, coverage in runs:
        vis_dir = osp.join(work_dir, run, 'vis_data')
        os.makedirs(vis_dir)
        with open(osp.join(vis_dir, 'scalars.json'), 'w') as f:
            for step in steps:
                record = {
                    'loss': 1.0 / step,
                    'train/usage_entropy': float(step),
                    'coverage': coverage,
                    'iter': step,
                    'step': step
                }
                f.write(json.dumps(record) + '\n')


def test_read_scalars_and_curves(tmp_path):
    _write_scalars(str(tmp_path))
    series = read_scalars(str(tmp_path))
    assert 'usage_entropy' in series  # 'train/' prefix dropped
    steps, coverage = series['coverage']
    assert steps.tolist() == [10, 20, 30]
    # the later (resumed) run wins on the shared step 20
    assert coverage.tolist() == [0.5, 0.1, 0.1]
    image = plot_training_curves(str(tmp_path), size=(500, 400))
    _check_image(image, (500, 400))
    with pytest.raises(ValueError, match='none of'):
        plot_training_curves(str(tmp_path), keys=('train/agreement', ))
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        read_scalars(str(tmp_path / 'missing'))


def test_log_image(tmp_path):
    image = plot_prototype_usage(np.arange(1, 9), alpha=1.0, size=(200, 150))
    visualizer = Visualizer.get_instance(
        'test_dos_vis',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    assert log_image('dos_usage', image, step=3)
    saved = osp.join(
        visualizer.get_backend('LocalVisBackend')._img_save_dir,
        'dos_usage_3.png')
    _check_png(saved, (200, 150))
    with pytest.raises(ValueError, match='path separator'):
        log_image('dos/usage', image)


def test_cli_end_to_end(tmp_path):
    """tools/visualize_dos.py on a freshly built small DOS model."""
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    import projects.DOS.dos  # noqa: F401
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'dos.pth')
    torch.save(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'cfg': cfg.pretty_text
            }
        }, ckpt)
    rng = np.random.default_rng(0)
    points = np.zeros((3000, 5), dtype=np.float32)
    points[:, :3] = _scene(3000)
    points[:, 3] = rng.uniform(0, 255, 3000)
    points_file = str(tmp_path / 'frame.pcd.bin')
    points.tofile(points_file)
    _write_scalars(str(tmp_path / 'work_dir'))
    out_dir = str(tmp_path / 'out')
    env = dict(os.environ, OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    env.pop('DISPLAY', None)
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools/visualize_dos.py'), CONFIG, ckpt,
        points_file, '--out-dir', out_dir, '--work-dir',
        str(tmp_path / 'work_dir'), '--size', '400', '240', '--log',
        '--log-dir',
        str(tmp_path / 'vis')
    ],
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_png(osp.join(out_dir, 'prototype_map.png'), (400, 240))
    _check_png(osp.join(out_dir, 'feature_pca.png'), (400, 240))
    _check_png(osp.join(out_dir, 'prototype_usage.png'), (800, 600))
    _check_png(osp.join(out_dir, 'training_curves.png'), (1200, 800))
    logged = glob.glob(
        str(tmp_path / 'vis' / '**' / 'dos_prototype_map_0.png'),
        recursive=True)
    assert len(logged) == 1
    _check_png(logged[0], (400, 240))
