# Copyright (c) OpenMMLab. All rights reserved.
"""Fixtures shared by the whole test suite."""
import os.path as osp
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """The repository root (holding ``projects/`` and ``tools/``)."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """``../shared/data`` next to the repository: small real frames.

    Skips the requesting test with a reason when the folder is absent (a
    user's clone has no ``../shared``).
    """
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'real sample frames not found at {SHARED_DATA} '
                    '(only present on the project machines)')
    return SHARED_DATA
