# Copyright (c) OpenMMLab. All rights reserved.
from .dos_data_preprocessor import DOSDataPreprocessor

__all__ = ['DOSDataPreprocessor']
from .seg_data_preprocessor import PTv3SegDataPreprocessor  # noqa: E402

__all__ += ['PTv3SegDataPreprocessor']
