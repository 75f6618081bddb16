# Copyright (c) OpenMMLab. All rights reserved.
"""Jobs made of stages that run this repository's tools in subprocesses.

The machinery shared by ``tools/run_demo.py`` and ``tools/ablate.py``. A
:class:`StagedJob` owns a work directory::

    <work-dir>/logs/<stage>.log     output of the stage's commands
    <work-dir>/done/<stage>         marker: the stage finished
    <work-dir>/stage_times.json     wall and CPU time (s) of every finished
                                    stage
    <work-dir>/configs/<name>.py    the exact configs the stages ran

Stage names may hold ``/`` (``softmap-a1.3/pretrain``); they then map to
sub-folders of ``logs/`` and ``done/``. Running the job again skips every
stage that has its marker, so an interrupted job continues at its first
unfinished stage; the training commands get ``--resume`` and continue from
their last checkpoint.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import _bootstrap  # noqa: F401  (repository root first on sys.path)
from mmengine.config import Config

ROOT = _bootstrap.REPO_ROOT
# Logger lines echoed while a stage runs (its whole output is in the log).
# Stage name -> its work, in running order.
Stages = Dict[str, Callable[[], None]]
PROGRESS_KEYS = ('Iter(train)', 'Epoch(train)', 'Epoch(val)', 'Epoch(test)',
                 'scene ', 'wrote', 'Saving checkpoint', 'mIoU', 'NDS')


def load_config(config: str, data_root: Optional[str] = None) -> Config:
    """Load a config, optionally pointed at another dataset root.

    The root is replaced textually: every string of the resolved config that
    starts with the config's own top-level ``data_root`` (the dataset's
    ``data_root``, GT-database paths, ...) is rewritten to start with the
    absolute path of ``data_root`` instead, so the config reads the same
    files from any working directory.

    Args:
        config (str): Config file, absolute or relative to the repository
            root.
        data_root (str, optional): Dataset root to use instead of the
            config's ``data_root`` (relative: to the repository root).
            Defaults to None (keep it).

    Returns:
        Config: The loaded config.

    Raises:
        FileNotFoundError: ``config`` does not exist.
        ValueError: ``data_root`` is given but the config names no
            top-level ``data_root``.
    """
    path = config if osp.isabs(config) else osp.join(ROOT, config)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {config} does not exist')
    cfg = Config.fromfile(path)
    if data_root is None:
        return cfg
    if not isinstance(cfg.get('data_root'), str):
        raise ValueError(f'config {config} has no top-level data_root, so '
                         f'the dataset root {data_root} cannot be put in')
    old = cfg.data_root.rstrip('/')
    new = osp.abspath(osp.join(ROOT, data_root)).rstrip('/')
    if old == new:
        return cfg
    text = cfg.pretty_text
    for before, after in ((f"'{old}/", f"'{new}/"), (f"'{old}'", f"'{new}'")):
        text = text.replace(before, after)
    moved = Config.fromstring(text, file_format='.py')
    # keep the file name for messages (fromstring leaves a temporary one)
    return Config(moved.to_dict(), cfg_text=text, filename=path)


def use_config_registries(cfg: Config) -> None:
    """Make the registries of ``cfg`` usable outside a Runner: import its
    ``custom_imports`` (which register the project's modules) and make its
    ``default_scope`` (mmdet3d by default) the current scope."""
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children.
    """
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class StagedJob:
    """A work directory and the stages that fill it.

    Args:
        work_dir (str): Where logs, markers, configs and results go.
        gpus (int): Processes per training / test command. With more than
            one, ``tools/dist_run.sh`` launches them (``torchrun``,
            ``--launcher pytorch``). Defaults to 1 (a plain process, which
            uses a GPU when there is one).
    """

    def __init__(self, work_dir: str, gpus: int = 1) -> None:
        if gpus < 1:
            raise ValueError(f'gpus must be >= 1, got {gpus}')
        self.work_dir = osp.abspath(work_dir)
        self.gpus = gpus

    # ------------------------------------------------------------ commands
    def path(self, *parts: str) -> str:
        """Path inside the work directory."""
        return osp.join(self.work_dir, *parts)

    def run(self, stage: str, args: List[str]) -> None:
        """Run ``python args...`` from the repository root.

        The output is appended to ``logs/<stage>.log``; logger summary lines
        (:data:`PROGRESS_KEYS`) are echoed, shortened.

        Args:
            stage (str): Stage name (names the log).
            args (list[str]): Script (relative to the repository root) and
                its arguments.

        Raises:
            RuntimeError: The command failed; names the command and its log.
        """
        self._run_command(stage, [sys.executable] + args)

    def run_runner_tool(self, stage: str, args: List[str]) -> None:
        """Run ``tools/train.py`` or ``tools/test.py`` (``args[0]``) on
        ``gpus`` processes: like :meth:`run` for one, through
        ``tools/dist_run.sh`` with ``--launcher pytorch`` for several."""
        if self.gpus == 1:
            self.run(stage, args)
            return
        script = osp.relpath(args[0], 'tools')
        self._run_command(
            stage,
            ['bash', 'tools/dist_run.sh',
             str(self.gpus), script] + args[1:] + ['--launcher', 'pytorch'],
            env=dict(os.environ, PYTHON=sys.executable))

    def _run_command(self,
                     stage: str,
                     cmd: List[str],
                     env: Optional[Mapping[str, str]] = None) -> None:
        """Run ``cmd`` from the repository root, logging and echoing it."""
        log_file = self.path('logs', f'{stage}.log')
        os.makedirs(osp.dirname(log_file), exist_ok=True)
        with open(log_file, 'a') as log:
            log.write(f'$ {" ".join(cmd)}\n')
            log.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True)
            for line in proc.stdout:
                log.write(line)
                if self.is_progress(line):
                    # drop mmengine's "date time - mmengine - INFO - "
                    message = line.rstrip().split(' - ')[-1]
                    print(f'    {message[:160]}', flush=True)
            proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(
                f'stage {stage!r} failed (exit {proc.returncode}): '
                f'{" ".join(cmd)}\n  see {log_file}')

    @staticmethod
    def is_progress(line: str) -> bool:
        """Lines worth echoing while a stage runs (logger summaries)."""
        return (any(k in line for k in PROGRESS_KEYS)
                and 'Exception' not in line)

    def train_and_test(self, stage: str, config: str, work_dir: str,
                       metrics_file: str, train_args: Sequence[str]) -> None:
        """Train ``config`` in ``work_dir`` (resuming), then evaluate its last
        checkpoint with ``tools/test.py --metrics-out metrics_file``.

        Args:
            stage (str): Stage name (names the log).
            config (str): Config file.
            work_dir (str): Training work directory.
            metrics_file (str): JSON file the test metrics go to.
            train_args (Sequence[str]): More ``tools/train.py`` flags
                (e.g. ``--amp``).
        """
        self.run_runner_tool(
            stage,
            ['tools/train.py', config, '--work-dir', work_dir, '--resume'] +
            list(train_args))
        self.run_runner_tool(stage, [
            'tools/test.py', config,
            self.last_checkpoint(work_dir), '--work-dir', work_dir,
            '--metrics-out', metrics_file
        ])

    def synthetic_data_stages(self, data_root: str,
                              size: Sequence[str]) -> Stages:
        """Stages ``data`` and ``convert``: the synthetic nuScenes v1.0-mini
        release (``tools/make_synthetic_nuscenes.py``) and its info pkls and
        GT database (mmdet3d's converters, ``tools/create_data.py``).

        Args:
            data_root (str): Where the release is written.
            size (Sequence[str]): ``make_synthetic_nuscenes.py`` size flags
                (e.g. ``--scenes 2``; none: its default size).

        Returns:
            Stages: The two stages, in order.
        """
        return {
            'data':
            lambda: self.run('data', [
                'tools/make_synthetic_nuscenes.py', '--out', data_root, *size
            ]),
            'convert':
            lambda: self.run('convert', [
                'tools/create_data.py', 'nuscenes', '--root-path', data_root,
                '--out-dir', data_root, '--extra-tag', 'nuscenes', '--version',
                'v1.0-mini', '--max-sweeps', '0'
            ]),
        }

    # -------------------------------------------------------------- files
    @staticmethod
    def last_checkpoint(work_dir: str) -> str:
        """The checkpoint mmengine recorded last in ``work_dir``."""
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip()

    def read_json(self, *parts: str) -> dict:
        """Load a JSON file from the work directory."""
        with open(self.path(*parts)) as f:
            return json.load(f)

    def write_config(self, cfg: Config, name: str) -> str:
        """Dump ``cfg`` to ``configs/<name>.py`` (the record of what ran).

        Returns:
            str: Path of the written config.
        """
        path = self.path('configs', f'{name}.py')
        os.makedirs(osp.dirname(path), exist_ok=True)
        cfg.dump(path)
        return path

    def derived_config(
            self,
            name: str,
            config: str,
            data_root: Optional[str] = None,
            overrides: Optional[Mapping[str, object]] = None) -> str:
        """Write ``config`` with another dataset root (:func:`load_config`)
        and ``overrides`` (``--cfg-options`` style, dotted keys) merged.

        Returns:
            str: Path of ``configs/<name>.py``.
        """
        cfg = load_config(config, data_root)
        cfg.merge_from_dict(dict(overrides or {}))
        return self.write_config(cfg, name)

    # ------------------------------------------------------------- stages
    def stage_times(self) -> Dict[str, Dict[str, float]]:
        """Times of every finished stage, from ``stage_times.json``.

        Returns:
            dict[str, dict[str, float]]: Stage -> ``wall`` (s) and ``cpu``
            (s of user + system time of this process and the commands it
            ran; on a machine shared with other jobs it is the better guide
            to the wall time on a quiet one).
        """
        path = self.path('stage_times.json')
        if not osp.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def run_stages(self, stages: Stages, start: Optional[str] = None) -> None:
        """Run every stage that has no done marker, in order.

        Each stage prints ``[i/N] name ...`` and its wall time; wall and CPU
        times are recorded in ``stage_times.json`` (:meth:`stage_times`).

        Args:
            stages (Stages): Stage name -> its work, in running order.
            start (str, optional): Re-run this stage and every later one
                (their markers are removed). Defaults to None.

        Raises:
            ValueError: ``start`` is not a stage name.
        """
        names = list(stages)
        if start is not None and start not in stages:
            raise ValueError(f'--from {start!r}: not a stage; stages are '
                             f'{", ".join(names)}')
        first = names.index(start) if start is not None else len(names)
        for name in names[first:]:
            marker = self.path('done', name)
            if osp.exists(marker):
                os.remove(marker)
        times = self.stage_times()
        for i, name in enumerate(names):
            tag = f'[{i + 1}/{len(names)}] {name}'
            marker = self.path('done', name)
            if osp.exists(marker):
                print(f'{tag}: done before, skipped')
                continue
            print(f'{tag} ...', flush=True)
            t0, cpu0 = time.time(), cpu_seconds()
            stages[name]()
            times[name] = dict(
                wall=round(time.time() - t0, 1),
                cpu=round(cpu_seconds() - cpu0, 1))
            os.makedirs(osp.dirname(marker), exist_ok=True)
            open(marker, 'w').close()
            with open(self.path('stage_times.json'), 'w') as f:
                json.dump(times, f, indent=2)
            print(
                f'{tag}: {times[name]["wall"]:.0f} s '
                f'(CPU {times[name]["cpu"]:.0f} s)',
                flush=True)
