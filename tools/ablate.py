# Copyright (c) OpenMMLab. All rights reserved.
"""DOS ablations: the paper's Table 5 ladder and its Zipf-exponent sweep.

Every run is pretrained on the same data with the same budget and seed, its
student backbone exported, then linear-probed with the same protocol; the
results are printed as one table in the paper's layout (arXiv 2512.11465,
Table 5: masking / target / prior blocks; Tables 8 and 9: mIoU and
head / common / tail mIoU against the Zipf exponent alpha) and written to
``<work-dir>/ablation.{md,json}``::

    python tools/ablate.py                            # synthetic set, CPU
    python tools/ablate.py --variants random softmap-a0 softmap-a1.3
    CFG=projects/DOS/configs                          # full scale:
    python tools/ablate.py --pretrain-config $CFG/dos_pretrain_nus.py \\
        --probe-config $CFG/dos-ptv3_lp_1xb8-50e_nus-lidarseg.py \\
        --data-root data/nuscenes --gpus 2 --amp

Runs (``--variants`` picks a subset). Table 5 is incremental: its masking
block uses the online clustering target with a uniform prior (the paper's
"standard masked self-distillation baseline"), its target block observable
masking with a uniform prior, its last block the softmap target with
observable masking. Rows that are the same model share one run:

    random         no pretraining: the probe on a random, frozen backbone
    naive          naive masking (mask token), clustering, alpha 0
    token-jitter   token-jitter masking, clustering, alpha 0
    observable     observable masking, clustering, alpha 0   (also the
                   "clustering" row)
    regression     observable masking, feature regression
    softmap-a<A>   observable masking, softmap, Zipf-Sinkhorn alpha A for
                   every A of ``--alphas`` and 0 and 1.3 (softmap-a0 is the
                   "softmap" and "uniform" rows, softmap-a1.3 full DOS)

Stages (``tools/_stages.py``: logs, done markers, resume; the configs each
run trained with are kept in ``<work-dir>/configs/``)::

    data, convert     only when the default synthetic root has no infos yet
    class-splits      point count of every class in the probe's train split
                      -> head / common / tail (``class_splits.json``)
    <run>/pretrain    tools/train.py on the pretraining config + the variant
    <run>/export      tools/convert_dos_ckpt.py (student backbone)
    <run>/probe       tools/train.py + tools/test.py on the probe config
                      -> ``metrics/<run>.json`` (LongTailSegMetric)

An interrupted ablation run again with the same arguments continues at the
first unfinished stage of the first unfinished run.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from _runner_cli import json_safe
from _stages import ROOT, StagedJob, Stages, load_config, use_config_registries
from mmengine.config import Config, DictAction

CFG_DIR = osp.join('projects', 'DOS', 'configs')
DEFAULT_PRETRAIN_CONFIG = osp.join(CFG_DIR, 'dos_pretrain_synthetic.py')
DEFAULT_PROBE_CONFIG = osp.join(
    CFG_DIR, 'dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py')
SYNTHETIC_ROOT = osp.join(ROOT, 'data', 'synthetic_nuscenes')
# Budgets of the default (synthetic, CPU) ablation; other configs train for
# their own length unless told otherwise.
DEFAULT_PRETRAIN_ITERS = 200
DEFAULT_PROBE_EPOCHS = 2
# ... and views cropped to 2048 points (the demo pretrains on 8192): a naive
# (mask token) run then costs about 0.5 CPU s per iteration instead of 2, and
# the ten default runs fit in the hour on 2 CPU cores.
DEFAULT_PRETRAIN_CROP_POINTS = 2048
DEFAULT_ALPHAS = (0.0, 0.6, 1.3, 1.6, 2.0)
DOS_ALPHA = 1.3
CLASS_GROUPS = ('head', 'common', 'tail')
# Scheduler fields measured in the loop's unit, stretched with the budget.
SCHEDULE_FIELDS = ('begin', 'end', 'T_max')

# Paper values (nuScenes LP mIoU, Table 5; ScanNet / ScanNet200 LP mIoU,
# Table 8; ScanNet200 head / common / tail LP mIoU, Table 9).
PAPER_TABLE8 = {
    0.0: (71.9, 27.9),
    0.1: (72.2, 28.1),
    0.3: (71.9, 28.2),
    0.6: (72.3, 28.6),
    0.9: (72.5, 28.7),
    1.3: (72.8, 29.1),
    1.6: (72.4, 29.2),
    2.0: (71.9, 29.0),
    3.0: (69.8, 27.7),
}
PAPER_TABLE9 = {0.0: (50.4, 20.5, 10.6), 1.3: (50.8, 23.5, 13.2)}


@dataclass(frozen=True)
class Variant:
    """One run of the ablation: a DOS pretraining setting, or none.

    Attributes:
        name (str): Run name (work sub-folder, ``--variants`` value).
        masking (str, optional): ``DOS.masking``; None for the randomly
            initialised baseline (no pretraining).
        target (str, optional): ``DOS.target``.
        alpha (float, optional): Zipf exponent of ``DOS.sinkhorn``.
    """
    name: str
    masking: Optional[str] = None
    target: Optional[str] = None
    alpha: Optional[float] = None

    @property
    def pretrained(self) -> bool:
        """Whether the run pretrains (False for the random baseline)."""
        return self.masking is not None

    def model_overrides(self) -> Dict[str, object]:
        """The pretraining config keys (dotted) that make this variant.

        The backbone's learned mask token is set explicitly: the naive and
        token-jitter maskings need it, observable masking must not have it.
        """
        return {
            'model.masking': self.masking,
            'model.target': self.target,
            'model.sinkhorn.alpha': self.alpha,
            'model.backbone.mask_token': self.masking != 'observable',
        }


def softmap_run(alpha: float) -> str:
    """Name of the observable-softmap run with Zipf exponent ``alpha``."""
    return f'softmap-a{alpha:g}'


# Table 5 in the paper's layout, one (block, row, run, paper mIoU) per row.
TABLE5: Tuple[Tuple[str, str, str, float], ...] = (
    ('Masked self-distillation', 'naive', 'naive', 54.7),
    ('Masked self-distillation', 'token jitter', 'token-jitter', 55.1),
    ('Masked self-distillation', 'observable (ours)', 'observable', 69.3),
    ('Training target', 'clustering', 'observable', 69.3),
    ('Training target', 'feature regression', 'regression', 63.0),
    ('Training target', 'softmap (ours)', softmap_run(0.0), 72.3),
    ('+ Zipf prior', 'uniform (alpha = 0)', softmap_run(0.0), 72.3),
    ('+ Zipf prior', f'alpha = {DOS_ALPHA:g}', softmap_run(DOS_ALPHA), 74.1),
)
TABLE5_BLOCKS = tuple(dict.fromkeys(block for block, *_ in TABLE5))
# Table columns -> SegMetric keys.
PROBE_METRICS = (('miou', 'miou'), ('macc', 'acc_cls'), ('acc', 'acc'))


def build_variants(alphas: Sequence[float]) -> Dict[str, Variant]:
    """Every run: the random baseline, Table 5's and the alpha sweep's.

    Args:
        alphas (Sequence[float]): Zipf exponents of the sweep (Tables 8, 9);
            0 and 1.3 (Table 5) are always included.

    Returns:
        dict[str, Variant]: Run name -> variant, in running order.

    Raises:
        ValueError: An alpha is negative or not finite.
    """
    for alpha in alphas:
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f'--alphas: {alpha} is not a Zipf exponent '
                             '(finite, >= 0)')
    runs = [
        Variant('random'),
        Variant('naive', 'naive', 'clustering', 0.0),
        Variant('token-jitter', 'token_jitter', 'clustering', 0.0),
        Variant('observable', 'observable', 'clustering', 0.0),
        Variant('regression', 'observable', 'regression', 0.0),
    ]
    for alpha in sorted({0.0, DOS_ALPHA, *map(float, alphas)}):
        runs.append(
            Variant(softmap_run(alpha), 'observable', 'softmap', alpha))
    return {run.name: run for run in runs}


def select_variants(variants: Dict[str, Variant],
                    names: Optional[Sequence[str]]) -> List[Variant]:
    """The runs named in ``names`` (all when None), in running order.

    Raises:
        ValueError: A name is not a run; the message lists the runs.
    """
    if names is None:
        return list(variants.values())
    unknown = [name for name in names if name not in variants]
    if unknown:
        raise ValueError(f'--variants: unknown {unknown}; the runs are '
                         f'{", ".join(variants)} (softmap-a<alpha> for the '
                         'alphas of --alphas)')
    return [run for name, run in variants.items() if name in names]


def set_train_length(cfg: Config, length: int, unit: str, option: str) -> None:
    """Train ``cfg`` for ``length`` iterations or epochs, its parameter
    schedule stretched to the new length.

    ``begin``, ``end`` and ``T_max`` of every ``param_scheduler`` entry are
    multiplied by ``length / old length``, so warm-up and decay keep their
    share of the run. Entries converted to iterations
    (``convert_to_iter_based``) keep fractional epochs (mmengine multiplies
    them by the epoch length); the others are rounded to whole iterations or
    epochs, and an entry whose span rounds to nothing (a warm-up shorter
    than one step) is dropped.

    Args:
        cfg (Config): A training config (changed in place).
        length (int): New ``max_iters`` or ``max_epochs``.
        unit (str): ``'iters'`` or ``'epochs'``: must be the unit of the
            config's train loop.
        option (str): The command-line option, for error messages.

    Raises:
        ValueError: ``length`` < 1, or the loop counts in the other unit.
    """
    if length < 1:
        raise ValueError(f'{option} must be >= 1, got {length}')
    key = f'max_{unit}'
    if key not in cfg.train_cfg:
        other = 'epochs' if unit == 'iters' else 'iters'
        raise ValueError(
            f'{option} {length}: {cfg.filename} trains for '
            f'{other} (train_cfg={dict(cfg.train_cfg)}); use the {other} '
            'option instead')
    scale = length / cfg.train_cfg[key]
    cfg.train_cfg[key] = length
    schedulers = cfg.get('param_scheduler') or []
    if not isinstance(schedulers, list):
        schedulers = [schedulers]
    stretched = []
    for scheduler in schedulers:
        fractional = (
            scheduler.get('by_epoch', True)
            and scheduler.get('convert_to_iter_based', False))
        for field in SCHEDULE_FIELDS:
            if field in scheduler:
                value = scheduler[field] * scale
                scheduler[field] = value if fractional else round(value)
        if fractional or scheduler.get('end', math.inf) > scheduler.get(
                'begin', 0):
            stretched.append(scheduler)
    cfg.param_scheduler = stretched


def train_class_counts(cfg: Config) -> Tuple[List[str], np.ndarray]:
    """Labelled points per class in the train split of a segmentation config.

    The train dataset is built with only its label transforms
    (``LoadAnnotations3D`` and ``PointSegClassMapping``), so the counts are
    of the mapped labels the probe trains on; ignored points are left out.

    Args:
        cfg (Config): Segmentation config (its ``train_dataloader.dataset``).

    Returns:
        tuple[list[str], np.ndarray]: The dataset's class names and the
        (C,) int64 point count of each.

    Raises:
        ValueError: The train pipeline has no ``LoadAnnotations3D``.
    """
    from mmdet3d.registry import DATASETS
    use_config_registries(cfg)
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    label_steps = [
        step for step in dataset_cfg.pipeline
        if step['type'] in ('LoadAnnotations3D', 'PointSegClassMapping')
    ]
    if not any(step['type'] == 'LoadAnnotations3D' for step in label_steps):
        raise ValueError(f'{cfg.filename}: train_dataloader.dataset.pipeline '
                         'has no LoadAnnotations3D, so the class frequencies '
                         'cannot be counted')
    dataset_cfg.pipeline = label_steps
    dataset = DATASETS.build(dataset_cfg)
    classes = list(dataset.metainfo['classes'])
    counts = np.zeros(len(classes), dtype=np.int64)
    for index in range(len(dataset)):
        labels = np.asarray(dataset[index]['pts_semantic_mask'])
        labels = labels[(labels >= 0) & (labels < len(classes))]
        counts += np.bincount(labels, minlength=len(classes))
    return classes, counts


def frequency_splits(classes: Sequence[str],
                     counts: np.ndarray) -> Dict[str, List[str]]:
    """Head / common / tail classes by training point count.

    The rule: classes ranked by count (descending, ties in class order);
    the first ``C // 3`` are head, the last ``C // 3`` tail, the rest common
    (16 classes: 5 / 6 / 5; ScanNet200's 200: 66 / 68 / 66 as in the
    paper's Table 9).

    Args:
        classes (Sequence[str]): Class names, C of them (C >= 3).
        counts (np.ndarray): (C,) point counts.

    Returns:
        dict[str, list[str]]: ``head``, ``common``, ``tail`` class names,
        most frequent first.
    """
    if len(classes) < 3 or len(classes) != len(counts):
        raise ValueError(f'need >= 3 classes with one count each, got '
                         f'{len(classes)} classes and {len(counts)} counts')
    order = sorted(range(len(classes)), key=lambda i: (-counts[i], i))
    ranked = [classes[i] for i in order]
    third = len(classes) // 3
    return dict(
        head=ranked[:third],
        common=ranked[third:len(ranked) - third],
        tail=ranked[len(ranked) - third:])


def percent(metrics: Optional[dict], key: str) -> Optional[float]:
    """``metrics[key]`` in %, or None where the run or the value is missing
    (a class group without a defined IoU is NaN in the metric)."""
    if metrics is None or metrics.get(key) is None:
        return None
    value = float(metrics[key])
    return None if math.isnan(value) else round(100 * value, 2)


def cell(value: Optional[float]) -> str:
    """Markdown cell of a value in % (``-`` where there is none)."""
    return '-' if value is None else f'{value:.2f}'


# (row, our value or None, paper value)
RankedRow = Tuple[str, Optional[float], float]


def time_cell(times: Optional[Dict[str, float]]) -> str:
    """``wall (cpu)`` seconds of a stage (``-`` where it has not run)."""
    if times is None:
        return '-'
    return f"{times['wall']:.0f} ({times['cpu']:.0f})"


def ordering_note(name: str, rows: Sequence[RankedRow]) -> Optional[str]:
    """One line comparing the ranking of ``rows`` with the paper's.

    Args:
        name (str): What is compared (block name).
        rows (Sequence[RankedRow]): ``(row, our value, paper value)``.

    Returns:
        str | None: ``"<name>: here a < b < c; paper a < c < b: differs"``,
        or None when a row has no value.
    """
    if any(ours is None for _, ours, _ in rows):
        return None
    ours = ' < '.join(row for row, _, _ in sorted(rows, key=lambda r: r[1]))
    paper = ' < '.join(row for row, _, _ in sorted(rows, key=lambda r: r[2]))
    verdict = 'same order' if ours == paper else 'DIFFERS'
    return f'{name}: here {ours}; paper {paper}: {verdict}'


class Ablation(StagedJob):
    """The stages of one ablation and its summary.

    Args:
        work_dir (str): Where runs, logs, metrics and the tables go.
        variants (Sequence[Variant]): The runs, in order.
        pretrain_config (str): DOS pretraining config.
        probe_config (str): Linear-probe (segmentation) config.
        data_root (str, optional): Dataset root of both configs; None: the
            probe config's. The default synthetic root is generated when it
            has no info files.
        pretrain_length (tuple[int, str], optional): ``(n, 'iters' |
            'epochs')`` of pretraining; None keeps the config's.
        probe_length (tuple[int, str], optional): The same for the probe.
        seed (int): ``randomness.seed`` of every run.
        gpus (int): Processes per training / test command.
        amp (bool): Pass ``--amp`` to every training command.
        pretrain_options (dict, optional): ``--cfg-options`` of pretraining.
        probe_options (dict, optional): ``--cfg-options`` of the probes.
    """

    def __init__(self,
                 work_dir: str,
                 variants: Sequence[Variant],
                 pretrain_config: str = DEFAULT_PRETRAIN_CONFIG,
                 probe_config: str = DEFAULT_PROBE_CONFIG,
                 data_root: Optional[str] = None,
                 pretrain_length: Optional[Tuple[int, str]] = None,
                 probe_length: Optional[Tuple[int, str]] = None,
                 seed: int = 0,
                 gpus: int = 1,
                 amp: bool = False,
                 pretrain_options: Optional[dict] = None,
                 probe_options: Optional[dict] = None) -> None:
        super().__init__(work_dir, gpus)
        if not variants:
            raise ValueError('no variants to run')
        self.variants = list(variants)
        self.pretrain_config = pretrain_config
        self.probe_config = probe_config
        self.pretrain_length = pretrain_length
        self.probe_length = probe_length
        self.seed = seed
        self.amp = amp
        self.pretrain_options = dict(pretrain_options or {})
        self.probe_options = dict(probe_options or {})
        self.data_root = self._dataset_root(data_root)
        self.settings = dict(
            pretrain_config=pretrain_config,
            probe_config=probe_config,
            data_root=self.data_root,
            pretrain_length=pretrain_length,
            probe_length=probe_length,
            seed=seed,
            amp=amp,
            pretrain_options=self.pretrain_options,
            probe_options=self.probe_options)
        self.stages = self._stages()

    # ---------------------------------------------------------- checking
    def _dataset_root(self, data_root: Optional[str]) -> str:
        """The dataset root of both configs (so that pretraining and probe
        read the same data), checked.

        Args:
            data_root (str, optional): The given root; None: the probe
                config's.

        Returns:
            str: The absolute root.

        Raises:
            ValueError: The root or an info file the configs name is
                missing (unless it is the synthetic root, then generated).
        """
        if data_root is None:
            data_root = load_config(self.probe_config).get('data_root')
            if not isinstance(data_root, str):
                raise ValueError(f'{self.probe_config} names no data_root: '
                                 'give --data-root')
        root = osp.abspath(osp.join(ROOT, data_root)).rstrip('/')
        if root == SYNTHETIC_ROOT:
            return root
        if not osp.isdir(root):
            raise ValueError(f'--data-root {root} does not exist')
        probe = load_config(self.probe_config, root)
        pretrain = load_config(self.pretrain_config, root)
        splits = ((pretrain, 'train'), (probe, 'train'), (probe, 'test'))
        for cfg, split in splits:
            dataset = cfg[f'{split}_dataloader'].dataset
            ann_file = osp.join(ROOT, dataset.data_root, dataset.ann_file)
            if not osp.isfile(ann_file):
                raise ValueError(
                    f'{cfg.filename}: {split} annotation file {ann_file} '
                    f'does not exist (make the info files of {root} with '
                    'tools/create_data.py)')
        return root

    def _check_settings(self) -> None:
        """Refuse a work directory made with other settings (its finished
        stages would mix budgets); record the settings in a new one."""
        path = self.path('settings.json')
        settings = json.loads(json.dumps(self.settings))
        if osp.exists(path):
            recorded = self.read_json('settings.json')
            changed = sorted(
                key for key in set(recorded) | set(settings)
                if recorded.get(key) != settings.get(key))
            if changed:
                raise ValueError(
                    f'--work-dir {self.work_dir} holds an ablation with other '
                    f'settings ({", ".join(changed)} differ: '
                    f'{ {k: recorded.get(k) for k in changed} }); use another '
                    '--work-dir')
        os.makedirs(self.work_dir, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(settings, f, indent=2)

    # ------------------------------------------------------------ stages
    def _stages(self) -> Stages:
        """Stage name -> work, in running order."""
        stages: Stages = {}
        infos = osp.join(self.data_root, 'nuscenes_infos_train.pkl')
        if self.data_root == SYNTHETIC_ROOT and not osp.isfile(infos):
            stages.update(self.synthetic_data_stages(self.data_root, ()))
        stages['class-splits'] = self.class_splits
        for run in self.variants:
            if run.pretrained:
                stages[f'{run.name}/pretrain'] = (
                    lambda run=run: self.pretrain(run))
                stages[f'{run.name}/export'] = (
                    lambda run=run: self.export(run))
            stages[f'{run.name}/probe'] = lambda run=run: self.probe(run)
        return stages

    def _config(self, config: str, options: dict,
                length: Optional[Tuple[int, str]], option: str) -> Config:
        """``config`` on the dataset root with the user's options, the
        budget and the seed."""
        cfg = load_config(config, self.data_root)
        cfg.merge_from_dict(options)
        if length is not None:
            set_train_length(cfg, length[0], length[1],
                             f'{option}-{length[1]}')
        cfg.merge_from_dict({'randomness.seed': self.seed})
        return cfg

    def class_splits(self) -> None:
        """Count the probe's training labels per class; write the head /
        common / tail split (:func:`frequency_splits`)."""
        cfg = load_config(self.probe_config, self.data_root)
        classes, counts = train_class_counts(cfg)
        splits = frequency_splits(classes, counts)
        record = dict(
            rule='classes ranked by labelled points in the probe train split; '
            'head = first C // 3, tail = last C // 3, common = the rest',
            points=dict(zip(classes, counts.tolist())),
            splits=splits)
        with open(self.path('class_splits.json'), 'w') as f:
            json.dump(record, f, indent=2)
        for group in CLASS_GROUPS:
            print(f'    {group}: {", ".join(splits[group])}')

    def pretrain_cfg(self, run: Variant) -> Config:
        """The pretraining config of ``run``: the pretraining config on the
        dataset root, with the user's options, the budget, the seed and the
        variant's masking / target / alpha."""
        cfg = self._config(self.pretrain_config, self.pretrain_options,
                           self.pretrain_length, '--pretrain')
        cfg.merge_from_dict(run.model_overrides())
        return cfg

    def pretrain(self, run: Variant) -> None:
        """DOS pretraining of one variant."""
        config = self.write_config(
            self.pretrain_cfg(run), f'{run.name}/pretrain')
        self.run_runner_tool(f'{run.name}/pretrain', [
            'tools/train.py', config, '--work-dir',
            self.path(run.name, 'pretrain'), '--resume'
        ] + (['--amp'] if self.amp else []))

    def export(self, run: Variant) -> None:
        """The student backbone of the run's last checkpoint."""
        self.run(f'{run.name}/export', [
            'tools/convert_dos_ckpt.py', '--src',
            self.last_checkpoint(self.path(run.name, 'pretrain')), '--which',
            'student', '--dst',
            self.path(run.name, 'backbone.pth')
        ])

    def probe_cfg(self, run: Variant) -> Config:
        """The linear-probe config of ``run``.

        The probe config on the dataset root with the user's options, the
        budget and the seed; the backbone initialised from the run's export
        (randomly for ``random``); no validation while training (the probe is
        evaluated at its last epoch: no checkpoint selection on the
        evaluation split); the test metric :class:`LongTailSegMetric` with
        the head / common / tail groups of ``class_splits.json``.

        Raises:
            ValueError: The probe config's ``test_evaluator`` is not one
                metric.
        """
        cfg = self._config(self.probe_config, self.probe_options,
                           self.probe_length, '--probe')
        if not isinstance(cfg.get('test_evaluator'), dict):
            raise ValueError(f'{cfg.filename}: test_evaluator must be one '
                             f'metric, got {cfg.get("test_evaluator")!r}')
        init = (
            dict(
                type='Pretrained',
                checkpoint=self.path(run.name, 'backbone.pth'))
            if run.pretrained else None)
        splits = self.read_json('class_splits.json')['splits']
        cfg.merge_from_dict({
            'model.backbone.init_cfg': init,
            'val_cfg': None,
            'val_dataloader': None,
            'val_evaluator': None,
            'default_hooks.checkpoint.save_best': None,
            'test_evaluator.type': 'LongTailSegMetric',
            'test_evaluator.class_splits': splits,
        })
        return cfg

    def probe(self, run: Variant) -> None:
        """Linear probe of one run and its test metrics."""
        config = self.write_config(self.probe_cfg(run), f'{run.name}/probe')
        self.train_and_test(
            f'{run.name}/probe',
            config,
            self.path(run.name, 'probe'),
            self.path('metrics', f'{run.name}.json'),
            train_args=['--amp'] if self.amp else [])

    # ----------------------------------------------------------- summary
    def summary(self, wall_time: float) -> dict:
        """Build, print and save the tables (``ablation.md``, ``.json``).

        Args:
            wall_time (float): Seconds this invocation took.

        Returns:
            dict: What ``ablation.json`` holds.
        """
        metrics = {
            run.name: self.read_json('metrics', f'{run.name}.json')
            for run in self.variants
        }
        table5 = [
            dict(
                block=block,
                row=row,
                run=name,
                paper_miou=paper,
                **{
                    key: percent(metrics.get(name), metric)
                    for key, metric in PROBE_METRICS
                }) for block, row, name, paper in TABLE5
        ]
        random_init = {
            key: percent(metrics.get('random'), metric)
            for key, metric in PROBE_METRICS
        }
        sweep = []
        for run in self.variants:
            if run.target != 'softmap':
                continue
            row = dict(
                alpha=run.alpha,
                run=run.name,
                miou=percent(metrics[run.name], 'miou'),
                **{
                    group: percent(metrics[run.name], f'miou_{group}')
                    for group in CLASS_GROUPS
                })
            paper8 = PAPER_TABLE8.get(run.alpha, (None, None))
            paper9 = PAPER_TABLE9.get(run.alpha, (None, None, None))
            row.update(
                paper_scannet=paper8[0],
                paper_scannet200=paper8[1],
                **{
                    f'paper_{g}': v
                    for g, v in zip(CLASS_GROUPS, paper9)
                })
            sweep.append(row)
        notes = self._notes(table5, sweep)
        times = self.stage_times()
        markdown = self._markdown(table5, random_init, sweep, notes, times,
                                  wall_time)
        print(markdown)
        result = dict(
            settings=self.settings,
            class_splits=self.read_json('class_splits.json'),
            runs={
                run.name:
                dict(
                    masking=run.masking,
                    target=run.target,
                    alpha=run.alpha,
                    metrics=json_safe(metrics[run.name]))
                for run in self.variants
            },
            random_init=random_init,
            table5=table5,
            alpha_sweep=sweep,
            notes=notes,
            stage_times_s=times,
            wall_time_s=round(wall_time, 1))
        with open(self.path('ablation.md'), 'w') as f:
            f.write(markdown)
        with open(self.path('ablation.json'), 'w') as f:
            json.dump(result, f, indent=2)
        return result

    @staticmethod
    def _notes(table5: List[dict], sweep: List[dict]) -> List[str]:
        """Where the results' ordering agrees with the paper's."""
        notes = []
        for block in TABLE5_BLOCKS:
            rows = [(r['row'], r['miou'], r['paper_miou']) for r in table5
                    if r['block'] == block]
            note = ordering_note(block, rows)
            if note is not None:
                notes.append(note)
        done = [r for r in sweep if r['miou'] is not None]
        if len(done) > 1:
            best = max(done, key=lambda r: r['miou'])['alpha']
            in_paper = [r for r in done if r['paper_scannet'] is not None]
            line = f'alpha sweep: best mIoU here at alpha {best:g}'
            if in_paper:
                scannet = max(in_paper, key=lambda r: r['paper_scannet'])
                scannet200 = max(in_paper, key=lambda r: r['paper_scannet200'])
                line += (f'; paper (same alphas) at {scannet["alpha"]:g} '
                         f'(ScanNet), {scannet200["alpha"]:g} (ScanNet200)')
            notes.append(line)
        by_alpha = {r['alpha']: r for r in sweep}
        if 0.0 in by_alpha and DOS_ALPHA in by_alpha:
            gains = []
            for group, paper_gain in zip(
                    CLASS_GROUPS,
                    np.subtract(PAPER_TABLE9[DOS_ALPHA], PAPER_TABLE9[0.0])):
                low, high = by_alpha[0.0][group], by_alpha[DOS_ALPHA][group]
                ours = '-' if None in (low, high) else f'{high - low:+.2f}'
                gains.append(f'{group} {ours} (paper {paper_gain:+.1f})')
            notes.append(f'alpha 0 -> {DOS_ALPHA:g}: ' + ', '.join(gains))
        return notes

    def _markdown(self, table5: List[dict], random_init: dict,
                  sweep: List[dict], notes: List[str],
                  times: Dict[str, Dict[str, float]], wall_time: float) -> str:
        """The printed report: both tables, the notes and the timings."""
        lines = [
            f'DOS ablation: {self.pretrain_config} -> {self.probe_config} '
            f'on {self.data_root} (LP on the test split, %; paper: '
            'nuScenes val)', '',
            '| Model | run | mIoU | mAcc | aAcc | paper mIoU |',
            '|---|---|---|---|---|---|',
            '| random init (no pretraining) | random | ' +
            ' | '.join(cell(random_init[key])
                       for key, _ in PROBE_METRICS) + ' | |'
        ]
        for block in TABLE5_BLOCKS:
            lines.append(f'| *{block}* | | | | | |')
            for row in (r for r in table5 if r['block'] == block):
                lines.append(
                    f"| {row['row']} | {row['run']} | {cell(row['miou'])} | "
                    f"{cell(row['macc'])} | {cell(row['acc'])} | "
                    f"{row['paper_miou']:.1f} |")
        if sweep:
            lines += [
                '', 'Zipf exponent (paper Tables 8 and 9: ScanNet / '
                'ScanNet200 LP mIoU, ScanNet200 head / common / tail)', '',
                '| alpha | run | mIoU | head | common | tail | paper ScanNet |'
                ' paper ScanNet200 | paper head / common / tail |',
                '|---|---|---|---|---|---|---|---|---|'
            ]
            for row in sweep:
                paper9 = ('' if row['paper_head'] is None else
                          f"{row['paper_head']} / {row['paper_common']} / "
                          f"{row['paper_tail']}")
                lines.append(f"| {row['alpha']:g} | {row['run']} | "
                             f"{cell(row['miou'])} | {cell(row['head'])} | "
                             f"{cell(row['common'])} | {cell(row['tail'])} | "
                             f"{row['paper_scannet'] or ''} | "
                             f"{row['paper_scannet200'] or ''} | {paper9} |")
            splits = self.read_json('class_splits.json')['splits']
            lines += [''] + [
                f'{group} classes: {", ".join(splits[group])}'
                for group in CLASS_GROUPS
            ]
        lines += [''] + [f'- {note}' for note in notes]
        lines += [
            '', 'Stage times, wall s (CPU s):', '',
            '| run | pretrain | export | probe |', '|---|---|---|---|'
        ]
        for run in self.variants:
            lines.append(f'| {run.name} | ' + ' | '.join(
                time_cell(times.get(f'{run.name}/{stage}'))
                for stage in ('pretrain', 'export', 'probe')) + ' |')
        shared = ', '.join(f'{name} {time_cell(t)}'
                           for name, t in times.items() if '/' not in name)
        total = {
            key: sum(t[key] for t in times.values())
            for key in ('wall', 'cpu')
        }
        lines += [
            '', f'shared stages: {shared}',
            f'all stages: {time_cell(total)}; this invocation: '
            f'{wall_time:.0f} s'
        ]
        return '\n'.join(lines) + '\n'

    # -------------------------------------------------------------- main
    def __call__(self, start: Optional[str] = None) -> dict:
        """Run every unfinished stage, then print and save the tables.

        Args:
            start (str, optional): Re-run this stage and all later ones.

        Returns:
            dict: The summary (``ablation.json``).
        """
        self._check_settings()
        t0 = time.time()
        budget = ', '.join(
            f'{what} ' +
            ('as configured' if length is None else f'{length[0]} {length[1]}')
            for what, length in (('pretrain', self.pretrain_length),
                                 ('probe', self.probe_length)))
        print(f'ablation of {len(self.variants)} runs '
              f'({", ".join(run.name for run in self.variants)}) on '
              f'{self.data_root}, budgets: {budget}; work dir '
              f'{self.work_dir}')
        self.run_stages(self.stages, start)
        return self.summary(time.time() - t0)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; default ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[1:]))
    parser.add_argument('--work-dir', default='work_dirs/ablate')
    parser.add_argument(
        '--variants',
        nargs='+',
        help='runs to do (default: all; see the list below)')
    parser.add_argument(
        '--alphas',
        nargs='+',
        type=float,
        default=list(DEFAULT_ALPHAS),
        help='Zipf exponents of the sweep (0 and 1.3 always run); default '
        f'{" ".join(f"{a:g}" for a in DEFAULT_ALPHAS)}')
    parser.add_argument('--pretrain-config', default=DEFAULT_PRETRAIN_CONFIG)
    parser.add_argument('--probe-config', default=DEFAULT_PROBE_CONFIG)
    parser.add_argument(
        '--data-root',
        help='dataset root of both configs (default: the probe config\'s; '
        'the default synthetic root is generated when missing)')
    budget = parser.add_argument_group(
        'budgets', 'default: the default configs get '
        f'{DEFAULT_PRETRAIN_ITERS} pretraining iterations on views of at '
        f'most {DEFAULT_PRETRAIN_CROP_POINTS} points and '
        f'{DEFAULT_PROBE_EPOCHS} probe epochs, other configs their own '
        'length; the schedules are stretched to the budget')
    pretrain = budget.add_mutually_exclusive_group()
    pretrain.add_argument('--pretrain-iters', type=int)
    pretrain.add_argument('--pretrain-epochs', type=int)
    probe = budget.add_mutually_exclusive_group()
    probe.add_argument('--probe-epochs', type=int)
    probe.add_argument('--probe-iters', type=int)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='processes per training / test command (> 1: torchrun via '
        'tools/dist_run.sh)')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision training')
    parser.add_argument(
        '--pretrain-cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='key=value overrides of the pretraining config')
    parser.add_argument(
        '--probe-cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='key=value overrides of the probe config')
    parser.add_argument(
        '--from', dest='start', help='re-run from this stage on')
    return parser.parse_args(argv)


def budget_of(args: argparse.Namespace, prefix: str, config: str,
              default_config: str,
              default: Tuple[int, str]) -> Optional[Tuple[int, str]]:
    """``(n, unit)`` from ``--<prefix>-iters`` / ``--<prefix>-epochs``; the
    default budget for the default config, None (its own) otherwise."""
    for unit in ('iters', 'epochs'):
        value = getattr(args, f'{prefix}_{unit}')
        if value is not None:
            return value, unit
    return default if config == default_config else None


def crop_option(config: str, points: int) -> Dict[str, int]:
    """The ``--cfg-options`` entry that crops the DOS views of ``config`` to
    at most ``points`` points.

    Raises:
        ValueError: The training pipeline of ``config`` has no single
            ``DOSMultiViewAug``.
    """
    pipeline = Config.fromfile(config).train_dataloader.dataset.pipeline
    index = [
        i for i, transform in enumerate(pipeline)
        if transform['type'] == 'DOSMultiViewAug'
    ]
    if len(index) != 1:
        raise ValueError(
            f'{config}: expected one DOSMultiViewAug in '
            f'train_dataloader.dataset.pipeline, found {len(index)}')
    key = f'train_dataloader.dataset.pipeline.{index[0]}.max_crop_points'
    return {key: points}


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    args = parse_args(argv)
    pretrain_options = args.pretrain_cfg_options
    if args.pretrain_config == DEFAULT_PRETRAIN_CONFIG:
        pretrain_options = {
            **crop_option(args.pretrain_config, DEFAULT_PRETRAIN_CROP_POINTS),
            **pretrain_options
        }
    variants = select_variants(build_variants(args.alphas), args.variants)
    ablation = Ablation(
        args.work_dir,
        variants,
        pretrain_config=args.pretrain_config,
        probe_config=args.probe_config,
        data_root=args.data_root,
        pretrain_length=budget_of(args, 'pretrain', args.pretrain_config,
                                  DEFAULT_PRETRAIN_CONFIG,
                                  (DEFAULT_PRETRAIN_ITERS, 'iters')),
        probe_length=budget_of(args, 'probe', args.probe_config,
                               DEFAULT_PROBE_CONFIG,
                               (DEFAULT_PROBE_EPOCHS, 'epochs')),
        seed=args.seed,
        gpus=args.gpus,
        amp=args.amp,
        pretrain_options=pretrain_options,
        probe_options=args.probe_cfg_options)
    ablation(args.start)


if __name__ == '__main__':
    main()
