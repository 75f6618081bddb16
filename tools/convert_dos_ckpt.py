# Copyright (c) OpenMMLab. All rights reserved.
"""Export the PTv3 backbone of a DOS pretraining checkpoint.

Example::

    python tools/convert_dos_ckpt.py \
        --src work_dirs/dos_pretrain_nus_det/epoch_50.pth \
        --which student --dst checkpoints/dos_ptv3_nus_backbone.pth

The output ``{'state_dict': {PTv3 keys}, 'meta': {...}}`` is loaded by the
fine-tuning configs through the PTv3's
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` (no prefix), where
:class:`PTv3BEVEncoder` verifies that every backbone tensor was loaded and
that the fine-tuning voxel equals ``meta['grid_size']``.

``--which`` is required: ``student`` (the backbone the optimiser trained;
Sonata's downstream configs load it) or ``teacher`` (its EMA). The
pretraining grid comes from the run's config in the checkpoint
(``model.grid_size``); ``--grid-size`` gives it for checkpoints without one
and must agree with it otherwise. When the config is there, the weights are
also checked against a PTv3 built from its ``model.backbone`` (every key,
every shape). The masked-input token of the naive / token-jitter ablations is
dropped (fine-tuning inputs are never masked).
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import torch

from projects.DOS.dos.models.middle_encoders.backbone_checkpoint import (
    CONVERTED_MARKER, DOS_BACKBONE_PREFIXES, extract_dos_backbone,
    load_checkpoint_file, pretraining_config, pretraining_grid,
    verify_backbone_weights)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; default ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``src``, ``which``, ``dst``, ``grid_size``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--src', required=True, help='DOS pretraining checkpoint (.pth)')
    parser.add_argument(
        '--which',
        required=True,
        choices=sorted(DOS_BACKBONE_PREFIXES),
        help='export the student backbone or the EMA teacher\'s')
    parser.add_argument(
        '--dst', required=True, help='backbone checkpoint to write (.pth)')
    parser.add_argument(
        '--grid-size',
        type=float,
        default=None,
        help='pretraining input voxel (m), needed when the checkpoint holds '
        'no config; must match it otherwise')
    return parser.parse_args(argv)


def convert(src: str,
            which: str,
            dst: str,
            grid_size: Optional[float] = None) -> dict:
    """Write the ``which`` backbone of DOS checkpoint ``src`` to ``dst``.

    Args:
        src (str): DOS pretraining checkpoint.
        which (str): ``'student'`` or ``'teacher'``.
        dst (str): Output file; its folder is created.
        grid_size (float, optional): Pretraining input voxel (m) for
            checkpoints whose meta holds no config.

    Returns:
        dict: The ``meta`` written with the weights.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: ``src`` equals ``dst``, the grid is unknown or
            contradicts the checkpoint's config, or ``which`` is unknown.
        KeyError: ``src`` is not a DOS checkpoint or misses backbone keys.
    """
    if osp.abspath(src) == osp.abspath(dst):
        raise ValueError(f'--dst must differ from --src ({src})')
    if not osp.isfile(src):
        raise FileNotFoundError(f'--src {src} does not exist')
    checkpoint = load_checkpoint_file(src)
    state_dict = extract_dos_backbone(checkpoint, which, f'--src {src}')
    meta = checkpoint.get('meta') or {}

    recorded_grid = pretraining_grid(meta)
    if recorded_grid is None and grid_size is None:
        raise ValueError(f'--src {src} records no pretraining grid (no '
                         "meta['cfg'] with model.grid_size): pass --grid-size")
    if (recorded_grid is not None and grid_size is not None
            and abs(recorded_grid - grid_size) > 1e-6):
        raise ValueError(f'--grid-size {grid_size} contradicts the grid '
                         f'{recorded_grid} m of the config stored in {src}')
    grid = recorded_grid if recorded_grid is not None else grid_size

    cfg = pretraining_config(meta)
    backbone_cfg = None
    if cfg is not None and 'backbone' in cfg.get('model', {}):
        from mmdet3d.registry import MODELS
        backbone_cfg = cfg.model.backbone.to_dict()
        # the exported weights never include the pretraining-only mask token
        backbone = MODELS.build({**backbone_cfg, 'mask_token': False})
        verify_backbone_weights(
            backbone, state_dict, f'--src {src} ({which})', check_values=False)
        backbone_cfg['mask_token'] = False

    out_meta = {
        CONVERTED_MARKER: True,
        'which': which,
        'source': osp.abspath(src),
        'grid_size': grid,
        'backbone': backbone_cfg,
        'source_epoch': meta.get('epoch'),
        'source_iter': meta.get('iter'),
    }
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save({'state_dict': state_dict, 'meta': out_meta}, dst)
    return out_meta


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    args = parse_args(argv)
    meta = convert(args.src, args.which, args.dst, args.grid_size)
    print(f'wrote the {meta["which"]} PTv3 backbone of {args.src} '
          f'(grid {meta["grid_size"]} m) to {args.dst}')


if __name__ == '__main__':
    main()
