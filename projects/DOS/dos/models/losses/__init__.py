# Copyright (c) OpenMMLab. All rights reserved.
from .clustering_loss import ClusteringLoss
from .cosine_regression_loss import CosineRegressionLoss
from .segment_loss import SegmentLoss
from .segment_ops import (map_segments, reduce_over_segments, segment_count,
                          segment_log_softmax)
from .softmap_loss import SoftmapLoss
from .zipf_sinkhorn import ZipfSinkhorn, zipf_log_prior

__all__ = [
    'ZipfSinkhorn', 'zipf_log_prior', 'SoftmapLoss', 'ClusteringLoss',
    'CosineRegressionLoss', 'SegmentLoss', 'map_segments',
    'segment_log_softmax', 'segment_count', 'reduce_over_segments'
]
