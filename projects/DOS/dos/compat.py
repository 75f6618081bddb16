# Copyright (c) OpenMMLab. All rights reserved.
"""Compatibility fixes for the pinned stack (torch 2.13, numpy 1.26,
mmengine 0.10.7, mmdet3d 1.4.0, spconv 2.3.8).

Each fix is guarded so that it only applies where the problem exists, is
idempotent, and is covered by a test in ``tests/test_compat.py`` that shows
the failure without it. :func:`apply_all` runs when ``projects.DOS.dos`` is
imported (configs import it through ``custom_imports``), so every entry point
gets the same stack.

1. :func:`fix_spconv_cpu_stream` -- spconv 2.3.8's CPU backward (and its
   hash table) asks ``torch.cuda.current_stream()`` for a stream handle,
   which raises on CPU-only torch builds. On machines without CUDA the
   handle is 0 (the default stream; the CPU kernels ignore it).
2. :func:`fix_mmengine_checkpoint_loading` -- torch >= 2.6 loads with
   ``weights_only=True`` by default, and mmengine 0.10.7 checkpoints hold
   Python objects (``HistoryBuffer``, numpy scalars, ``getattr`` calls in
   the message hub), so ``--resume`` and ``load_from`` fail with "Unsupported
   global". Allow-listing would need ``getattr``, which defeats the purpose,
   so local checkpoint files (the user's own) are loaded with
   ``weights_only=False`` by re-registering mmengine's loader for local
   paths; remote schemes keep torch's default.
3. :func:`fix_numpy_long_alias` -- mmdet3d 1.4.0's ``DataBaseSampler``
   (the ``ObjectSample`` transform) uses ``np.long``, which numpy 1.24
   removed. The alias is restored with its old meaning (the builtin ``int``).
4. :func:`fix_mmengine_cpu_distributed` -- mmengine 0.10.7's ``init_dist``
   for the pytorch launcher (``tools/dist_train.sh``) calls
   ``torch.cuda.set_device(LOCAL_RANK)`` whatever the backend, which raises
   on machines without CUDA. There it is replaced by a launcher that only
   joins the gloo process group (there is no device to select). The model
   wrapper then needs ``model_wrapper_cfg.device_ids=None`` (DDP takes no
   device ids for CPU modules).
"""
import os.path as osp
import sys
from typing import Callable, Dict, Optional, Union

import numpy as np
import torch
from mmengine.utils import digit_version

__all__ = [
    'apply_all', 'fix_spconv_cpu_stream', 'fix_mmengine_checkpoint_loading',
    'fix_numpy_long_alias', 'fix_mmengine_cpu_distributed', 'APPLIED'
]

#: Names of the fixes that changed something in this process.
APPLIED: Dict[str, bool] = {}


def _cpu_stream_handle() -> int:
    """Stream handle for spconv on CPU-only machines (the default stream)."""
    return 0


def fix_spconv_cpu_stream() -> bool:
    """Give spconv a stream handle on machines without CUDA.

    spconv binds ``get_current_stream`` into each of its modules with
    ``from ... import``, so every loaded ``spconv.pytorch*`` module that holds
    the CUDA version is updated.

    Returns:
        bool: True if the fix was applied (spconv installed, no CUDA).
    """
    if torch.cuda.is_available():
        return False
    try:
        from spconv.pytorch import cppcore
    except ImportError:
        return False
    original = getattr(cppcore, '_dos_cuda_get_current_stream',
                       cppcore.get_current_stream)
    cppcore._dos_cuda_get_current_stream = original
    for name, module in list(sys.modules.items()):
        if (name.startswith('spconv.pytorch') and module is not None
                and getattr(module, 'get_current_stream', None) is original):
            module.get_current_stream = _cpu_stream_handle
    return True


def _load_local_checkpoint(
        filename: str,
        map_location: Optional[Union[str, Callable]] = None) -> dict:
    """Load a local checkpoint file with full unpickling.

    Same contract as ``mmengine.runner.checkpoint.load_from_local``.

    Args:
        filename (str): Path of the checkpoint (``~`` is expanded).
        map_location (str | Callable, optional): Same as :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def fix_mmengine_checkpoint_loading() -> bool:
    """Let mmengine load its own local checkpoints under torch >= 2.6.

    Returns:
        bool: True if the loader for local files was replaced.
    """
    if digit_version(torch.__version__) < digit_version('2.6.0'):
        return False
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_checkpoint, force=True)
    return True


def fix_numpy_long_alias() -> bool:
    """Restore ``np.long`` for mmdet3d 1.4.0's ``DataBaseSampler``.

    Returns:
        bool: True if the alias was missing and has been added.
    """
    if 'long' in np.__dict__:
        return False
    np.long = int
    return True


def _init_dist_pytorch_without_cuda(backend: str,
                                    init_backend: str = 'torch',
                                    **kwargs) -> None:
    """Join the process group of a ``torchrun`` launch on a CPU machine.

    Same contract as ``mmengine.dist.utils._init_dist_pytorch`` minus the
    ``torch.cuda.set_device`` call; rank and world size come from torchrun's
    environment variables (``env://``).

    Args:
        backend (str): Must be ``'gloo'`` (the only CPU backend).
        init_backend (str): Must be ``'torch'``.
        **kwargs: Passed to ``torch.distributed.init_process_group``.

    Raises:
        ValueError: For another backend or ``init_backend``.
    """
    if backend != 'gloo':
        raise ValueError(
            'distributed training without CUDA needs the gloo backend, got '
            f'env_cfg.dist_cfg.backend={backend!r}; pass --cfg-options '
            'env_cfg.dist_cfg.backend=gloo')
    if init_backend != 'torch':
        raise ValueError('distributed training without CUDA supports '
                         f"init_backend='torch' only, got {init_backend!r}")
    torch.distributed.init_process_group(backend=backend, **kwargs)


def fix_mmengine_cpu_distributed() -> bool:
    """Let mmengine's pytorch launcher start on machines without CUDA.

    mmengine's own function stays available as
    ``mmengine.dist.utils._dos_cuda_init_dist_pytorch``.

    Returns:
        bool: True if ``_init_dist_pytorch`` was replaced (no CUDA).
    """
    if torch.cuda.is_available():
        return False
    from mmengine.dist import utils
    utils._dos_cuda_init_dist_pytorch = getattr(utils,
                                                '_dos_cuda_init_dist_pytorch',
                                                utils._init_dist_pytorch)
    utils._init_dist_pytorch = _init_dist_pytorch_without_cuda
    return True


def apply_all() -> Dict[str, bool]:
    """Apply every fix; safe to call more than once.

    Returns:
        dict: ``{fix name: whether it changed something}``.
    """
    for fix in (fix_spconv_cpu_stream, fix_mmengine_checkpoint_loading,
                fix_numpy_long_alias, fix_mmengine_cpu_distributed):
        APPLIED[fix.__name__] = fix() or APPLIED.get(fix.__name__, False)
    return dict(APPLIED)


apply_all()
