# Copyright (c) OpenMMLab. All rights reserved.
"""Backbone weights of a DOS pretraining run: extraction and verification.

Shared by ``tools/convert_dos_ckpt.py`` (which writes the backbone file) and
:class:`PTv3BEVEncoder` (which loads it through mmengine's ``Pretrained``
init and then verifies it). mmengine's ``PretrainedInit`` loads with
``strict=False`` and only *logs* missing keys (mmdet3d issue #2746), so a
truncated or mismatched checkpoint would silently leave random weights; the
functions here turn every such case into an error that names the keys.

Checkpoint layout of a DOS run (:class:`~projects.DOS.dos.DOS` state dict,
as saved by mmengine's ``CheckpointHook``): the student backbone under
``backbone.``, the EMA teacher's backbone under ``teacher.module.backbone.``
(see :data:`DOS_BACKBONE_PREFIXES`), and ``meta['cfg']`` holding the run's
config text, whose ``model.grid_size`` is the PTv3 input voxel (m).

A converted backbone file is ``{'state_dict': {PTv3 keys: tensors},
'meta': {...}}`` with ``meta['grid_size']`` (input voxel edge in metres,
isotropic: the pretraining ``GridSample`` size), ``meta['which']``,
``meta['backbone']`` (the PTv3 config) and ``meta['source']``.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader
from torch import Tensor, nn

#: Key prefix of each exportable backbone in a DOS checkpoint's state dict.
DOS_BACKBONE_PREFIXES: Dict[str, str] = dict(
    student='backbone.', teacher='teacher.module.backbone.')
#: PTv3 parameters that only pretraining uses (the masked-input token of the
#: naive / token-jitter ablations); dropped on export.
PRETRAINING_ONLY_KEYS: Tuple[str, ...] = ('mask_token', )
#: ``meta`` key marking a converted backbone file.
CONVERTED_MARKER = 'dos_backbone'
_GRID_TOLERANCE = 1e-6


def load_checkpoint_file(filename: str) -> dict:
    """Load a checkpoint file on the CPU with mmengine's loader.

    Args:
        filename (str): Local path or any URI mmengine's
            :class:`CheckpointLoader` understands.

    Returns:
        dict: The checkpoint object.

    Raises:
        FileNotFoundError: ``filename`` is a local path that does not exist.
        TypeError: The file does not hold a dict.
    """
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{filename}: expected a checkpoint dict, got '
                        f'{type(checkpoint).__name__}')
    return checkpoint


def state_dict_of(checkpoint: Mapping, source: str) -> Dict[str, Tensor]:
    """The ``state_dict`` entry of an mmengine checkpoint.

    Args:
        checkpoint (Mapping): The loaded checkpoint.
        source (str): Where it came from (for error messages).

    Returns:
        dict[str, Tensor]: ``checkpoint['state_dict']``.

    Raises:
        KeyError: There is no ``state_dict`` entry.
    """
    if 'state_dict' not in checkpoint:
        raise KeyError(f"{source} is not an mmengine checkpoint: it has no "
                       f"'state_dict' entry (top-level keys: "
                       f'{sorted(checkpoint)[:10]})')
    return dict(checkpoint['state_dict'])


def strip_prefix(state_dict: Mapping[str, Tensor], prefix: str,
                 source: str) -> Dict[str, Tensor]:
    """Keep the entries under ``prefix`` and remove the prefix.

    Args:
        state_dict (Mapping[str, Tensor]): A full state dict.
        prefix (str): Key prefix, e.g. ``'backbone.'``.
        source (str): Where the state dict came from (for error messages).

    Returns:
        dict[str, Tensor]: The sub-module's state dict.

    Raises:
        KeyError: No key starts with ``prefix``; the message lists the
            top-level module names that are present.
    """
    stripped = {
        key[len(prefix):]: value
        for key, value in state_dict.items() if key.startswith(prefix)
    }
    if not stripped:
        present = sorted({key.split('.', 1)[0] for key in state_dict})
        raise KeyError(f'{source} has no key starting with {prefix!r}; its '
                       f'top-level modules are {present}')
    return stripped


def extract_dos_backbone(checkpoint: Mapping, which: str,
                         source: str) -> Dict[str, Tensor]:
    """The student's or the EMA teacher's PTv3 weights of a DOS checkpoint.

    Args:
        checkpoint (Mapping): A DOS pretraining checkpoint
            (``{'state_dict': ..., 'meta': ...}``).
        which (str): ``'student'`` or ``'teacher'``.
        source (str): Where it came from (for error messages).

    Returns:
        dict[str, Tensor]: PTv3 state dict (keys relative to the backbone),
        without :data:`PRETRAINING_ONLY_KEYS`.

    Raises:
        ValueError: ``which`` is unknown, or the checkpoint is already a
            converted backbone file.
        KeyError: The checkpoint is not a DOS checkpoint (no ``state_dict``,
            or nothing under the backbone's prefix).
    """
    if which not in DOS_BACKBONE_PREFIXES:
        raise ValueError(
            f'which must be one of {sorted(DOS_BACKBONE_PREFIXES)}'
            f', got {which!r}')
    if CONVERTED_MARKER in (checkpoint.get('meta') or {}):
        raise ValueError(f'{source} is already a converted backbone file '
                         f"(meta[{CONVERTED_MARKER!r}] is set), not a DOS "
                         'pretraining checkpoint')
    prefix = DOS_BACKBONE_PREFIXES[which]
    backbone = strip_prefix(
        state_dict_of(checkpoint, source), prefix,
        f'{source} (not a DOS pretraining checkpoint? the {which} backbone '
        f'lives under {prefix!r})')
    return {
        key: value
        for key, value in backbone.items() if key not in PRETRAINING_ONLY_KEYS
    }


def pretraining_config(meta: Mapping) -> Optional[Config]:
    """The pretraining run's config stored by mmengine in ``meta['cfg']``.

    Args:
        meta (Mapping): Checkpoint ``meta``.

    Returns:
        Config | None: The config, or None when the meta holds none.
    """
    text = meta.get('cfg')
    if not text:
        return None
    return Config.fromstring(text, file_format='.py')


def pretraining_grid(meta: Mapping) -> Optional[float]:
    """Input voxel edge (m) of the pretraining run, if the meta records it.

    Reads ``meta['grid_size']`` (converted backbone files) or else
    ``model.grid_size`` of the config in ``meta['cfg']`` (DOS checkpoints).

    Args:
        meta (Mapping): Checkpoint ``meta``.

    Returns:
        float | None: The grid in metres, or None if not recorded.
    """
    if meta.get('grid_size') is not None:
        return float(meta['grid_size'])
    cfg = pretraining_config(meta)
    if cfg is None or cfg.get('model', {}).get('grid_size') is None:
        return None
    return float(cfg.model.grid_size)


def check_grid_matches(pretrain_grid: Optional[float],
                       voxel_size: Sequence[float], source: str) -> None:
    """Reject a fine-tuning voxel size that differs from the pretraining grid.

    PTv3's conditional positional encoding, attention patches and
    serialization depth are defined in voxel units, so pretrained weights are
    only meaningful at the grid they were trained on.

    Args:
        pretrain_grid (float | None): Pretraining input voxel edge (m);
            None skips the check (not recorded).
        voxel_size (Sequence[float]): Fine-tuning voxel size (x, y, z), m.
        source (str): The checkpoint (for the error message).

    Raises:
        ValueError: Some axis of ``voxel_size`` differs from the grid.
    """
    if pretrain_grid is None:
        return
    if any(
            abs(float(v) - pretrain_grid) > _GRID_TOLERANCE
            for v in voxel_size):
        raise ValueError(
            f'voxel_size {list(voxel_size)} (x, y, z) does not match the '
            f'pretraining grid {pretrain_grid} m recorded in {source}; the '
            'PTv3 weights only fit the grid they were pretrained on, so set '
            f'voxel_size=[{pretrain_grid}] * 3 (and grid_size, '
            'out_size_factor to match)')


def verify_backbone_weights(backbone: nn.Module,
                            state_dict: Mapping[str, Tensor],
                            source: str,
                            check_values: bool = True) -> None:
    """Check that ``state_dict`` covers EVERY entry of ``backbone`` exactly.

    Args:
        backbone (nn.Module): The PTv3 that should hold the weights.
        state_dict (Mapping[str, Tensor]): The backbone weights (keys
            relative to ``backbone``).
        source (str): Where the weights come from (for error messages).
        check_values (bool): Also require that ``backbone``'s current tensors
            equal the checkpoint's (i.e. that they were actually loaded).
            Defaults to True.

    Raises:
        KeyError: Keys missing from, or unexpected in, ``state_dict``.
        ValueError: Shape mismatches, or (``check_values``) tensors that
            differ from the checkpoint.
    """
    expected = backbone.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise KeyError(
            f'{source} does not match the PTv3 backbone: '
            f'{len(missing)} missing keys {missing[:8]}, '
            f'{len(unexpected)} unexpected keys {unexpected[:8]} (different '
            'PTv3 size/preset or not a PTv3 backbone?)')
    shapes = [
        f'{key}: checkpoint {tuple(state_dict[key].shape)} vs model '
        f'{tuple(value.shape)}' for key, value in expected.items()
        if tuple(state_dict[key].shape) != tuple(value.shape)
    ]
    if shapes:
        raise ValueError(f'{source} has {len(shapes)} tensors whose shapes '
                         f'do not match the PTv3 backbone: {shapes[:5]}')
    if check_values:
        stale = [
            key for key, value in expected.items() if not torch.equal(
                value.detach().cpu(), state_dict[key].to(value.dtype))
        ]
        if stale:
            raise ValueError(
                f'{len(stale)} backbone tensors were not loaded from '
                f'{source} (e.g. {stale[:5]}); is the backbone init_cfg '
                'overridden or applied before another initialiser?')
