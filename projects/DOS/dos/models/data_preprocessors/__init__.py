# Copyright (c) OpenMMLab. All rights reserved.
from .dos_data_preprocessor import DOSDataPreprocessor
from .seg_data_preprocessor import PTv3SegDataPreprocessor

__all__ = ['DOSDataPreprocessor', 'PTv3SegDataPreprocessor']
