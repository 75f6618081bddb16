# Copyright (c) OpenMMLab. All rights reserved.
"""tools/probe_features.py: the quick linear probe on cached features."""
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from projects.DOS.dos.models.segmentors.ptv3_segmentor import DECODER_CHILDREN
from tests.test_datasets.test_point_cloud_folder_dataset import write_scan

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
probe_features = importlib.import_module('probe_features')

CONFIG = str(REPO / 'projects' / 'DOS' / 'configs' /
             'dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py')


def test_fit_linear_separates_separable_classes():
    torch.manual_seed(0)
    label = torch.randint(0, 3, (600, ))
    feat = torch.nn.functional.one_hot(label, 3).float() * 4 + torch.randn(
        600, 3) * 0.1
    head = probe_features.fit_linear(feat, label, 3, 100, 64, seed=0)
    assert bool((head(feat).argmax(1) == label).all())


def test_probe_scores_and_loads_the_checkpoint(tmp_path,
                                               synthetic_nuscenes_infos):
    kwargs = dict(
        train_samples=2,
        val_samples=2,
        steps=20,
        batch_size=512,
        data_root=synthetic_nuscenes_infos)
    random = probe_features.probe(CONFIG, None, **kwargs)
    assert 0.0 <= random['miou'] <= 1.0
    assert 0.0 <= random['acc'] <= 1.0
    assert random['train_voxels'] > 0
    # the same seed draws the same random backbone and the same batches
    assert probe_features.probe(
        CONFIG, None, **kwargs)['miou'] == pytest.approx(random['miou'])

    # weights saved from another random draw are what the probe runs on
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet3d')
    other = probe_features.build_probe_model(cfg, None, seed=1)
    checkpoint = tmp_path / 'backbone.pth'
    encoder = {
        k: v
        for k, v in other.backbone.state_dict().items()
        if k.split('.')[0] not in DECODER_CHILDREN
    }
    torch.save({'state_dict': encoder}, checkpoint)
    loaded = probe_features.build_probe_model(cfg, str(checkpoint), seed=0)
    for key, value in encoder.items():
        assert torch.equal(loaded.backbone.state_dict()[key], value), key
    # a segmentor checkpoint (tools/train.py): the backbone under a prefix
    segmentor = tmp_path / 'segmentor.pth'
    torch.save(
        {
            'state_dict': {
                **{
                    f'backbone.{k}': v
                    for k, v in encoder.items()
                }, 'decode_head.w': torch.zeros(1)
            }
        }, segmentor)
    loaded = probe_features.build_probe_model(
        cfg, str(segmentor), seed=0, prefix='backbone.')
    for key, value in encoder.items():
        assert torch.equal(loaded.backbone.state_dict()[key], value), key

    out = tmp_path / 'probe.json'
    probe_features.main([
        CONFIG, '--checkpoint',
        str(checkpoint), '--data-root', synthetic_nuscenes_infos,
        '--train-samples', '2', '--val-samples', '2', '--steps', '20',
        '--batch-size', '512', '--out',
        str(out)
    ])
    assert 0.0 <= json.loads(out.read_text())['miou'] <= 1.0


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        probe_features.probe(CONFIG, str(tmp_path / 'missing.pth'))
    with pytest.raises(SystemExit):
        probe_features.parse_args([CONFIG, '--random', '--steps', '0'])
    with pytest.raises(SystemExit):  # weights are required
        probe_features.parse_args([CONFIG])


def write_labelled_scan(points_path, label_path, seed):
    """:func:`write_scan`'s ground (raw id 40) and two boxes (raw ids 10,
    11) as ``.bin`` points and a uint32 ``.label``."""
    write_scan(points_path, seed)
    raw = np.r_[np.full(3000, 40), np.full(500, 10), np.full(500, 11)]
    label_path.parent.mkdir(parents=True, exist_ok=True)
    raw.astype(np.uint32).tofile(label_path)


def test_probe_on_labelled_files(tmp_path, monkeypatch):
    for sequence, seeds in (('00', (0, 1)), ('01', (2, )), ('02', (3, ))):
        for seed in seeds:
            write_labelled_scan(
                tmp_path / sequence / 'velodyne' / f'{seed:06d}.bin',
                tmp_path / sequence / 'labels' / f'{seed:06d}.label', seed)
    # both boxes are one class "vehicle"; 40 is "ground"
    (tmp_path / 'classes.txt').write_text('40 ground\n10 vehicle\n'
                                          '11 vehicle\n')
    (tmp_path / 'val.txt').write_text('01/velodyne/000002.bin\n'
                                      '02/velodyne/000003.bin\n')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / 'probe.json'
    probe_features.main([
        CONFIG, '--random', '--train-files', '00/velodyne/*.bin',
        '--val-files',
        str(tmp_path / 'val.txt'), '--classes', 'classes.txt',
        '--attribute-scale', '1', '--steps', '30', '--batch-size', '256',
        '--out',
        str(out)
    ])
    result = json.loads(out.read_text())
    assert set(result) >= {'ground', 'vehicle', 'miou', 'acc'}
    assert 'car' not in result  # the user's classes, not the config's
    assert 0.0 <= result['miou'] <= 1.0
    # 2 training frames, every voxel labelled (ground or vehicle)
    assert result['train_voxels'] > 1000

    # xyz only, but the backbone was pretrained with intensity
    with pytest.raises(ValueError, match='backbone takes in_channels=4'):
        probe_features.main([
            CONFIG, '--random', '--train-files', '00/velodyne/*.bin',
            '--val-files', '00/velodyne/*.bin', '--classes', 'classes.txt',
            '--use-dim', '3', '--steps', '1'
        ])


def test_read_classes(tmp_path):
    names = tmp_path / 'names.txt'
    names.write_text('# nuScenes-like\ncar\n\npedestrian\n')
    assert probe_features.read_classes(str(names)) == (['car',
                                                        'pedestrian'], None)
    ids = tmp_path / 'ids.txt'
    ids.write_text('10 car\n40 road\n18 car\n')
    assert probe_features.read_classes(str(ids)) == (['car', 'road'], {
        10: 0,
        40: 1,
        18: 0
    })
    for text, message in (('car\n10 road\n', 'line 2: .* mixes'),
                          ('10 car\n10 road\n', 'line 2: raw id 10 is '
                           'listed twice'), ('# none\n', 'names no class')):
        bad = tmp_path / 'bad.txt'
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            probe_features.read_classes(str(bad))
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        probe_features.read_classes(str(tmp_path / 'missing.txt'))
    with pytest.raises(SystemExit):  # the file options go together
        probe_features.parse_args(
            [CONFIG, '--random', '--train-files', 'a/*.bin'])
    with pytest.raises(SystemExit):
        probe_features.parse_args([CONFIG, '--random', '--use-dim', '5'])


def test_probe_on_a_real_semantickitti_format_scan(shared_data, tmp_path):
    scan = (
        shared_data / 'semantickitti_format' / 'sequences' / '00' /
        'velodyne' / '000104.bin')
    classes = tmp_path / 'rellis.txt'  # RELLIS-3D ids of this scan
    classes.write_text('3 grass\n4 tree\n17 person\n18 fence\n19 bush\n'
                       '23 concrete\n31 puddle\n33 mud\n')
    result = probe_features.probe(
        CONFIG,
        None,
        train_samples=1,
        val_samples=1,
        steps=20,
        batch_size=1024,
        datasets=tuple(
            probe_features.files_dataset(
                str(scan), *probe_features.read_classes(str(classes)),
                '{dir}/../labels/{name}.label', 4, 4) for _ in range(2)),
        attribute_scale=1.)
    assert 0.0 <= result['miou'] <= 1.0
    assert 'grass' in result and result['train_voxels'] > 1000
