# Copyright (c) OpenMMLab. All rights reserved.
"""Checkpoint torch's global random state so a resumed run is bit-exact."""
import logging
from typing import Dict, List, Optional

import torch
from mmdet3d.registry import HOOKS
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import Tensor

CHECKPOINT_KEY = 'torch_random_state'
DATA_BATCH = Optional[dict]


def get_torch_random_state() -> Dict[str, object]:
    """Torch's global generator states: CPU and, if present, every GPU.

    Returns:
        dict: ``cpu`` (uint8 Tensor) and ``cuda`` (list of uint8 Tensors, one
        per visible GPU; empty without CUDA).
    """
    cuda: List[Tensor] = (
        torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])
    return dict(cpu=torch.get_rng_state(), cuda=cuda)


def set_torch_random_state(state: Dict[str, object]) -> None:
    """Restore what :func:`get_torch_random_state` returned.

    Args:
        state (dict): ``cpu`` and ``cuda`` generator states.

    Raises:
        ValueError: If ``state`` lacks ``cpu`` or ``cuda``, or holds CUDA
            states for a different number of GPUs than are visible.
    """
    if not isinstance(state, dict) or set(state) != {'cpu', 'cuda'}:
        raise ValueError(f'checkpoint[{CHECKPOINT_KEY!r}] entries must be '
                         f"dicts with keys 'cpu' and 'cuda', got "
                         f'{state!r:.200}')
    num_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if len(state['cuda']) not in (0, num_gpus):
        raise ValueError(
            f'checkpoint[{CHECKPOINT_KEY!r}] holds CUDA generator states of '
            f'{len(state["cuda"])} GPUs but {num_gpus} are visible; resume '
            'with the same CUDA_VISIBLE_DEVICES per process')
    torch.set_rng_state(state['cpu'])
    if state['cuda']:
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RandomStateCheckpointHook(Hook):
    """Save torch's global random state in checkpoints and restore it.

    mmengine seeds the generators once when the runner is built and does not
    checkpoint them, so a resumed run would replay the random draws of the
    first iterations. In DOS pretraining the model step draws from torch's
    global generators (PTv3's ``shuffle_orders``, token jitter, drop path,
    on the device of the model), and the draws differ between ranks (drop
    path draws one number per point). After every training iteration the
    hook therefore collects the CPU and CUDA generator states of all ranks
    (a few KB each), writes them to ``checkpoint['torch_random_state']`` (a
    list indexed by rank) when a checkpoint is saved, and gives every rank
    its own state back when a checkpoint is resumed (not when weights are
    only loaded, ``resume=False``).

    numpy's and Python's generators are deliberately NOT restored: they are
    consumed by the data pipeline only (views, crops, mask seeds), and
    mmengine's ``IterBasedTrainLoop`` resumes the data order by fetching
    the first ``runner.iter`` batches again from a freshly seeded state, which
    replays exactly those draws (in the main process with ``num_workers=0``;
    in the workers otherwise, which mmengine seeds from the run's seed and
    the rank). Restoring them before that replay would shift the data stream.

    Exactness needs ``randomness=dict(seed=..., deterministic=True)``, the
    same number of processes and GPUs, a checkpoint written with this hook
    (otherwise the states are not restored and a warning is logged), and a
    train dataloader whose iterator is not re-created during the replay:
    torch's ``DataLoader`` draws a base seed from the global generator each
    time an iterator is created (each pass over a finite sampler). Use
    mmengine's ``InfiniteSampler`` with ``IterBasedTrainLoop`` (as
    ``dos_pretrain_synthetic.py`` does).

    The states are applied in ``before_train``, i.e. after mmengine's
    ``Runner.resume`` has finished (it re-seeds all generators when the
    checkpoint's seed differs from the run's) and before the data replay.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        # states of all ranks after the last iteration, indexed by rank
        self._rank_states: Optional[List[Dict[str, object]]] = None
        # this rank's state from a resumed checkpoint, until before_train
        self._resumed_state: Optional[Dict[str, object]] = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Collect every rank's state (checkpoints are written by rank 0)."""
        self._rank_states = all_gather_object(get_torch_random_state())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the states of all ranks to ``checkpoint``."""
        checkpoint[CHECKPOINT_KEY] = (
            self._rank_states
            if self._rank_states is not None else [get_torch_random_state()])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep this rank's saved state when resuming.

        A checkpoint without saved states (written without this hook) or
        from a run with another number of processes is resumed with the
        seeded states, and a warning says that the continuation is not
        exact.

        Raises:
            ValueError: If the saved states are not a list (one per rank).
        """
        if not runner._resume:
            return
        states = checkpoint.get(CHECKPOINT_KEY)
        if states is not None and not isinstance(states, list):
            raise ValueError(f'checkpoint[{CHECKPOINT_KEY!r}] must be a list '
                             f'of per-rank states, got {type(states)}')
        if states is None or len(states) != get_world_size():
            found = ('no random state' if states is None else
                     f'the random states of {len(states)} processes')
            print_log(
                f'RandomStateCheckpointHook: the checkpoint holds {found}, '
                f'this run has {get_world_size()} processes; keeping the '
                'seeded states (the resumed run will not repeat the '
                'interrupted one exactly)',
                logger='current',
                level=logging.WARNING)
            return
        self._resumed_state = states[get_rank()]

    def before_train(self, runner) -> None:
        """Restore the state kept by :meth:`after_load_checkpoint`, if any."""
        if self._resumed_state is not None:
            set_torch_random_state(self._resumed_state)
            self._resumed_state = None
