# Copyright (c) OpenMMLab. All rights reserved.
"""Cosine feature regression loss (Table 5 "feature regression" ablation)."""
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor

from .segment_loss import SegmentLoss


@MODELS.register_module()
class CosineRegressionLoss(SegmentLoss):
    """``1 - cos(student, teacher)`` per point, averaged per segment.

    The regression ablation of DOS (as in masked scene modelling) regresses
    the teacher's embedding at each supervised voxel; here the embeddings are
    the prototype head's L2-normalised projections, so the prototypes are not
    used by this variant. The batch loss is the mean over non-empty segments.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    min_segment_size = 1
    average_rows = True

    def row_loss(self, student: Tensor, target: Tensor, segment: Tensor,
                 num_segments: int) -> Tensor:
        """Per point ``1 - cos(student_i, teacher_i)``.

        Args:
            student (Tensor): (N, D) student embeddings (fp32).
            target (Tensor): (N, D) teacher embeddings.
            segment (Tensor): (N,) segment ids (unused).
            num_segments (int): Number of segments (unused).

        Returns:
            Tensor: (N,) distances in [0, 2].
        """
        return 1.0 - F.cosine_similarity(student, target, dim=1)
