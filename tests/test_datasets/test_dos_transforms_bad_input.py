# Copyright (c) OpenMMLab. All rights reserved.
"""Bad LiDAR frames: clear errors naming the file, or a logged skip."""
import logging
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from projects.DOS.dos.datasets.transforms import (BadPointCloudError,
                                                  LoadPointsFromFileChecked)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURES = osp.join(REPO, '..', 'shared', 'data', 'mmdet3d_fixtures')
RANGE = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]


def _write(path, array: np.ndarray) -> str:
    array.astype(np.float32).tofile(str(path))
    return str(path)


def _frame(num: int = 200, seed: int = 0) -> np.ndarray:
    """(num, 5) nuScenes records (x, y, z, intensity, ring)."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-20, -20, -2], [20, 20, 2], size=(num, 3))
    return np.concatenate([xyz, rng.uniform(0, 255, (num, 2))], 1)


def _loader(**kwargs) -> LoadPointsFromFileChecked:
    cfg = dict(
        coord_type='LIDAR', load_dim=5, use_dim=4, point_cloud_range=RANGE)
    cfg.update(kwargs)
    return LoadPointsFromFileChecked(**cfg)


def _load(loader, path):
    return loader.transform(dict(lidar_points=dict(lidar_path=path)))


class _Records(logging.Handler):
    """Collects the log records it receives."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_log():
    """Warnings sent to mmengine's current logger during the test."""
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_good_frame_loads(tmp_path):
    path = _write(tmp_path / 'good.bin', _frame())
    points = _load(_loader(), path)['points']
    assert points.tensor.shape == (200, 4)


@pytest.mark.parametrize('case, content, message', [
    ('truncated', 'truncated', 'not a multiple of the record size 20'),
    ('empty', 'empty', 'the file is empty'),
    ('missing', None, 'point cloud file not found'),
])
def test_corrupt_files_raise_naming_the_file(tmp_path, case, content, message):
    path = str(tmp_path / f'{case}.pcd.bin')
    if content == 'truncated':
        raw = _frame().astype(np.float32).tobytes()
        with open(path, 'wb') as f:
            f.write(raw[:-4])  # one float short
    elif content == 'empty':
        open(path, 'wb').close()
    expected = FileNotFoundError if content is None else BadPointCloudError
    with pytest.raises(expected, match=message) as info:
        _load(_loader(skip_bad_frames=False), path)
    assert path in str(info.value)


@pytest.mark.parametrize('case', ['truncated', 'empty', 'missing'])
def test_corrupt_files_skipped_with_warning(tmp_path, case, warnings_log):
    path = str(tmp_path / f'{case}.pcd.bin')
    if case == 'truncated':
        with open(path, 'wb') as f:
            f.write(b'\0' * 21)
    elif case == 'empty':
        open(path, 'wb').close()
    loader = _loader()
    assert _load(loader, path) is None
    assert loader.num_skipped_frames == 1
    assert any(
        path in r.getMessage() and 'skipping bad frame' in r.getMessage()
        for r in warnings_log.records)


def test_nonfinite_points_dropped_with_warning(tmp_path, warnings_log):
    frame = _frame()
    frame[3, 0] = np.nan
    frame[7, 2] = np.inf
    frame[11, 3] = -np.inf  # intensity
    path = _write(tmp_path / 'nan.bin', frame)
    loader = _loader()
    points = _load(loader, path)['points']
    assert len(points) == 197
    assert bool(points.tensor.isfinite().all())
    assert loader.num_nonfinite_points == 3
    assert any('3 of 200 points with NaN/inf' in r.getMessage()
               for r in warnings_log.records)


def test_far_points_filtered(tmp_path):
    frame = _frame()
    frame[:5, 0] = 1e6
    frame[5:8, 2] = -40.
    points = _load(_loader(), _write(tmp_path / 'far.bin', frame))['points']
    assert len(points) == 192
    assert float(points.coord.abs().max()) < 54


@pytest.mark.parametrize('frame, reason', [
    (np.full((20, 5), 1e4), 'inside point_cloud_range'),
    (np.full((20, 5), np.nan), 'valid points'),
])
def test_frames_left_empty_are_bad(tmp_path, frame, reason):
    path = _write(tmp_path / 'nothing_left.bin', frame)
    with pytest.raises(BadPointCloudError, match=reason) as info:
        _load(_loader(skip_bad_frames=False), path)
    assert path in str(info.value)
    loader = _loader()
    assert _load(loader, path) is None
    assert loader.num_skipped_frames == 1


@pytest.mark.parametrize('kwargs', [
    dict(point_cloud_range=[0, 0, 0]),
    dict(min_points=0),
])
def test_loader_settings_rejected(kwargs):
    with pytest.raises(ValueError, match='LoadPointsFromFileChecked'):
        _loader(**kwargs)


@pytest.mark.skipif(
    not osp.isdir(FIXTURES),
    reason='mmdet3d fixtures absent (../shared/data/mmdet3d_fixtures)')
def test_dataset_resamples_past_a_bad_frame(tmp_path, warnings_log):
    """One corrupt and one NaN-ridden frame in a nuScenes-format dataset:
    the dataset returns finite samples and the run goes on."""
    lidar_dir = tmp_path / 'samples' / 'LIDAR_TOP'
    lidar_dir.mkdir(parents=True)
    good = osp.join(
        FIXTURES, 'nuscenes', 'samples', 'LIDAR_TOP',
        'n015-2018-08-02-17-16-37+0800__LIDAR_TOP__'
        '1533201470948018.pcd.bin')
    shutil.copy(good, lidar_dir / 'good.pcd.bin')
    with open(lidar_dir / 'bad.pcd.bin', 'wb') as f:
        f.write(b'\0' * 2001)
    nan_frame = np.fromfile(good, dtype=np.float32).reshape(-1, 5).copy()
    nan_frame[::10, :3] = np.nan
    nan_frame.tofile(str(lidar_dir / 'nan.pcd.bin'))
    with open(osp.join(FIXTURES, 'nuscenes', 'nus_info.pkl'), 'rb') as f:
        infos = pickle.load(f)
    first = infos['data_list'][0]
    infos['data_list'] = []
    for index, name in enumerate(['bad', 'nan', 'good']):
        info = dict(first, sample_idx=index, token=name)
        info['lidar_points'] = dict(
            first['lidar_points'], lidar_path=f'{name}.pcd.bin')
        infos['data_list'].append(info)
    with open(tmp_path / 'infos.pkl', 'wb') as f:
        pickle.dump(infos, f)

    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets',
                 'nus_dos_pretrain.py')).train_dataloader.dataset
    cfg.update(data_root=str(tmp_path), ann_file='infos.pkl')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        dataset = DATASETS.build(cfg)
    np.random.seed(0)
    for _ in range(3):
        sample = dataset[0]  # the bad frame: another one is drawn instead
        assert sample['data_samples'].lidar_path != str(lidar_dir /
                                                        'bad.pcd.bin')
        assert all(
            bool(torch.isfinite(v.float()).all())
            for v in sample['inputs'].values())
    loader = dataset.pipeline.transforms[0]
    # at least one skip per draw of the bad frame (a redraw may hit it again)
    assert loader.num_skipped_frames >= 3
    assert any('bad.pcd.bin' in r.getMessage() for r in warnings_log.records)
    dropped_before = loader.num_nonfinite_points
    nan_sample = dataset[1]
    assert nan_sample['data_samples'].lidar_path.endswith('nan.pcd.bin')
    assert loader.num_nonfinite_points - dropped_before == 10
