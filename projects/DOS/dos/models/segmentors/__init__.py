# Copyright (c) OpenMMLab. All rights reserved.
from .ptv3_seg_head import PTv3SegHead
from .ptv3_segmentor import PTv3Segmentor

__all__ = ['PTv3SegHead', 'PTv3Segmentor']
