# Copyright (c) OpenMMLab. All rights reserved.
"""tools/probe_features.py: the quick linear probe on cached features."""
import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

from projects.DOS.dos.models.segmentors.ptv3_segmentor import DECODER_CHILDREN

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
