# Copyright (c) OpenMMLab. All rights reserved.
"""DOS schedule and diagnostics hooks."""
import logging
import math
from types import SimpleNamespace

import pytest
import torch
from mmdet3d.registry import HOOKS
from mmdet3d.structures import Det3DDataSample
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner import Runner
from torch import nn

from projects.DOS.dos.engine.hooks import (DOSDiagnosticsHook, DOSScheduleHook,
                                           effective_rank, linear_warmup,
                                           prototype_diagnostics,
                                           softmap_diagnostics)
from projects.DOS.dos.models.algorithms import CosineTeacherEMA
from projects.DOS.dos.models.backbones.ptv3 import PTV3_SMALL
from projects.DOS.dos.models.losses import ZipfSinkhorn, zipf_log_prior


class FakeDOS(nn.Module):
    """What the hooks read and write on a DOS model."""

    def __init__(self):
        super().__init__()
        self.teacher = CosineTeacherEMA(nn.Linear(2, 2))
        self.teacher_temp = 1.0
        self.sinkhorn = ZipfSinkhorn(4, 1.3)
        self.data_preprocessor = SimpleNamespace(
            mask_ratio=0.7, mask_block_size=1.0)
        self.num_prototypes = 4
        self.last_diagnostics = {}


def fake_runner(model, iteration, max_iters=1000):
    hub = MessageHub.get_instance(f'test_hooks_dos_{id(model)}')
    return SimpleNamespace(
        model=model, iter=iteration, max_iters=max_iters, message_hub=hub)


def test_linear_warmup_formula():
    assert linear_warmup(0.04, 0.07, 0.05, 0.0) == pytest.approx(0.04)
    assert linear_warmup(0.04, 0.07, 0.05, 0.025) == pytest.approx(0.055)
    assert linear_warmup(0.04, 0.07, 0.05, 0.05) == pytest.approx(0.07)
    assert linear_warmup(0.04, 0.07, 0.05, 0.9) == pytest.approx(0.07)
    assert linear_warmup(0.04, 0.07, 0.0, 0.0) == pytest.approx(0.07)


@pytest.mark.parametrize('iteration', [0, 10, 25, 50, 500, 999])
def test_schedule_hook_is_a_function_of_the_iteration(iteration):
    hook = HOOKS.build(
        dict(
            type='DOSScheduleHook',
            mask_ratio=(0.3, 0.7),
            mask_block_size=(0.1, 0.4)))
    model = FakeDOS()
    runner = fake_runner(model, iteration)
    hook.before_train_iter(runner, 0)
    progress = iteration / 1000
    temp = 0.04 + 0.03 * min(progress / 0.05, 1.0)
    momentum = 1 - 0.006 * (math.cos(math.pi * progress) + 1) / 2
    assert model.teacher_temp == pytest.approx(temp)
    assert model.teacher.momentum == pytest.approx(1 - momentum)
    assert model.data_preprocessor.mask_ratio == pytest.approx(
        0.3 + 0.4 * min(progress / 0.05, 1.0))
    assert model.data_preprocessor.mask_block_size == pytest.approx(
        0.1 + 0.3 * min(progress / 0.05, 1.0))
    hub = runner.message_hub
    assert hub.get_scalar('train/teacher_temp').current() == pytest.approx(
        temp)
    assert hub.get_scalar('train/teacher_momentum').current() == pytest.approx(
        momentum)
    # Stateless: a fresh hook and model at the same iteration agree (resume).
    other = FakeDOS()
    DOSScheduleHook(
        mask_ratio=(0.3, 0.7), mask_block_size=(0.1, 0.4)).before_train_iter(
            fake_runner(other, iteration), 0)
    assert other.teacher_temp == model.teacher_temp
    assert other.teacher.momentum == model.teacher.momentum


def test_schedule_hook_leaves_masking_alone_by_default():
    model = FakeDOS()
    DOSScheduleHook().before_train_iter(fake_runner(model, 0), 0)
    assert model.data_preprocessor.mask_ratio == 0.7
    assert model.data_preprocessor.mask_block_size == 1.0


def test_schedule_hook_rejects_bad_settings():
    with pytest.raises(ValueError, match='teacher_temp'):
        DOSScheduleHook(teacher_temp=(0.0, 0.07))
    with pytest.raises(ValueError, match='mask_ratio'):
        DOSScheduleHook(mask_ratio=(0.3, 1.0))
    with pytest.raises(ValueError, match='mask_warmup'):
        DOSScheduleHook(mask_warmup=1.5)


def test_prototype_diagnostics_formulas():
    log_prior = zipf_log_prior(4, 1.3)
    teacher = torch.tensor([0, 0, 0, 1, 1, 2])
    student = torch.tensor([0, 1, 0, 1, 3, 2])
    confidence = torch.tensor([0.9, 0.2, 0.6, 0.7, 0.1, 0.95])
    metrics = prototype_diagnostics(teacher, student, confidence, log_prior,
                                    0.5)
    p = torch.tensor([3, 2, 1, 0], dtype=torch.float64) / 6
    nz = p > 0
    assert metrics['usage_entropy'] == pytest.approx(
        float(-(p[nz] * p[nz].log()).sum()))
    assert metrics['active_prototypes'] == 3
    assert metrics['usage_kl_zipf'] == pytest.approx(
        float((p[nz] * (p[nz].log() - log_prior.double()[nz])).sum()))
    assert metrics['coverage'] == pytest.approx(4 / 6)
    assert metrics['agreement'] == pytest.approx(4 / 6)
    # Collapse onto one prototype: zero entropy, one active prototype.
    collapsed = prototype_diagnostics(
        torch.zeros(6, dtype=torch.long), student, confidence, log_prior, 0.5)
    assert collapsed['usage_entropy'] == 0.0
    assert collapsed['active_prototypes'] == 1


def diagnostics(teacher_cos, student_cos=None, segment=None, embed=None):
    """``DOS.last_diagnostics`` built from cosines (embeddings default to
    the normalised cosines, targets to Zipf-Sinkhorn at tau_T = 1)."""
    segment = torch.zeros(teacher_cos.shape[0], dtype=torch.long) \
        if segment is None else segment
    student_cos = teacher_cos if student_cos is None else student_cos
    embed = torch.nn.functional.normalize(teacher_cos, dim=1) \
        if embed is None else embed
    log_target = ZipfSinkhorn(teacher_cos.shape[1],
                              1.3)(teacher_cos, segment,
                                   int(segment.max()) + 1)
    return dict(
        segment=segment,
        teacher_cos=teacher_cos,
        student_cos=student_cos,
        teacher_embed=embed,
        student_embed=embed,
        log_target=log_target)


def test_softmap_diagnostics_formulas():
    gen = torch.Generator().manual_seed(0)
    segment = torch.tensor([0] * 5 + [1] * 7)
    cos = torch.rand(12, 4, generator=gen)
    embed = torch.nn.functional.normalize(torch.randn(12, 3, generator=gen))
    stats = diagnostics(cos, segment=segment, embed=embed)
    got = softmap_diagnostics(stats, teacher_temp=0.5)
    spread, pair, entropy = [], [], []
    for rows in (segment == 0, segment == 1):
        n = int(rows.sum())
        spread.append((cos[rows] / 0.5).std(dim=0).mean())
        gram = embed[rows] @ embed[rows].T
        pair.append((gram.sum() - gram.diag().sum()) / (n * (n - 1)))
        p = stats['log_target'][rows].exp()
        entropy.append((-(p * p.log()).sum(0) / math.log(n)).mean())
    assert got['teacher_logit_spread'] == pytest.approx(
        float(torch.stack(spread).mean()), rel=1e-5)
    assert got['embedding_mean_cosine'] == pytest.approx(
        float(torch.stack(pair).mean()), rel=1e-5)
    assert got['softmap_entropy_ratio'] == pytest.approx(
        float(torch.stack(entropy).mean()), rel=1e-5)
    # One embedding and one score for every point: flat softmaps.
    flat = softmap_diagnostics(
        diagnostics(torch.full((6, 4), 0.3), embed=torch.ones(6, 3) / 3**0.5),
        teacher_temp=0.07)
    assert flat['softmap_entropy_ratio'] == pytest.approx(1.0)
    assert flat['teacher_logit_spread'] == pytest.approx(0.0)
    assert flat['embedding_mean_cosine'] == pytest.approx(1.0)
    assert flat['embedding_effective_rank'] == pytest.approx(1.0)
    ranks = []
    for rows in (segment == 0, segment == 1):
        eigen = torch.linalg.svdvals(embed[rows] - embed[rows].mean(0))**2
        p = eigen / eigen.sum()
        ranks.append(torch.exp(-(p * p.clamp(min=1e-30).log()).sum()))
    assert got['embedding_effective_rank'] == pytest.approx(
        float(torch.stack(ranks).mean()), rel=1e-4)
    # Regression target: no softmap, the ratio is NaN.
    stats.pop('log_target')
    assert math.isnan(softmap_diagnostics(stats, 0.5)['softmap_entropy_ratio'])


def test_diagnostics_hook_logs_at_its_interval():
    model = FakeDOS()
    model.last_diagnostics = diagnostics(
        torch.tensor([[5., 0, 0, 0], [0, 5, 0, 0], [0, 5, 0, 0], [0, 0, 0,
                                                                  5.]]),
        student_cos=torch.eye(4) * 5)
    hook = HOOKS.build(dict(type='DOSDiagnosticsHook', interval=2))
    runner = fake_runner(model, 0)
    hook.after_train_iter(runner, 0)  # iteration 1: not logged
    assert 'train/coverage' not in runner.message_hub.log_scalars
    runner.iter = 1
    hook.after_train_iter(runner, 1)
    hub = runner.message_hub
    assert hub.get_scalar('train/coverage').current() == pytest.approx(1.0)
    assert hub.get_scalar('train/agreement').current() == pytest.approx(0.75)
    assert hub.get_scalar('train/active_prototypes').current() == 3
    for name in ('usage_entropy', 'usage_kl_zipf', 'softmap_entropy_ratio',
                 'teacher_logit_spread', 'embedding_mean_cosine',
                 'student_embedding_mean_cosine', 'embedding_effective_rank'):
        assert math.isfinite(hub.get_scalar(f'train/{name}').current())
    with pytest.raises(ValueError, match='interval'):
        DOSDiagnosticsHook(interval=0)
    with pytest.raises(ValueError, match='max_entropy_ratio'):
        DOSDiagnosticsHook(max_entropy_ratio=1.5)


class Records(logging.Handler):
    """Keeps the messages of mmengine's current logger (which does not
    propagate to pytest's caplog)."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_hook_on_real_model(collapsed: bool) -> list:
    """Collapse warnings of the hook on the last batch of a real (tiny) DOS
    model over two logged iterations; with ``collapsed`` its head maps every
    voxel to one embedding."""
    from tests.test_models.test_algorithms.test_dos import build, make_batch
    model = build()
    model.init_weights()
    if collapsed:
        for module in (model.head, model.teacher.module.head):
            last = module.projector[-1]
            last.weight.data.zero_()
            last.bias.data.fill_(1.0)
    model.train()
    model.teacher_temp = 0.07
    model(make_batch(), mode='loss')
    hook = DOSDiagnosticsHook(interval=1, warmup=0)
    runner = fake_runner(model, 0)
    logger, records = MMLogger.get_current_instance(), Records()
    logger.addHandler(records)
    try:
        hook.after_train_iter(runner, 0)
        runner.iter = 1
        hook.after_train_iter(runner, 1)
    finally:
        logger.removeHandler(records)
    return [m for m in records.messages if 'collapsing' in m]


def test_a_collapsed_model_trips_the_warning_once_per_metric():
    messages = run_hook_on_real_model(True)
    assert any('softmap_entropy_ratio' in m and '> threshold 0.95' in m
               for m in messages)
    assert any('embedding_mean_cosine' in m for m in messages)
    names = [m.split(': ')[2].split(' =')[0] for m in messages]
    assert len(names) == len(set(names)) == 3  # second iteration: no repeat
    assert all('iteration 1' in m for m in messages)


def test_a_healthy_model_does_not_trip_the_warning():
    assert run_hook_on_real_model(False) == []


def packed_scene(seed: int) -> dict:
    """One scene as PackDOSInputs packs it: two rotated views of a bumpy
    4 m x 4 m ground, 0.1 m apart points, (x, y, z) metres."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.stack(
        torch.meshgrid(torch.arange(40.), torch.arange(40.), indexing='ij'),
        -1).reshape(-1, 2) * 0.1
    z = 0.3 * torch.sin(xy[:, :1] * 2) * torch.cos(xy[:, 1:] * 3)
    cloud = torch.cat([xy, z], 1)
    views = []
    for angle in torch.rand(2, generator=gen).tolist():
        c, s = math.cos(angle), math.sin(angle)
        rot = torch.tensor([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]])
        coord = cloud @ rot.T
        coord = coord - coord.min(0).values
        grid = torch.floor(coord / 0.05).long()
        views.append((coord, grid))
    coord = torch.cat([v[0] for v in views])
    return dict(
        inputs=dict(
            coord=coord,
            grid_coord=torch.cat([v[1] for v in views]),
            feat=torch.cat(
                [coord, torch.rand(coord.shape[0], 1, generator=gen)], 1),
            point_id=torch.arange(cloud.shape[0]).repeat(2),
            view_size=torch.tensor([cloud.shape[0]] * 2),
            mask_seed=torch.tensor([seed, seed + 1])),
        data_samples=Det3DDataSample())


def test_hooks_drive_a_real_dos_training_run(tmp_path):
    """A few Runner iterations: schedules set and logged, diagnostics too."""
    runner = Runner(
        model=dict(
            type='DOS',
            data_preprocessor=dict(
                type='DOSDataPreprocessor',
                mask_ratio=0.7,
                mask_block_size=1.0),
            backbone=dict(
                PTV3_SMALL,
                type='PTv3',
                in_channels=4,
                enc_channels=(8, 8, 16, 16, 16),
                enc_num_head=(1, 1, 2, 2, 2),
                enc_patch_size=32),
            head=dict(
                type='PrototypeHead',
                hidden_channels=32,
                embed_channels=16,
                num_prototypes=16)),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=[packed_scene(seed) for seed in range(2)],
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=2,
            num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=4),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        custom_hooks=[
            dict(type='DOSScheduleHook', teacher_temp_warmup=0.5),
            dict(type='DOSDiagnosticsHook', interval=2)
        ],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmdet3d',
        randomness=dict(seed=0),
        experiment_name='dos_hooks_smoke')
    runner.train()
    model = runner.model
    hub = runner.message_hub
    # Last iteration: runner.iter 3 of 4 -> progress 0.75.
    assert model.teacher_temp == pytest.approx(0.07)
    assert hub.get_scalar('train/teacher_temp').data[0][:4] == pytest.approx(
        [0.04, 0.055, 0.07, 0.07])
    assert hub.get_scalar('train/teacher_momentum').current() == \
        pytest.approx(1 - 0.006 * (math.cos(math.pi * 0.75) + 1) / 2)
    assert int(model.teacher.steps) == 4
    for name in ('usage_entropy', 'active_prototypes', 'usage_kl_zipf',
                 'coverage', 'agreement', 'loss_softmap',
                 'softmap_entropy_ratio', 'teacher_logit_spread',
                 'embedding_mean_cosine', 'student_embedding_mean_cosine',
                 'embedding_effective_rank'):
        assert math.isfinite(hub.get_scalar(f'train/{name}').current())


def test_effective_rank_counts_the_directions_used():
    gen = torch.Generator().manual_seed(0)
    # Isotropic rows in 8 dimensions: close to 8; on a 2-D plane with equal
    # spread: close to 2; one line: 1; identical rows: 1.
    assert float(effective_rank(torch.randn(4000, 8, generator=gen))) > 7.8
    plane = torch.zeros(4000, 8)
    plane[:, :2] = torch.randn(4000, 2, generator=gen)
    assert float(effective_rank(plane)) == pytest.approx(2.0, abs=0.05)
    line = torch.randn(50, 1, generator=gen) * torch.ones(1, 8)
    assert float(effective_rank(line)) == pytest.approx(1.0, abs=1e-4)
    assert float(effective_rank(torch.ones(5, 8))) == 1.0
