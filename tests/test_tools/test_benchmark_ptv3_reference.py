# Copyright (c) OpenMMLab. All rights reserved.
"""tools/benchmarks/benchmark_ptv3_reference.py, without Pointcept.

The side-by-side run itself needs a Pointcept checkout (never in the
tests); what is checked here is what it relies on: the reference loader's
errors, the configuration match, the shared input construction and the
per-part profile timer.
"""
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from projects.DOS.dos.models.backbones.ptv3 import (PTV3_PRESETS, PTV3_SMALL,
                                                    PTv3, PTv3Block)

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / 'tools' / 'benchmarks') not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / 'tools' / 'benchmarks'))
side_by_side = importlib.import_module('benchmark_ptv3_reference')
pointcept_reference = importlib.import_module('pointcept_reference')
benchmark_ptv3 = importlib.import_module('benchmark_ptv3')


def test_load_reference_names_a_folder_without_pointcept(tmp_path):
    with pytest.raises(FileNotFoundError, match='holds no Pointcept tree'):
        pointcept_reference.load_reference(str(tmp_path))


def test_load_reference_says_how_to_get_a_missing_dependency(
        tmp_path, monkeypatch):
    model_dir = tmp_path / 'pointcept' / 'models' / 'point_transformer_v3'
    model_dir.mkdir(parents=True)
    (model_dir / 'point_transformer_v3m2_sonata.py').write_text('')
    monkeypatch.setitem(sys.modules, 'torch_scatter', None)
    with pytest.raises(ImportError, match='torch-scatter==2.1.2'):
        pointcept_reference.load_reference(str(tmp_path))


@pytest.mark.parametrize('preset', sorted(PTV3_PRESETS))
def test_both_configurations_describe_the_same_model(preset):
    ours = side_by_side.our_config(preset, 0.3)
    reference = pointcept_reference.reference_config(PTV3_PRESETS[preset],
                                                     ours['order'], 0.3)
    side_by_side.check_same_preset(ours, reference)
    assert reference['enc_mode'] and not reference['shuffle_orders']
    assert ours['up_cast_level'] == len(ours['enc_depths']) - 1
    assert len(ours['enc_patch_size']) == len(ours['enc_depths'])
    PTv3(**ours)  # our side builds from it


def test_check_same_preset_names_the_differing_field():
    ours = side_by_side.our_config('small', 0.3)
    reference = pointcept_reference.reference_config(PTV3_SMALL, ours['order'],
                                                     0.3)
    reference['enc_num_head'] = tuple(h * 2 for h in ours['enc_num_head'])
    with pytest.raises(SystemExit, match='enc_num_head'):
        side_by_side.check_same_preset(ours, reference)


def _frame(num_voxels: int = 300):
    """Distinct voxels (x, y, z) of a 20^3 grid and their points."""
    rng = np.random.default_rng(0)
    cells = rng.choice(20**3, num_voxels, replace=False)
    voxel = np.stack([cells // 400, cells // 20 % 20, cells % 20],
                     1).astype(np.int64)
    frame = np.concatenate(
        [voxel * 0.05 + 0.01,
         rng.uniform(0, 255, (num_voxels, 1))], 1).astype(np.float32)
    return frame, voxel


@pytest.mark.parametrize('num_points', [120, 300, 1000])
def test_build_points_subsamples_or_tiles_distinct_voxels(num_points):
    frame, voxel = _frame()
    points = benchmark_ptv3.build_points(frame, voxel, num_points, 0.05)
    grid = points['grid_coord']
    assert grid.shape == (num_points, 3) and grid.dtype == torch.int64
    assert points['feat'].shape == (num_points, 4)
    assert points['offset'].tolist() == [num_points]
    assert torch.unique(grid, dim=0).shape[0] == num_points
    assert grid.min(0).values.tolist() == [0, 0, 0]
    # Coordinates and voxels are carried together: one offset per row.
    shift = points['coord'] - grid.double().float() * 0.05
    assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-3)
    assert bool((points['feat'][:, 3] <= 1.0).all())
    again = benchmark_ptv3.build_points(frame, voxel, num_points, 0.05)
    assert torch.equal(again['grid_coord'], grid)


def test_part_timer_books_each_part_once_per_pass(monkeypatch):
    """With a clock that ticks once per read, each booked interval is one
    tick; the MLP's recomputation during backward must not be booked as a
    second forward."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(side_by_side.time, 'perf_counter',
                        lambda: float(next(ticks)))
    torch.manual_seed(0)
    model = PTv3(**dict(
        PTV3_SMALL, in_channels=4, enc_patch_size=32,
        recompute_mlp=True)).train()
    frame, voxel = _frame()
    points = benchmark_ptv3.build_points(frame, voxel, 300, 0.05)
    num_blocks = sum(isinstance(m, PTv3Block) for m in model.modules())
    with side_by_side.PartTimer(model) as timer:
        out = model(points)['feat']
        timer.in_backward = True
        out.sum().backward()
    for part in side_by_side.BLOCK_PARTS:
        assert timer.totals[part + ' fwd'] == num_blocks, part
        assert timer.totals[part + ' bwd'] == num_blocks, part
    assert timer.totals['pooling fwd'] == len(model.pooling)
    assert timer.totals['pooling bwd'] == len(model.pooling)
    for module in model.modules():  # the hooks are gone
        assert not module._forward_hooks and not module._backward_hooks


def test_ours_variants_change_only_the_named_arguments():
    assert side_by_side.variant_overrides('ours') == {}
    assert side_by_side.variant_overrides(
        'ours:recompute_mlp=False;enc_patch_size=(64, 64, 64, 64)') == dict(
            recompute_mlp=False, enc_patch_size=(64, 64, 64, 64))
    with pytest.raises(SystemExit, match='no_such_argument'):
        side_by_side.variant_overrides('ours:no_such_argument=1')
    with pytest.raises(SystemExit, match='not a Python literal'):
        side_by_side.variant_overrides('ours:with_cp=yes please')
    args = side_by_side.parse_args(
        ['--reference-root', '.', '--preset', 'small'])
    model = side_by_side.build_model('ours:recompute_mlp=False', args)
    blocks = [m for m in model.modules() if isinstance(m, PTv3Block)]
    assert blocks and not any(block.recompute_mlp for block in blocks)
    default = side_by_side.build_model('ours', args)
    assert all(block.recompute_mlp for block in default.modules()
               if isinstance(block, PTv3Block))


def test_a_child_killed_for_memory_is_reported_as_such(monkeypatch):
    killed = subprocess.CompletedProcess([], -9, stdout='', stderr='warn\n')
    monkeypatch.setattr(side_by_side.subprocess, 'run', lambda *a, **k: killed)
    args = side_by_side.parse_args(['--reference-root', '.'])
    result = side_by_side.measure_peak_rss('reference', 'fwdbwd', 100, args)
    assert 'SIGKILL' in result['error'] and 'out of memory' in result['error']
    assert side_by_side.format_rss(result) == 'OOM'
