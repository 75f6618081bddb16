# Copyright (c) OpenMMLab. All rights reserved.
"""RandomStateCheckpointHook: what it saves, restores and rejects."""
from types import SimpleNamespace

import pytest
import torch
from mmdet3d.registry import HOOKS

from projects.DOS.dos.engine.hooks import (RandomStateCheckpointHook,
                                           get_torch_random_state,
                                           set_torch_random_state)


def _runner(resume: bool) -> SimpleNamespace:
    return SimpleNamespace(_resume=resume)


def test_saved_state_is_restored_before_training_when_resuming():
    hook = HOOKS.build(dict(type='RandomStateCheckpointHook'))
    torch.manual_seed(123)
    hook.after_train_iter(_runner(False), 0)
    checkpoint = {}
    hook.before_save_checkpoint(_runner(False), checkpoint)
    expected = torch.rand(5)

    torch.manual_seed(0)  # what a resumed run's seeding does
    resumed = RandomStateCheckpointHook()
    resumed.after_load_checkpoint(_runner(True), checkpoint)
    resumed.before_train(_runner(True))
    assert torch.equal(torch.rand(5), expected)


def test_state_is_not_touched_when_only_loading_weights():
    hook = RandomStateCheckpointHook()
    checkpoint = {}
    hook.before_save_checkpoint(_runner(False), checkpoint)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    hook.after_load_checkpoint(_runner(False), checkpoint)
    hook.before_train(_runner(False))
    assert torch.equal(torch.rand(3), expected)
    # a checkpoint without random state (e.g. a converted one) loads too
    hook.after_load_checkpoint(_runner(False), {})


@pytest.mark.parametrize('checkpoint', [
    {
        'meta': {}
    },
    {
        'torch_random_state': [get_torch_random_state()] * 2
    },
])
def test_missing_or_other_world_size_keeps_the_seeded_state(checkpoint):
    """Old checkpoints and another process count resume, inexactly."""
    hook = RandomStateCheckpointHook()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    hook.after_load_checkpoint(_runner(True), checkpoint)
    hook.before_train(_runner(True))
    assert torch.equal(torch.rand(3), expected)


def test_saved_states_must_be_a_list():
    hook = RandomStateCheckpointHook()
    with pytest.raises(ValueError, match='per-rank'):
        hook.after_load_checkpoint(_runner(True), {'torch_random_state': 'x'})


@pytest.mark.parametrize('state', [
    {
        'cpu': torch.get_rng_state()
    },
    {
        'cpu': torch.get_rng_state(),
        'cuda': [torch.zeros(16, dtype=torch.uint8)] * 64
    },
])
def test_malformed_states_are_rejected(state):
    with pytest.raises(ValueError, match='torch_random_state'):
        set_torch_random_state(state)
