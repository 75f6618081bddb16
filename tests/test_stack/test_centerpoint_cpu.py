# Copyright (c) OpenMMLab. All rights reserved.
"""Stock mmdet3d CenterPoint trains on CPU on this stack.

This proves the compiled mmcv ops (hard voxelization, rotated NMS), spconv's
CPU forward and backward, and the compatibility fixes together: the model is
built from mmdet3d's own config through an ``mmdet3d::`` base.
"""
import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import projects.DOS.dos  # noqa: F401  (applies the compatibility fixes)

BASE = 'mmdet3d::centerpoint/centerpoint_voxel01_second_secfpn_8xb4-cyclic-20e_nus-3d.py'  # noqa: E501


def make_batch(num_points: int = 1500, seed: int = 0) -> dict:
    """Two LiDAR-like frames with a few car boxes, as Det3DDataSamples."""
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    rng = np.random.RandomState(seed)
    inputs, samples = [], []
    for _ in range(2):
        xyz = rng.uniform([-40, -40, -3], [40, 40, 1], (num_points, 3))
        feats = rng.uniform(0, 1, (num_points, 2))
        inputs.append(
            dict(points=torch.from_numpy(np.hstack([xyz, feats])).float()))
        boxes = np.zeros((3, 9), np.float32)
        boxes[:, :2] = rng.uniform(-30, 30, (3, 2))
        boxes[:, 2] = -1.5
        boxes[:, 3:6] = (4.5, 1.9, 1.6)
        boxes[:, 6] = rng.uniform(-np.pi, np.pi, 3)
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(boxes, box_dim=9)
        gt.labels_3d = torch.zeros(3, dtype=torch.long)
        sample = Det3DDataSample(
            metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
        sample.gt_instances_3d = gt
        samples.append(sample)
    return dict(
        inputs=dict(points=[d['points'] for d in inputs]),
        data_samples=samples)


def test_stock_centerpoint_train_and_predict_step_on_cpu(tmp_path):
    from mmdet3d.registry import MODELS
    from mmdet3d.utils import register_all_modules
    register_all_modules()

    cfg_file = tmp_path / 'centerpoint.py'
    cfg_file.write_text(f"_base_ = ['{BASE}']\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == 'CenterPoint'
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model,
                                dict(optimizer=dict(type='AdamW', lr=1e-3)))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    model.train()
    log_vars = model.train_step(make_batch(), optim)
    loss = float(log_vars['loss'].detach())
    assert np.isfinite(loss) and loss > 0
    # gradients reached the sparse (spconv) middle encoder and the head
    changed = {
        n
        for n, p in model.named_parameters()
        if not torch.equal(before[n], p.detach())
    }
    assert any(n.startswith('pts_middle_encoder.') for n in changed)
    assert any(n.startswith('pts_bbox_head.') for n in changed)

    model.eval()
    with torch.no_grad():
        results = model.test_step(make_batch(seed=1))
    assert len(results) == 2
    pred = results[0].pred_instances_3d
    assert pred.bboxes_3d.tensor.shape[1] == 9
    assert len(pred.scores_3d) == len(pred.labels_3d)
