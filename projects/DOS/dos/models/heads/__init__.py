# Copyright (c) OpenMMLab. All rights reserved.
from .prototype_head import PrototypeHead, PrototypeScores

__all__ = ['PrototypeHead', 'PrototypeScores']
