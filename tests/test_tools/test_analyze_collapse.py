# Copyright (c) OpenMMLab. All rights reserved.
"""tools/analyze_collapse.py: the collapse measurements."""
import importlib
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS

from projects.DOS.dos.engine.hooks import effective_rank
from tests.test_models.test_algorithms.test_dos import tiny_dos_cfg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
analyze_collapse = importlib.import_module('analyze_collapse')


def embeddings(seed=0, spread=1.0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(1, 16, generator=gen)
    return F.normalize(
        base + spread * torch.randn(50, 16, generator=gen), dim=1)


def test_shrink_keeps_unit_rows_and_reaches_the_mean_direction():
    embed, segment = embeddings(), torch.tensor([0] * 20 + [1] * 30)
    for eps in (1.0, 0.3, 0.0):
        out = analyze_collapse.shrink(embed, segment, 2, eps)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(50))
    torch.testing.assert_close(
        analyze_collapse.shrink(embed, segment, 2, 1.0), embed)
    flat = analyze_collapse.shrink(embed, segment, 2, 0.0)
    assert analyze_collapse.segment_mean(analyze_collapse.mean_pair_cosine,
                                         flat, segment, 2) > 0.9999


def test_mean_pair_cosine_equals_the_brute_force_mean():
    embed, segment = embeddings(), torch.tensor([0] * 20 + [1] * 30)
    expected = []
    for rows in (segment == 0, segment == 1):
        e = embed[rows]
        cos = e @ e.T
        n = e.shape[0]
        expected.append((cos.sum() - n) / (n * (n - 1)))
    got = analyze_collapse.segment_mean(analyze_collapse.mean_pair_cosine,
                                        embed, segment, 2)
    assert abs(got - float(torch.stack(expected).mean())) < 1e-5


def test_a_collapsed_teacher_and_student_reach_zero_loss_with_tau_t():
    """The trivial minimum the tool exposes: flat softmaps, KL 0; with the
    per-prototype temperature a partly collapsed pair is not cheaper."""
    torch.manual_seed(0)
    segment = torch.tensor([0] * 20 + [1] * 30)
    teacher = embeddings(2)
    # a student that predicts the teacher well (cosine spread ~ the
    # target's)
    student = F.normalize(teacher + 0.1 * embeddings(1), dim=1)
    for spread, expect_cheaper in ((None, True), (2.0, False)):
        model = MODELS.build(tiny_dos_cfg(teacher_spread=spread))
        model.teacher_temp = 0.07
        r = analyze_collapse.analyze_term(model, student, teacher, segment, 2)
        losses = {eps: loss for eps, loss, _ in r['collapsed']}
        ratios = {eps: ratio for eps, _, ratio in r['collapsed']}
        assert losses[0.0] < 1e-6 and abs(ratios[0.0] - 1) < 1e-5
        assert (losses[0.25] < losses[1.0]) == expect_cheaper
        assert -1 <= r['correlation'] <= 1
        assert r['best_student_eps'] in analyze_collapse.STUDENT_EPS


def test_keep_top_directions_reduces_the_rank_and_keeps_all_of_it():
    embed, segment = embeddings(spread=3.0), torch.tensor([0] * 20 + [1] * 30)
    torch.testing.assert_close(
        analyze_collapse.keep_top_directions(embed, segment, 2, 16), embed)
    for rank in (1, 4):
        out = analyze_collapse.keep_top_directions(embed, segment, 2, rank)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(50))
        for rows in (segment == 0, segment == 1):
            # Before renormalisation the rows span `rank` directions around
            # the mean; the sphere bends them only a little out of it.
            centred = out[rows] - out[rows].mean(dim=0)
            singular = torch.linalg.svdvals(centred)
            assert float(singular[rank:].sum() / singular.sum()) < 0.35
            assert float(effective_rank(out[rows])) < float(
                effective_rank(embed[rows]))


def test_analyze_term_reports_ranks_and_top_r_losses():
    torch.manual_seed(0)
    segment = torch.tensor([0] * 20 + [1] * 30)
    teacher = embeddings(2)
    student = F.normalize(teacher + 0.1 * embeddings(1), dim=1)
    model = MODELS.build(tiny_dos_cfg(teacher_spread=2.0))
    r = analyze_collapse.analyze_term(model, student, teacher, segment, 2)
    assert [k for k, _, _ in r['rank_collapsed']
            ] == [*analyze_collapse.COLLAPSE_RANKS, 16]
    assert 1 <= r['teacher_rank'] <= 16 and 1 <= r['student_rank'] <= 16
    for _, loss, ratio in r['rank_collapsed']:
        assert loss >= 0 and 0 < ratio <= 1 + 1e-6


def test_analyze_reports_the_same_batches_on_every_run(tiny_pretrain_config):
    """The views' augmentations are seeded: two runs print the same report
    (before, numpy was unseeded and each run measured other crops)."""
    first = analyze_collapse.analyze(str(tiny_pretrain_config), batches=1)
    # whatever the generators' state before the call
    torch.manual_seed(123)
    np.random.seed(123)
    second = analyze_collapse.analyze(str(tiny_pretrain_config), batches=1)
    assert 'rank' in first
    assert first == second
