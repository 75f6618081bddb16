# Copyright (c) OpenMMLab. All rights reserved.
"""PointCloudFolderDataset: DOS pretraining on a folder of raw scans."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

import projects.DOS.dos  # noqa: F401  (registers the dataset)
from tests.test_engine.test_hooks_dos import Records

CONFIG = Path(__file__).resolve().parents[2] / 'projects' / 'DOS' / \
    'configs' / 'dos_pretrain_folder_small_cpu.py'


def write_scan(path: Path, seed: int, dims: int = 4) -> None:
    """A LiDAR-like scan: 20 m x 20 m ground and two boxes, float32
    (x, y, z, intensity in [0, 1])[:dims]."""
    rng = np.random.default_rng(seed)
    ground = np.c_[rng.uniform(-10, 10, (3000, 2)), np.zeros(3000)]
    boxes = [
        rng.uniform(0, 1.5, (500, 3)) + np.array([dx, dy, 0.])
        for dx, dy in ((3., 2.), (-4., -5.))
    ]
    xyz = np.concatenate([ground, *boxes])
    scan = np.c_[xyz, rng.uniform(0, 1, len(xyz))][:, :dims]
    path.parent.mkdir(parents=True, exist_ok=True)
    scan.astype(np.float32).tofile(path)


def test_glob_and_list_file_give_sorted_samples(tmp_path):
    for name in ('b.bin', 'a.bin', 'sub/c.bin'):
        write_scan(tmp_path / name, 0)
    (tmp_path / 'notes.txt').write_text('not a scan')
    dataset = DATASETS.build(
        dict(type='PointCloudFolderDataset', data_root=str(tmp_path)))
    paths = [
        Path(dataset.get_data_info(i)['lidar_points']['lidar_path'])
        for i in range(len(dataset))
    ]
    assert [p.relative_to(tmp_path).as_posix()
            for p in paths] == ['a.bin', 'b.bin', 'sub/c.bin']
    (tmp_path / 'list.txt').write_text('# val scans\nsub/c.bin\n\na.bin\n')
    listed = DATASETS.build(
        dict(
            type='PointCloudFolderDataset',
            data_root=str(tmp_path),
            file_list='list.txt'))
    assert [
        Path(listed.get_data_info(i)['lidar_points']['lidar_path']).name
        for i in range(len(listed))
    ] == ['c.bin', 'a.bin']


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(data_root='missing'), FileNotFoundError, 'is not a folder'),
    (dict(pattern='*.pcd.bin'), ValueError, r"matches pattern '\*\.pcd\.bin'"),
    (dict(file_list='nope.txt'), FileNotFoundError, 'nope.txt'),
    (dict(file_list='list.txt'), FileNotFoundError, 'line 2'),
    (dict(file_list='empty.txt'), ValueError, 'names no file'),
])
def test_bad_folders_and_lists_name_what_is_wrong(tmp_path, kwargs, error,
                                                  match):
    write_scan(tmp_path / 'a.bin', 0)
    (tmp_path / 'list.txt').write_text('a.bin\ngone.bin\n')
    (tmp_path / 'empty.txt').write_text('# nothing\n')
    kwargs = {'data_root': str(tmp_path), **kwargs}
    if kwargs['data_root'] == 'missing':
        kwargs['data_root'] = str(tmp_path / 'missing')
    with pytest.raises(error, match=match):
        DATASETS.build(dict(type='PointCloudFolderDataset', **kwargs))


@pytest.mark.parametrize('dims', [4, 3])
def test_pretrains_on_a_folder_of_bin_files(tmp_path, dims):
    """A few iterations of the CPU config on generated scans (one of them
    truncated: skipped with a warning naming it); xyz-only scans train with
    a 3-channel backbone."""
    scans = tmp_path / 'scans'
    for index in range(3):
        write_scan(scans / f'{index:06d}.bin', index, dims)
    bad = scans / '000003.bin'
    bad.write_bytes(b'\0' * (4 * dims * 10 + 2))
    cfg = Config.fromfile(str(CONFIG))
    cfg.train_dataloader.dataset.pipeline[2].max_crop_points = 1024
    cfg.dump(str(tmp_path / 'cfg.py'))
    options = [
        f'train_dataloader.dataset.data_root={scans}/',
        'train_cfg.max_iters=3', 'train_dataloader.batch_size=1',
        'default_hooks.logger.interval=1'
    ]
    if dims == 3:
        options += [
            'train_dataloader.dataset.pipeline.0.use_dim=3',
            'train_dataloader.dataset.pipeline.0.load_dim=3',
            'model.backbone.in_channels=3'
        ]
    repo = CONFIG.parents[3]
    result = subprocess.run([
        sys.executable,
        str(repo / 'tools' / 'train.py'),
        str(tmp_path / 'cfg.py'), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Iter(train) [3/3]' in log
    checkpoint = torch.load(
        tmp_path / 'work' / 'iter_3.pth',
        map_location='cpu',
        weights_only=False)
    stem = checkpoint['state_dict']['backbone.embedding.0.weight']
    assert stem.shape[1] == dims


def test_a_truncated_scan_is_skipped_with_a_warning_naming_it(tmp_path):
    write_scan(tmp_path / 'a.bin', 0)
    bad = tmp_path / 'b.bin'
    bad.write_bytes(b'\0' * 42)
    cfg = Config.fromfile(str(CONFIG)).train_dataloader.dataset
    cfg.data_root = str(tmp_path)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        dataset = DATASETS.build(cfg)
    logger, records = MMLogger.get_current_instance(), Records()
    logger.addHandler(records)
    try:
        sample = dataset[1]  # b.bin: skipped, another scan drawn instead
    finally:
        logger.removeHandler(records)
    assert sample['inputs']['coord'].shape[1] == 3
    loader = dataset.pipeline.transforms[0]
    assert loader.num_skipped_frames >= 1  # the redraw may hit it again
    assert any(
        str(bad) in m and 'not a multiple of the record size' in m
        for m in records.messages)
