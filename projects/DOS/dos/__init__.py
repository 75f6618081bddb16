# Copyright (c) OpenMMLab. All rights reserved.
"""DOS: Distilling Observable Softmaps of Zipfian Prototypes (OpenMMLab).

Importing this package applies the stack's compatibility fixes
(:mod:`projects.DOS.dos.compat`) and registers every DOS component in
mmdet3d's registries; configs import it through ``custom_imports``.
"""
from . import compat  # noqa: F401  (must run before the modules below)
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .visualization import *  # noqa: F401,F403
