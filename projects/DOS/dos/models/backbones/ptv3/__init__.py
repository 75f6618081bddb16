# Copyright (c) OpenMMLab. All rights reserved.
from .attention import PatchPartition, SerializedAttention
from .block import ConditionalPositionalEncoding, DropPath, PTv3Block
from .pooling import GridPooling, GridUnpooling
from .presets import PTV3_BASE, PTV3_PRESETS, PTV3_SMALL
from .ptv3 import PTv3
from .serialization import SERIALIZATION_ORDERS, SerializedOrder, serialize
from .sparse_conv import SubMConv3d, SubMRulebook
from .structure import PointLevel, batch_to_offset, offset_to_batch
from .upcast import UpcastFeature

__all__ = [
    'PTv3', 'PTv3Block', 'ConditionalPositionalEncoding', 'DropPath',
    'SerializedAttention', 'PatchPartition', 'SubMConv3d', 'SubMRulebook',
    'GridPooling', 'GridUnpooling', 'PointLevel', 'SerializedOrder',
    'SERIALIZATION_ORDERS', 'serialize', 'offset_to_batch', 'batch_to_offset',
    'PTV3_BASE', 'PTV3_SMALL', 'PTV3_PRESETS', 'UpcastFeature'
]
