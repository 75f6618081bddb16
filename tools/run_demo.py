# Copyright (c) OpenMMLab. All rights reserved.
"""The README's main job: DOS end to end on the synthetic nuScenes-format set.

Stages (each one is a command of this repository's tools, run in a
subprocess; its output goes to ``<work-dir>/logs/<stage>.log``)::

    data       tools/make_synthetic_nuscenes.py      -> data/synthetic_nuscenes
    convert    tools/create_data.py nuscenes ...      -> info pkls (mmdet3d)
    pretrain   tools/train.py dos_pretrain_synthetic -> DOS checkpoint
    export     tools/convert_dos_ckpt.py              -> PTv3 backbone weights
    subset     tools/make_label_subset.py             -> 20 % of the labels
    lp-dos / lp-random      linear probe mIoU, DOS vs random init (SegMetric)
    det-dos / det-scratch   CenterPoint, 20 % labels, NDS/mAP (NuScenesMetric)
    summary                 one table, printed and saved as JSON + markdown

A finished stage leaves ``<work-dir>/done/<stage>``, so running the script
again after an interruption continues where it stopped (training stages
resume from their last checkpoint with ``--resume``). ``--from STAGE``
re-runs from a stage on. ``--quick`` shrinks every stage to a smoke run of
all ten stages (about 8 minutes on 2 CPU cores; too long for the test
suite, which covers the stage machinery through ``tools/ablate.py``'s
end-to-end test).
"""
import argparse
import json
import os.path as osp
import time
from typing import Optional

from _stages import ROOT, StagedJob, Stages

CFG_DIR = osp.join(ROOT, 'projects', 'DOS', 'configs')
LP_CFGS = {
    'lp-dos': 'dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py',
    'lp-random': 'random-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py',
}
DET_CFGS = {
    'det-dos':
    'centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py',  # noqa: E501
    'det-scratch':
    'centerpoint_ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py',
}


class Demo(StagedJob):
    """State of one demo run (paths and options) and its stages.

    Args:
        work_dir (str): Where checkpoints, logs and the summary go.
        data_root (str): Where the synthetic dataset is written.
        quick (bool): Shrink data and schedules to a smoke run.
    """

    def __init__(self, work_dir: str, data_root: str, quick: bool) -> None:
        super().__init__(work_dir)
        self.data_root = osp.abspath(data_root)
        self.quick = quick
        size = ['--scenes', '2', '--samples-per-scene', '3'] if quick else []
        self.stages: Stages = {
            **self.synthetic_data_stages(self.data_root, size),
            'pretrain': self.pretrain,
            'export': self.export,
            'subset': self.subset,
            'lp-dos': lambda: self.linear_probe('lp-dos'),
            'lp-random': lambda: self.linear_probe('lp-random'),
            'det-dos': lambda: self.detection('det-dos'),
            'det-scratch': lambda: self.detection('det-scratch'),
            'summary': self.summary,
        }

    # -------------------------------------------------------------- stages
    def pretrain(self) -> None:
        """DOS pretraining of the small PTv3 on the synthetic train split."""
        overrides = dict(train_cfg=dict(max_iters=4)) if self.quick else {}
        config = self.project_config('pretrain', 'dos_pretrain_synthetic.py',
                                     **overrides)
        self.run('pretrain', [
            'tools/train.py', config, '--work-dir',
            self.path('pretrain'), '--resume'
        ])

    def export(self) -> None:
        """Student backbone weights for the downstream configs."""
        self.run('export', [
            'tools/convert_dos_ckpt.py', '--src',
            self.last_checkpoint(self.path('pretrain')), '--which', 'student',
            '--dst',
            self.path('dos_backbone.pth')
        ])

    def subset(self) -> None:
        """20 % of the labelled train frames and their own GT database."""
        self.run('subset', [
            'tools/make_label_subset.py',
            osp.join(self.data_root, 'nuscenes_infos_train.pkl'), '--ratio',
            '0.2', '--mode', 'interval', '--seed', '0'
        ])

    def project_config(self, stage: str, config: str,
                       **overrides: object) -> str:
        """Write ``configs/<stage>.py``: the project config ``config`` on the
        demo's dataset root with ``overrides`` (dotted keys) merged."""
        return self.derived_config(stage, osp.join(CFG_DIR, config),
                                   self.data_root, overrides)

    def train_and_evaluate(self, stage: str, config: str) -> None:
        """Train in ``<work-dir>/<stage>``, test into ``metrics/<stage>.json``.
        """
        self.train_and_test(stage, config, self.path(stage),
                            self.path('metrics', f'{stage}.json'), ())

    def linear_probe(self, stage: str) -> None:
        """Linear probe (frozen backbone) and its val mIoU (SegMetric)."""
        overrides = {}
        if stage == 'lp-dos':
            overrides['model.backbone.init_cfg.checkpoint'] = self.path(
                'dos_backbone.pth')
        if self.quick:
            overrides['train_cfg.max_epochs'] = 1
            overrides['train_cfg.val_interval'] = 1
        self.train_and_evaluate(
            stage, self.project_config(stage, LP_CFGS[stage], **overrides))

    def detection(self, stage: str) -> None:
        """CenterPoint on 20 % of the labels and its val NDS/mAP."""
        overrides = {}
        if stage == 'det-dos':
            overrides[
                'model.pts_middle_encoder.backbone.init_cfg.checkpoint'] = \
                self.path('dos_backbone.pth')
        if self.quick:
            overrides['train_cfg.max_epochs'] = 1
            overrides['train_cfg.val_interval'] = 1
        self.train_and_evaluate(
            stage, self.project_config(stage, DET_CFGS[stage], **overrides))

    def summary(self) -> None:
        """Print the results table and save it as JSON and markdown."""
        metrics = {
            stage: self.read_json('metrics', f'{stage}.json')
            for stage in list(LP_CFGS) + list(DET_CFGS)
        }
        nus = 'NuScenes metric/pred_instances_3d_NuScenes/'
        rows = [('linear probe, mIoU (%)', 'lp-random', 'lp-dos',
                 lambda m: 100 * m['miou']),
                ('CenterPoint 20 % labels, NDS (%)', 'det-scratch', 'det-dos',
                 lambda m: 100 * m[nus + 'NDS']),
                ('CenterPoint 20 % labels, mAP (%)', 'det-scratch', 'det-dos',
                 lambda m: 100 * m[nus + 'mAP'])]
        table = []
        for name, baseline, dos, read in rows:
            base_value, dos_value = read(metrics[baseline]), read(metrics[dos])
            table.append(
                dict(
                    metric=name,
                    baseline=round(base_value, 2),
                    dos=round(dos_value, 2),
                    gain=round(dos_value - base_value, 2)))
        lines = [
            '| metric (synthetic val) | random init / scratch | DOS | gain |',
            '|---|---|---|---|'
        ] + [
            f"| {r['metric']} | {r['baseline']:.2f} | {r['dos']:.2f} "
            f"| {r['gain']:+.2f} |" for r in table
        ]
        markdown = '\n'.join(lines) + '\n'
        print(markdown)
        with open(self.path('summary.md'), 'w') as f:
            f.write(markdown)
        with open(self.path('summary.json'), 'w') as f:
            json.dump(
                dict(table=table, metrics=metrics, quick=self.quick),
                f,
                indent=2)

    # ---------------------------------------------------------------- main
    def __call__(self, start: Optional[str] = None) -> None:
        """Run every stage not yet done (all from ``start`` on, if given)."""
        t_all = time.time()
        self.run_stages(self.stages, start)
        print(f'demo finished in {time.time() - t_all:.0f} s; results in '
              f'{self.path("summary.md")} and {self.path("summary.json")}')


def main() -> None:
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthetic_nuscenes')
    parser.add_argument(
        '--from', dest='start', help='re-run from this stage on')
    parser.add_argument(
        '--quick', action='store_true', help='tiny data and schedules')
    args = parser.parse_args()
    Demo(args.work_dir, args.data_root, args.quick)(args.start)


if __name__ == '__main__':
    main()
