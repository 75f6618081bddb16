# Copyright (c) OpenMMLab. All rights reserved.
"""tools/benchmarks/benchmark_ptv3.py: the block-time breakdown and the
interleaved timing of several steps.

The per-level caches (conv rulebook, serializations, patch indices) are
built inside the first block that needs them; the timer must book that time
as per-level setup, inside the component that triggered it, and leave the
model and :class:`PointLevel` as they were.
"""
import importlib
import sys
from pathlib import Path

import pytest
import torch

from projects.DOS.dos.models.backbones.ptv3 import (PTV3_SMALL, PointLevel,
                                                    PTv3, PTv3Block)

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / 'tools' / 'benchmarks') not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / 'tools' / 'benchmarks'))
benchmark_ptv3 = importlib.import_module('benchmark_ptv3')


def _points(num_points: int = 400) -> dict:
    """One sample of distinct voxels (x, y, z) on a 12^3 grid."""
    generator = torch.Generator().manual_seed(0)
    cells = torch.randperm(12**3, generator=generator)[:num_points]
    grid_coord = torch.stack([cells // 144, cells // 12 % 12, cells % 12], 1)
    coord = grid_coord.float() * 0.05
    feat = torch.cat(
        [coord, torch.rand(num_points, 1, generator=generator)], 1)
    return dict(
        coord=coord,
        grid_coord=grid_coord,
        feat=feat,
        offset=torch.tensor([num_points]))


def test_component_timer_books_level_setup_apart() -> None:
    torch.manual_seed(0)
    model = PTv3(**dict(PTV3_SMALL, enc_patch_size=64)).eval()
    points = _points()
    originals = {
        name: getattr(PointLevel, name)
        for name in benchmark_ptv3.LEVEL_SETUP_METHODS
    }
    sdpa = torch.nn.functional.scaled_dot_product_attention
    calls = []
    handles = [
        block.register_forward_pre_hook(lambda module, args: calls.append(
            (args[1], module.attn))) for block in model.modules()
        if isinstance(block, PTv3Block)
    ]
    with torch.inference_mode():
        with benchmark_ptv3.component_timer(model,
                                            torch.device('cpu')) as totals:
            model(points)
    for handle in handles:
        handle.remove()
    # Every level builds a rulebook (CPE) and patch indices (attention).
    assert totals['setup_in_cpe'] > 0
    assert totals['setup_in_attn'] > 0
    # Caches are only built from inside a block's CPE or attention.
    assert totals['setup_in_block'] == pytest.approx(totals['setup_in_cpe'] +
                                                     totals['setup_in_attn'])
    assert totals['setup'] == pytest.approx(totals['setup_in_block'])
    for name in ('block', 'cpe', 'attn'):
        assert totals[name] > totals[f'setup_in_{name}']
    net_parts = sum(totals[name] - totals[f'setup_in_{name}']
                    for name in ('cpe', 'attn'))
    assert totals['block'] - totals['setup_in_block'] > net_parts
    # The attention kernel runs inside the attention; the MLP has no cache.
    assert 0 < totals['sdpa'] < totals['attn']
    assert totals['setup_in_mlp'] == 0 and totals['mlp'] > 0
    # Scores: per block, heads x (complete patches x K^2 + each partial
    # sequence's queries x keys); padding slots are never queries.
    expected = 0
    for level, attn in calls:
        partition = level.partition(attn.patch_size)
        expected += attn.num_heads * (
            partition.full_index.numel() * attn.patch_size +
            sum(q * n for q, n in zip(partition.partial_queries,
                                      partition.partial_lengths)))
    assert len(calls) == 5 and totals['sdpa_scores'] == expected
    assert torch.nn.functional.scaled_dot_product_attention is sdpa
    # The timer leaves no wrapper and no hook behind.
    for name, method in originals.items():
        assert getattr(PointLevel, name) is method
    assert all(not module._forward_hooks and not module._forward_pre_hooks
               for module in model.modules())


def test_component_timer_counts_nested_cache_calls_once(monkeypatch) -> None:
    """``patch_index`` calls ``partition``: one setup interval, not two."""
    clock = iter(range(100))
    monkeypatch.setattr(benchmark_ptv3.time, 'perf_counter',
                        lambda: float(next(clock)))
    model = PTv3(**dict(PTV3_SMALL, enc_patch_size=64)).eval()
    points = _points()
    level = PointLevel(points['coord'], points['grid_coord'],
                       torch.zeros(400, dtype=torch.long), points['offset'],
                       ('z', ))
    with benchmark_ptv3.component_timer(model, torch.device('cpu')) as totals:
        level.patch_index(0, 64)  # reads the clock twice
    assert totals['setup'] == 1.0


def test_measure_interleaved_alternates_the_candidates():
    calls = []
    times = benchmark_ptv3.measure_interleaved(
        dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
        repeats=3,
        device=torch.device('cpu'))
    # one warm-up each, a and b in turn within every repeat, then one
    # memory run each
    assert calls == ['a', 'b'] + ['a', 'b'] * 3 + ['a', 'b']
    assert set(times) == {'a', 'b'}
    for wall, cpu, peak in times.values():
        assert wall >= 0 and cpu >= 0 and peak > 0
