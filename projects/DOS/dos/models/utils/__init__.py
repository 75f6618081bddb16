# Copyright (c) OpenMMLab. All rights reserved.
from .block_masking import BlockMasking, DegenerateViewError

__all__ = ['BlockMasking', 'DegenerateViewError']
