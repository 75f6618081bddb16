# Copyright (c) OpenMMLab. All rights reserved.
"""LongTailSegMetric: group mIoUs equal the manual mean of per-class IoUs."""
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample, PointData

from projects.DOS.dos.evaluation import LongTailSegMetric

CLASSES = ('road', 'car', 'person', 'sign', 'bike', 'pole')
IGNORE = len(CLASSES)
SPLITS = dict(
    head=['road', 'car'], common=['person', 'sign'], tail=['bike', 'pole'])


def make_samples(seed: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Three scenes of (gt, pred) labels with ignored points and errors.

    'pole' never occurs in the ground truth and is never predicted, so its
    IoU is undefined and must drop out of the tail mean.
    """
    rng = np.random.default_rng(seed)
    scenes = []
    for num_points in (50, 80, 120):
        gt = rng.choice(5, num_points, p=[0.4, 0.3, 0.15, 0.1, 0.05])
        gt[rng.random(num_points) < 0.1] = IGNORE
        pred = np.where(
            rng.random(num_points) < 0.7, gt, rng.integers(0, 5, num_points))
        pred[pred == IGNORE] = 0
        scenes.append((gt, pred))
    return scenes


def manual_ious(scenes: List[Tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per-class IoU by counting, NaN where the class is nowhere."""
    gt = np.concatenate([s[0] for s in scenes])
    pred = np.concatenate([s[1] for s in scenes])
    valid = gt != IGNORE
    ious = np.full(len(CLASSES), np.nan)
    for c in range(len(CLASSES)):
        inter = np.sum((gt == c) & (pred == c) & valid)
        union = np.sum(((gt == c) | (pred == c)) & valid)
        if union > 0:
            ious[c] = inter / union
    return ious


def run_metric(
        metric: LongTailSegMetric,
        scenes: List[Tuple[np.ndarray, np.ndarray]]) -> Dict[str, float]:
    """Feed the scenes through process() and compute the metrics."""
    metric.dataset_meta = dict(
        label2cat=dict(enumerate(CLASSES)), ignore_index=IGNORE)
    outputs = []
    for gt, pred in scenes:
        sample = Det3DDataSample()
        sample.pred_pts_seg = PointData(
            pts_semantic_mask=torch.from_numpy(pred))
        sample.eval_ann_info = dict(pts_semantic_mask=gt)
        outputs.append(sample.to_dict())
    metric.process({}, outputs)
    return metric.compute_metrics(metric.results)


def test_group_mious_equal_manual_means() -> None:
    scenes = make_samples(seed=0)
    metrics = run_metric(LongTailSegMetric(class_splits=SPLITS), scenes)
    ious = manual_ious(scenes)
    assert np.isnan(ious[CLASSES.index('pole')])
    assert metrics['miou'] == pytest.approx(np.nanmean(ious))
    for group, names in SPLITS.items():
        expected = np.nanmean([ious[CLASSES.index(name)] for name in names])
        assert metrics[f'miou_{group}'] == pytest.approx(expected), group
    # The tail mean is bike's IoU alone ('pole' is undefined).
    assert metrics['miou_tail'] == pytest.approx(ious[CLASSES.index('bike')])


def test_without_splits_reports_segmetric_keys() -> None:
    metrics = run_metric(LongTailSegMetric(), make_samples(seed=1))
    assert set(metrics) == set(CLASSES) | {'miou', 'acc', 'acc_cls'}


def test_group_without_defined_iou_is_nan() -> None:
    metrics = run_metric(
        LongTailSegMetric(class_splits=dict(tail=['pole'])),
        make_samples(seed=2))
    assert np.isnan(metrics['miou_tail'])


def test_unknown_class_is_rejected() -> None:
    metric = LongTailSegMetric(class_splits=dict(tail=['bike', 'tram']))
    with pytest.raises(ValueError, match="'tram'"):
        run_metric(metric, make_samples(seed=3))


@pytest.mark.parametrize('names', [[], 'car'])
def test_malformed_split_is_rejected(names: object) -> None:
    with pytest.raises(ValueError, match='non-empty sequence'):
        LongTailSegMetric(class_splits=dict(head=names))
