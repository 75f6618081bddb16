# Copyright (c) OpenMMLab. All rights reserved.
from .long_tail_seg_metric import LongTailSegMetric

__all__ = ['LongTailSegMetric']
