# Copyright (c) OpenMMLab. All rights reserved.
"""Evaluate a checkpoint with the config's test loop and evaluator.

Same flags as mmdet3d's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--tta] \
        [--metrics-out FILE.json] [--cfg-options key=value ...] \
        [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os.path as osp

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import mmengine
from _runner_cli import (add_runner_args, build_runner, end_distributed_job,
                         json_safe, load_config, parse_runner_args)
from mmengine.config import ConfigDict


def parse_args() -> argparse.Namespace:
    """Parse the command line (mmdet3d's test flags)."""
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    parser.add_argument(
        '--metrics-out',
        help='also write the evaluation metrics to this JSON file')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    """Build the runner from the config and run its test loop."""
    args = parse_args()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint

    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError('--tta needs `tta_model` and `tta_pipeline` in '
                           f'the config {args.config}')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        test_data_cfg = cfg.test_dataloader.dataset
        while 'dataset' in test_data_cfg:
            test_data_cfg = test_data_cfg['dataset']
        test_data_cfg.pipeline = cfg.tta_pipeline

    runner = build_runner(cfg)
    metrics = runner.test()
    if args.metrics_out:
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.metrics_out)))
        mmengine.dump(json_safe(metrics), args.metrics_out, indent=2)
    end_distributed_job()


if __name__ == '__main__':
    main()
