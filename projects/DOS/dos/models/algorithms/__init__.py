# Copyright (c) OpenMMLab. All rights reserved.
from .dos import DOS, MASKINGS, TARGETS, VoxelMatch
from .teacher_ema import CosineTeacherEMA

__all__ = ['DOS', 'CosineTeacherEMA', 'VoxelMatch', 'TARGETS', 'MASKINGS']
