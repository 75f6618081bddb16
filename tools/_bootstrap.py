# Copyright (c) OpenMMLab. All rights reserved.
"""Put the repository root first on ``sys.path``.

Every entry script in ``tools/`` imports this module first, so that
``projects.DOS.dos`` (named in the configs' ``custom_imports``) resolves from
any working directory without ``PYTHONPATH``, and cannot be shadowed by an
unrelated installed package called ``projects`` (mmdet3d issue #2832).
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if sys.path[0] != REPO_ROOT:
    sys.path.insert(0, REPO_ROOT)
