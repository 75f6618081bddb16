# Copyright (c) OpenMMLab. All rights reserved.
from .ptv3 import *  # noqa: F401,F403
