# Copyright (c) OpenMMLab. All rights reserved.
"""Stock CenterPoint with the DOS-initialised PTv3 encoder trains on CPU.

The detector is the demo config
``centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py``
with a 25.6 m x 25.6 m range (same 0.05 m grid and 0.8 m BEV cells), its
PTv3 loaded from a DOS checkpoint of ``dos_pretrain_synthetic.py`` converted
by ``tools/convert_dos_ckpt.py``.
"""
import importlib
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import projects.DOS.dos  # noqa: F401  (registers DOS, PTv3BEVEncoder)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / 'projects' / 'DOS' / 'configs'
DETECTOR_CFG = (
    CONFIGS / 'centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_'
    'synthetic-nus-3d-20pct.py')
RANGE = [-12.8, -12.8, -3.0, 12.8, 12.8, 1.8]
GRID = [512, 512, 96]  # RANGE / 0.05 m, (x, y, z)


@pytest.fixture(scope='module')
def backbone_file(tmp_path_factory) -> str:
    """Student backbone of a (randomly initialised) DOS model, converted."""
    from mmdet3d.registry import MODELS
    if str(REPO_ROOT / 'tools') not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / 'tools'))
    convert_dos_ckpt = importlib.import_module('convert_dos_ckpt')
    cfg = Config.fromfile(str(CONFIGS / 'dos_pretrain_synthetic.py'))
    torch.manual_seed(0)
    dos = MODELS.build(cfg.model)
    root = tmp_path_factory.mktemp('dos')
    torch.save(
        dict(meta=dict(cfg=cfg.pretty_text), state_dict=dos.state_dict()),
        root / 'dos.pth')
    convert_dos_ckpt.convert(
        str(root / 'dos.pth'), 'student', str(root / 'backbone.pth'))
    return str(root / 'backbone.pth')


def build_detector(backbone_file: str):
    """The demo detector on the reduced range, initialised from DOS."""
    from mmdet3d.registry import MODELS
    from mmdet3d.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(DETECTOR_CFG))
    model = cfg.model
    model.data_preprocessor.voxel_layer.point_cloud_range = RANGE
    model.pts_middle_encoder.point_cloud_range = RANGE
    model.pts_middle_encoder.grid_size = GRID
    model.pts_middle_encoder.backbone.init_cfg.checkpoint = backbone_file
    model.pts_bbox_head.bbox_coder.pc_range = RANGE[:2]
    model.train_cfg.pts.update(grid_size=GRID, point_cloud_range=RANGE)
    model.test_cfg.pts.pc_range = RANGE[:2]
    torch.manual_seed(0)
    detector = MODELS.build(model)
    detector.init_weights()
    return detector


def make_batch(seed: int = 0) -> dict:
    """Two frames: ground returns plus points on a few car/pedestrian boxes.

    Points are (x, y, z, intensity in [0, 255]) as loaded with
    ``use_dim=[0, 1, 2, 3]``; boxes are (x, y, z, l, w, h, yaw, vx, vy).
    """
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    rng = np.random.RandomState(seed)
    points, samples = [], []
    for _ in range(2):
        boxes = np.zeros((4, 9), np.float32)
        boxes[:, :2] = rng.uniform(-9, 9, (4, 2))
        boxes[:, 2] = -1.8
        boxes[:, 3:6] = [(4.5, 1.9, 1.6), (4.2, 1.8, 1.5), (0.7, 0.7, 1.8),
                         (0.6, 0.7, 1.7)]
        boxes[:, 6] = rng.uniform(-np.pi, np.pi, 4)
        on_boxes = [
            box[:3] + rng.uniform(-0.5, 0.5, (150, 3)) * box[3:6] +
            np.array([0, 0, box[5] / 2]) for box in boxes
        ]
        ground = np.c_[rng.uniform(-12.5, 12.5, (1500, 2)),
                       np.full(1500, -1.8)]
        xyz = np.concatenate([ground, *on_boxes])
        frame = np.c_[xyz, rng.uniform(0, 255, len(xyz))]
        points.append(torch.from_numpy(frame).float())
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(boxes, box_dim=9)
        gt.labels_3d = torch.tensor([0, 0, 8, 8])
        sample = Det3DDataSample(
            metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
        sample.gt_instances_3d = gt
        samples.append(sample)
    return dict(inputs=dict(points=points), data_samples=samples)


def test_centerpoint_with_dos_backbone_train_and_predict_step(backbone_file):
    detector = build_detector(backbone_file)
    encoder = detector.pts_middle_encoder
    assert encoder.bev_shape == (32, 32)
    assert detector.pts_backbone.blocks[0][0].in_channels == (
        encoder.out_channels)
    loaded = torch.load(backbone_file, weights_only=False)['state_dict']
    assert all(
        torch.equal(value, loaded[key])
        for key, value in encoder.backbone.state_dict().items())

    optim = build_optim_wrapper(detector,
                                dict(optimizer=dict(type='AdamW', lr=1e-3)))
    before = {
        name: param.detach().clone()
        for name, param in detector.named_parameters()
    }
    detector.train()
    log_vars = detector.train_step(make_batch(), optim)
    assert np.isfinite(float(log_vars['loss']))
    changed = {
        name
        for name, param in detector.named_parameters()
        if not torch.equal(before[name], param.detach())
    }
    assert any(n.startswith('pts_middle_encoder.backbone.') for n in changed)
    assert any(n.startswith('pts_bbox_head.') for n in changed)

    detector.eval()
    with torch.no_grad():
        results = detector.test_step(make_batch(seed=1))
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances_3d
        assert pred.bboxes_3d.tensor.shape[1] == 9
        assert len(pred.scores_3d) == len(pred.labels_3d) == len(
            pred.bboxes_3d)


@pytest.mark.slow
def test_dos_centerpoint_20pct_synthetic_run_reports_nds(
        backbone_file, synthetic_nuscenes_infos, tmp_path, monkeypatch):
    """20 % subset of the session's synthetic release -> DOS-initialised
    CenterPoint: one training epoch and a test run whose NuScenesMetric
    (nuscenes-devkit, mini_val) reports NDS and mAP. The demo config is used
    verbatim apart from the epoch count, run from a directory holding
    ``data/synthetic_nuscenes`` (a link to the release) and the converted
    backbone under ``checkpoints/``.
    """
    import os
    import shutil

    from mmengine.runner import Runner
    if str(REPO_ROOT / 'tools') not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / 'tools'))
    make_label_subset = importlib.import_module('make_label_subset')

    root = synthetic_nuscenes_infos
    summary = make_label_subset.make_label_subset(
        osp.join(root, 'nuscenes_infos_train.pkl'), ratio=0.2, mode='interval')
    assert summary['num_frames'] == 1
    (tmp_path / 'data').mkdir()
    os.symlink(root, tmp_path / 'data' / 'synthetic_nuscenes')
    (tmp_path / 'checkpoints').mkdir()
    shutil.copy(
        backbone_file,
        tmp_path / 'checkpoints' / 'dos_ptv3-small_synthetic_backbone.pth')

    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(DETECTOR_CFG))
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.train_cfg.max_epochs = 1  # (val_interval 20: no validation)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for name in ('NDS', 'mAP'):
        value = metrics[f'NuScenes metric/pred_instances_3d_NuScenes/{name}']
        assert 0.0 <= value <= 1.0
