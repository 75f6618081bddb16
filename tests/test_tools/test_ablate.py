# Copyright (c) OpenMMLab. All rights reserved.
"""tools/ablate.py: the DOS ablation runner (paper Tables 5, 8 and 9)."""
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

import mmengine
import numpy as np
import pytest
from mmengine.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / 'tools') not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / 'tools'))
ablate = importlib.import_module('ablate')

TABLE5_RUNS = {
    # run: (masking, target, alpha), the paper's incremental ladder
    'naive': ('naive', 'clustering', 0.0),
    'token-jitter': ('token_jitter', 'clustering', 0.0),
    'observable': ('observable', 'clustering', 0.0),
    'regression': ('observable', 'regression', 0.0),
    'softmap-a0': ('observable', 'softmap', 0.0),
    'softmap-a1.3': ('observable', 'softmap', 1.3),
}


@pytest.fixture
def fake_root(tmp_path: Path) -> str:
    """A dataset root holding (empty) info files: enough for the checks."""
    root = tmp_path / 'data'
    root.mkdir()
    for split in ('train', 'val'):
        (root / f'nuscenes_infos_{split}.pkl').touch()
    return str(root)


def make_ablation(work_dir: Path,
                  data_root: str,
                  names: Optional[List[str]] = None,
                  **kwargs) -> 'ablate.Ablation':
    """An ablation of the default configs with tiny budgets."""
    variants = ablate.select_variants(
        ablate.build_variants(ablate.DEFAULT_ALPHAS), names)
    kwargs.setdefault('pretrain_length', (3, 'iters'))
    kwargs.setdefault('probe_length', (2, 'epochs'))
    return ablate.Ablation(
        str(work_dir), variants, data_root=data_root, **kwargs)


def test_variants_are_the_papers_ladder_and_sweep():
    variants = ablate.build_variants([0.6, 1.3, 2.0])
    for name, (masking, target, alpha) in TABLE5_RUNS.items():
        run = variants[name]
        assert (run.masking, run.target, run.alpha) == (masking, target, alpha)
    # one run per distinct model: 1.3 is not repeated, 0 always present
    assert list(variants) == [
        'random', 'naive', 'token-jitter', 'observable', 'regression',
        'softmap-a0', 'softmap-a0.6', 'softmap-a1.3', 'softmap-a2'
    ]
    assert not variants['random'].pretrained
    # every Table 5 row names a run
    assert {run for _, _, run, _ in ablate.TABLE5} == set(TABLE5_RUNS)


def test_bad_variant_and_alpha_are_named():
    variants = ablate.build_variants(ablate.DEFAULT_ALPHAS)
    with pytest.raises(ValueError, match='softmap-a9'):
        ablate.select_variants(variants, ['random', 'softmap-a9'])
    with pytest.raises(ValueError, match='-1'):
        ablate.build_variants([-1.0])
    picked = ablate.select_variants(variants, ['softmap-a1.3', 'random'])
    assert [run.name for run in picked] == ['random', 'softmap-a1.3']


def test_missing_data_is_named(tmp_path, fake_root):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(ValueError, match=f'--data-root {missing} does not'):
        make_ablation(tmp_path / 'work', missing)
    os.remove(os.path.join(fake_root, 'nuscenes_infos_val.pkl'))
    with pytest.raises(ValueError, match='nuscenes_infos_val.pkl'):
        make_ablation(tmp_path / 'work', fake_root)


def test_budget_in_the_wrong_unit_is_an_error(tmp_path, fake_root):
    ablation = make_ablation(
        tmp_path / 'work', fake_root, pretrain_length=(2, 'epochs'))
    with pytest.raises(ValueError, match='--pretrain-epochs 2.*iters'):
        ablation.pretrain_cfg(ablation.variants[1])


def test_set_train_length_stretches_the_schedule():
    cfg = Config(
        dict(
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=100),
            param_scheduler=[
                dict(type='LinearLR', by_epoch=False, begin=0, end=10),
                dict(
                    type='CosineAnnealingLR',
                    by_epoch=False,
                    begin=10,
                    end=100)
            ]))
    ablate.set_train_length(cfg, 300, 'iters', '--pretrain-iters')
    assert cfg.train_cfg.max_iters == 300
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 30),
                                                               (30, 300)]
    # a warm-up shorter than one iteration is dropped
    ablate.set_train_length(cfg, 4, 'iters', '--pretrain-iters')
    assert [(s.type, s.begin, s.end)
            for s in cfg.param_scheduler] == [('CosineAnnealingLR', 0, 4)]

    epochs = Config(
        dict(
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=5),
            param_scheduler=[
                dict(
                    type='LinearLR',
                    by_epoch=True,
                    convert_to_iter_based=True,
                    begin=0,
                    end=1)
            ]))
    ablate.set_train_length(epochs, 2, 'epochs', '--probe-epochs')
    assert epochs.param_scheduler[0].end == pytest.approx(0.4)
    with pytest.raises(ValueError, match='--probe-iters 3'):
        ablate.set_train_length(epochs, 3, 'iters', '--probe-iters')


def test_frequency_splits_are_thirds_by_count():
    classes = [f'c{i}' for i in range(16)]
    counts = np.array(
        [5, 90, 7, 7, 100, 1, 0, 30, 40, 2, 3, 50, 60, 70, 80, 4])
    splits = ablate.frequency_splits(classes, counts)
    assert splits['head'] == ['c4', 'c1', 'c14', 'c13', 'c12']
    assert splits['tail'] == ['c15', 'c10', 'c9', 'c5', 'c6']
    # ties in class order
    assert splits['common'] == ['c11', 'c8', 'c7', 'c2', 'c3', 'c0']
    with pytest.raises(ValueError):
        ablate.frequency_splits(classes[:2], counts[:2])


def test_class_counts_are_the_mapped_train_labels(tmp_path,
                                                  synthetic_nuscenes_infos):
    from projects.DOS.dos.datasets.nuscenes_lidarseg_dataset import \
        NUSCENES_LIDARSEG_LABEL_MAP
    ablation = make_ablation(tmp_path / 'work', synthetic_nuscenes_infos)
    os.makedirs(ablation.work_dir)
    ablation.class_splits()
    record = ablation.read_json('class_splits.json')

    # the same count straight from the lidarseg files of the train infos
    infos = mmengine.load(
        os.path.join(synthetic_nuscenes_infos, 'nuscenes_infos_train.pkl'))
    lookup = np.full(256, -1)
    for raw, label in NUSCENES_LIDARSEG_LABEL_MAP.items():
        lookup[raw] = label
    expected = np.zeros(16, dtype=np.int64)
    for info in infos['data_list']:
        raw = np.fromfile(
            os.path.join(synthetic_nuscenes_infos, 'lidarseg', 'v1.0-mini',
                         info['pts_semantic_mask_path']),
            dtype=np.uint8)
        labels = lookup[raw]
        expected += np.bincount(labels[labels >= 0], minlength=16)
    assert list(record['points'].values()) == expected.tolist()
    assert expected.sum() > 0
    assert [len(record['splits'][g]) for g in ablate.CLASS_GROUPS] == [5, 6, 5]


def test_default_ablation_crops_the_views(tmp_path, fake_root):
    options = ablate.crop_option(ablate.DEFAULT_PRETRAIN_CONFIG, 2048)
    ablation = make_ablation(
        tmp_path / 'work',
        fake_root, ['softmap-a1.3'],
        pretrain_options=options)
    pipeline = ablation.pretrain_cfg(
        ablation.variants[0]).train_dataloader.dataset.pipeline
    views = [t for t in pipeline if t['type'] == 'DOSMultiViewAug']
    assert [t['max_crop_points'] for t in views] == [2048]
    no_views = tmp_path / 'no_views.py'
    no_views.write_text('train_dataloader = dict(dataset=dict(pipeline=[]))')
    with pytest.raises(ValueError, match='no_views.py.*DOSMultiViewAug'):
        ablate.crop_option(str(no_views), 2048)


def test_derived_configs_make_each_variant(tmp_path, synthetic_nuscenes_infos):
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    ablation = make_ablation(
        tmp_path / 'work', synthetic_nuscenes_infos, seed=7)
    splits = dict(head=['car'], common=['bus'], tail=['bicycle'])
    os.makedirs(ablation.work_dir)
    with open(ablation.path('class_splits.json'), 'w') as f:
        json.dump(dict(splits=splits), f)
    init_default_scope('mmdet3d')
    for run in ablation.variants:
        probe = ablation.probe_cfg(run)
        assert probe.train_cfg.max_epochs == 2
        assert probe.val_dataloader is None
        assert probe.test_evaluator.type == 'LongTailSegMetric'
        assert probe.test_evaluator.class_splits == splits
        assert probe.randomness.seed == 7
        assert probe.train_dataloader.dataset.data_root.startswith(
            synthetic_nuscenes_infos)
        if not run.pretrained:
            assert probe.model.backbone.init_cfg is None
            continue
        assert probe.model.backbone.init_cfg.checkpoint == ablation.path(
            run.name, 'backbone.pth')
        cfg = ablation.pretrain_cfg(run)
        assert (cfg.model.masking, cfg.model.target,
                cfg.model.sinkhorn.alpha) == (run.masking, run.target,
                                              run.alpha)
        assert cfg.train_cfg.max_iters == 3
        assert cfg.randomness.seed == 7
        assert cfg.train_dataloader.dataset.data_root.startswith(
            synthetic_nuscenes_infos)
        # DOS accepts it (the naive maskings need the backbone's token)
        model = MODELS.build(cfg.model)
        assert (model.masking, model.target) == (run.masking, run.target)
        assert model.sinkhorn.alpha == run.alpha
        assert (model.backbone.mask_token is not None) == (
            run.masking != 'observable')


def fake_stages(monkeypatch: pytest.MonkeyPatch, calls: List[str],
                miou: Dict[str, float], fail_at: str) -> None:
    """Replace the stages' work by recorders writing made-up metrics; the
    stage ``fail_at`` fails on its first call."""
    failed = []

    def record(stage: str) -> None:
        calls.append(stage)
        if stage == fail_at and not failed:
            failed.append(stage)
            raise RuntimeError(f'{stage} killed')

    def class_splits(self):
        record('class-splits')
        with open(self.path('class_splits.json'), 'w') as f:
            json.dump(dict(splits=dict(head=['car'], common=[], tail=[])), f)

    def probe(self, run):
        record(f'{run.name}/probe')
        os.makedirs(self.path('metrics'), exist_ok=True)
        value = miou[run.name]
        with open(self.path('metrics', f'{run.name}.json'), 'w') as f:
            json.dump(
                dict(
                    miou=value,
                    acc=0.9,
                    acc_cls=value + 0.1,
                    miou_head=value + 0.2,
                    miou_common=value,
                    miou_tail=float('nan')), f)

    monkeypatch.setattr(ablate.Ablation, 'class_splits', class_splits)
    monkeypatch.setattr(ablate.Ablation, 'pretrain',
                        lambda self, run: record(f'{run.name}/pretrain'))
    monkeypatch.setattr(ablate.Ablation, 'export',
                        lambda self, run: record(f'{run.name}/export'))
    monkeypatch.setattr(ablate.Ablation, 'probe', probe)


def test_resume_continues_at_the_first_unfinished_stage(
        tmp_path, fake_root, monkeypatch):
    names = ['random', 'naive', 'token-jitter', 'observable', 'softmap-a1.3']
    miou = {
        'random': 0.10,
        'naive': 0.20,
        'token-jitter': 0.15,
        'observable': 0.30,
        'softmap-a1.3': 0.40
    }
    calls: List[str] = []
    fake_stages(monkeypatch, calls, miou, fail_at='token-jitter/export')
    with pytest.raises(RuntimeError, match='killed'):
        make_ablation(tmp_path / 'work', fake_root, names)()
    assert calls == [
        'class-splits', 'random/probe', 'naive/pretrain', 'naive/export',
        'naive/probe', 'token-jitter/pretrain', 'token-jitter/export'
    ]
    del calls[:]
    result = make_ablation(tmp_path / 'work', fake_root, names)()
    assert calls == [
        'token-jitter/export', 'token-jitter/probe', 'observable/pretrain',
        'observable/export', 'observable/probe', 'softmap-a1.3/pretrain',
        'softmap-a1.3/export', 'softmap-a1.3/probe'
    ]
    times = json.loads((tmp_path / 'work' / 'stage_times.json').read_text())
    assert set(times) == set(calls) | {
        'class-splits', 'random/probe', 'naive/pretrain', 'naive/export',
        'naive/probe', 'token-jitter/pretrain'
    }

    # the table reads each row from its run; missing runs are empty
    rows = {row['row']: row for row in result['table5']}
    assert rows['token jitter']['miou'] == 15.0
    assert rows['clustering']['miou'] == rows['observable (ours)']['miou']
    assert rows['clustering']['macc'] == 40.0
    assert rows['feature regression']['miou'] is None
    assert result['random_init']['miou'] == 10.0
    assert result['alpha_sweep'] == [
        dict(
            alpha=1.3,
            run='softmap-a1.3',
            miou=40.0,
            head=60.0,
            common=40.0,
            tail=None,
            paper_scannet=72.8,
            paper_scannet200=29.1,
            paper_head=50.8,
            paper_common=23.5,
            paper_tail=13.2)
    ]
    assert result['notes'] == [
        'Masked self-distillation: here token jitter < naive < observable '
        '(ours); paper naive < token jitter < observable (ours): DIFFERS'
    ]
    markdown = (tmp_path / 'work' / 'ablation.md').read_text()
    assert '| token jitter | token-jitter | 15.00 | 25.00 | 90.00 | 55.1 |' \
        in markdown
    assert '| feature regression | regression | - | - | - | 63.0 |' \
        in markdown
    written = json.loads((tmp_path / 'work' / 'ablation.json').read_text())
    assert written == json.loads(json.dumps(result))
    assert written['runs']['naive']['metrics']['miou_tail'] is None

    # a finished ablation only prints its tables again
    del calls[:]
    make_ablation(tmp_path / 'work', fake_root, names)()
    assert calls == []
    # other budgets in the same work dir would mix results
    with pytest.raises(ValueError, match='pretrain_length'):
        make_ablation(
            tmp_path / 'work', fake_root, names,
            pretrain_length=(5, 'iters'))()


@pytest.mark.slow
def test_tiny_ablation_end_to_end(tmp_path, synthetic_nuscenes_infos, capsys):
    work = tmp_path / 'work'
    argv = [
        '--work-dir',
        str(work), '--data-root', synthetic_nuscenes_infos, '--variants',
        'random', 'softmap-a1.3', '--pretrain-iters', '2', '--probe-epochs',
        '2', '--pretrain-cfg-options', 'train_dataloader.batch_size=1',
        '--probe-cfg-options', 'train_dataloader.batch_size=1'
    ]
    ablate.main(argv)
    printed = capsys.readouterr().out
    result = json.loads((work / 'ablation.json').read_text())
    assert set(result['runs']) == {'random', 'softmap-a1.3'}
    for name, run in result['runs'].items():
        metrics = run['metrics']
        assert 0 <= metrics['miou'] <= 1, name
        assert {'miou_head', 'miou_common', 'miou_tail'} <= set(metrics)
    dos = result['runs']['softmap-a1.3']
    assert (dos['masking'], dos['target'], dos['alpha']) == ('observable',
                                                             'softmap', 1.3)
    # the exported backbone is what the probe loaded
    probe_cfg = Config.fromfile(work / 'configs' / 'softmap-a1.3' / 'probe.py')
    assert probe_cfg.model.backbone.init_cfg.checkpoint == str(
        work / 'softmap-a1.3' / 'backbone.pth')
    assert (work / 'softmap-a1.3' / 'backbone.pth').is_file()
    miou = round(100 * dos['metrics']['miou'], 2)
    line = f'| alpha = 1.3 | softmap-a1.3 | {miou:.2f} |'
    markdown = (work / 'ablation.md').read_text()
    assert line in markdown and line in printed
    assert [r['run'] for r in result['alpha_sweep']] == ['softmap-a1.3']
    assert set(result['stage_times_s']) == {
        'class-splits', 'random/probe', 'softmap-a1.3/pretrain',
        'softmap-a1.3/export', 'softmap-a1.3/probe'
    }

    # run again: every stage is skipped, no command runs
    logs = {p: p.stat().st_size for p in (work / 'logs').rglob('*.log')}
    ablate.main(argv)
    printed = capsys.readouterr().out
    assert printed.count('done before, skipped') == 5
    assert {
        p: p.stat().st_size
        for p in (work / 'logs').rglob('*.log')
    } == logs


def test_several_gpus_launch_through_dist_run(tmp_path, monkeypatch):
    stages = importlib.import_module('_stages')
    commands = []
    monkeypatch.setattr(
        stages.StagedJob,
        '_run_command',
        lambda self, stage, cmd, env=None: commands.append((cmd, env)))
    stages.StagedJob(
        str(tmp_path),
        gpus=4).run_runner_tool('probe',
                                ['tools/train.py', 'cfg.py', '--resume'])
    cmd, env = commands[0]
    assert cmd == [
        'bash', 'tools/dist_run.sh', '4', 'train.py', 'cfg.py', '--resume',
        '--launcher', 'pytorch'
    ]
    assert env['PYTHON'] == sys.executable
    with pytest.raises(ValueError, match='gpus'):
        stages.StagedJob(str(tmp_path), gpus=0)
