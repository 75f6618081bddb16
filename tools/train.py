# Copyright (c) OpenMMLab. All rights reserved.
"""Train a model from a config (pretraining or fine-tuning).

The flags are mmdet3d's ``tools/train.py`` flags, so commands from mmdet3d's
documentation work unchanged::

    python tools/train.py projects/DOS/configs/dos_pretrain_nus.py \
        [--work-dir DIR] [--amp] [--resume [auto|CKPT]] \
        [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import logging
import os.path as osp

import _bootstrap  # noqa: F401  (repository root first on sys.path)
from _runner_cli import (add_runner_args, build_runner, end_distributed_job,
                         load_config, parse_runner_args)
from mmengine.config import Config
from mmengine.logging import print_log


def parse_args() -> argparse.Namespace:
    """Parse the command line (mmdet3d's train flags)."""
    parser = argparse.ArgumentParser(description='Train a DOS/mmdet3d model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (bf16 where the '
        'device supports it, else fp16 with dynamic loss scaling)')
    parser.add_argument(
        '--sync_bn',
        choices=['none', 'torch', 'mmcv'],
        default='none',
        help='convert all BatchNorm layers in the model to SyncBatchNorm')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual batch size (config auto_scale_lr)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or with no value ("auto") from the latest '
        'checkpoint in the work directory')
    add_runner_args(parser)
    return parse_runner_args(parser)


def apply_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to ``AmpOptimWrapper``.

    bf16 is used where the accelerator supports it (no loss scaling needed);
    fp16 with dynamic loss scaling otherwise.
    """
    import torch
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return
    if optim_wrapper != 'OptimWrapper':
        raise ValueError('--amp is only supported with OptimWrapper, the '
                         f'config has optim_wrapper.type={optim_wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        cfg.optim_wrapper.dtype = 'bfloat16'
    elif not torch.cuda.is_available():
        cfg.optim_wrapper.dtype = 'bfloat16'  # CPU autocast is bf16 only
    else:
        cfg.optim_wrapper.loss_scale = 'dynamic'


def main() -> None:
    """Build the runner from the config and train."""
    args = parse_args()
    cfg = load_config(args)

    if args.amp:
        apply_amp(cfg)

    if args.sync_bn != 'none':
        cfg.sync_bn = args.sync_bn

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
                cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs `auto_scale_lr` with '
                               '`base_batch_size` in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    runner = build_runner(cfg)
    runner.train()
    print_log(
        f'Training finished; checkpoints and logs are in '
        f'{osp.abspath(cfg.work_dir)}',
        logger='current')
    end_distributed_job()


if __name__ == '__main__':
    main()
