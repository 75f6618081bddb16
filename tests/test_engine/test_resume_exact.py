# Copyright (c) OpenMMLab. All rights reserved.
"""``tools/train.py --resume`` continues the exact trajectory.

Pretraining of 6 iterations is run uninterrupted, and killed (SIGKILL) once
the iteration-3 checkpoint is written then resumed from it, in deterministic
mode on the tiny synthetic nuScenes set. The per-iteration losses of
iterations 4-6 and the final student, teacher (EMA) and prototype weights
must be equal, which needs the data order, the data pipeline's numpy draws,
PTv3's order shuffles (torch) and the schedules to continue where they
stopped (``RandomStateCheckpointHook``).
"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch

MAX_ITERS = 6
STOP_ITER = 3


def _train_command(repo_root: Path, config: Path, work_dir: Path, *extra:
                   str) -> List[str]:
    return [
        sys.executable,
        str(repo_root / 'tools' / 'train.py'),
        str(config), '--work-dir',
        str(work_dir), *extra, '--cfg-options',
        f'train_cfg.max_iters={MAX_ITERS}'
    ]


def _train(command: List[str], cwd: Path) -> None:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def _saved_iter(last_checkpoint: Path) -> int:
    """Iteration of the checkpoint named in ``last_checkpoint`` (0: none)."""
    if not last_checkpoint.is_file():
        return 0
    name = Path(last_checkpoint.read_text().strip()).stem  # iter_<n>
    return int(name.split('_')[1]) if name.startswith('iter_') else 0


def _train_and_kill(command: List[str], cwd: Path, checkpoint: Path) -> None:
    """Run ``command`` and SIGKILL it once the ``STOP_ITER`` checkpoint is
    complete.

    mmengine's CheckpointHook writes ``last_checkpoint`` after the
    checkpoint file, so ``checkpoint`` is complete once ``last_checkpoint``
    names it (or a later one, if training went on before the kill).
    """
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 300
    try:
        while (process.poll() is None and time.monotonic() < deadline and
               _saved_iter(checkpoint.parent / 'last_checkpoint') < STOP_ITER):
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
    assert process.returncode in (0, -signal.SIGKILL), stderr[-3000:]
    assert checkpoint.is_file(), stderr[-3000:]


def _losses(run_dir: Path) -> Dict[int, float]:
    """``loss`` per iteration from one run's ``vis_data/scalars.json``."""
    losses = {}
    scalars = run_dir / 'vis_data' / 'scalars.json'
    for line in scalars.read_text().splitlines():
        record = json.loads(line)
        if 'loss' in record:
            losses[record['iter']] = record['loss']
    return losses


def _last_run(work_dir: Path) -> Path:
    """The newest ``<timestamp>`` log directory of ``work_dir``."""
    return max(path for path in work_dir.iterdir() if path.is_dir())


def _weights(checkpoint: Path) -> Dict[str, torch.Tensor]:
    return torch.load(
        str(checkpoint), map_location='cpu', weights_only=False)['state_dict']


def test_resumed_run_equals_uninterrupted_run(tmp_path, repo_root,
                                              tiny_pretrain_config):
    config = tiny_pretrain_config
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    checkpoint = resumed / f'iter_{STOP_ITER}.pth'
    _train(_train_command(repo_root, config, straight), repo_root)
    _train_and_kill(
        _train_command(repo_root, config, resumed), repo_root, checkpoint)
    _train(
        _train_command(repo_root, config, resumed, '--resume',
                       str(checkpoint)), repo_root)

    expected = _losses(_last_run(straight))
    got = _losses(_last_run(resumed))
    later: List[int] = list(range(STOP_ITER + 1, MAX_ITERS + 1))
    assert sorted(expected) == list(range(1, MAX_ITERS + 1))
    assert [got.get(i) for i in later] == [expected[i] for i in later]

    final = f'iter_{MAX_ITERS}.pth'
    expected_weights = _weights(straight / final)
    got_weights = _weights(resumed / final)
    assert set(got_weights) == set(expected_weights)
    parts = ('backbone.', 'head.prototypes', 'teacher.module.backbone.',
             'teacher.module.head.prototypes', 'teacher.steps')
    for part in parts:
        assert any(key.startswith(part) for key in expected_weights), part
    different = [
        key for key, value in expected_weights.items()
        if not torch.equal(value, got_weights[key])
    ]
    assert not different, different[:10]
