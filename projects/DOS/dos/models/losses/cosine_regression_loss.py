# Copyright (c) OpenMMLab. All rights reserved.
"""Cosine feature regression loss (Table 5 "feature regression" ablation)."""
from typing import Optional

import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from .segment_ops import check_segment, reduce_over_segments


@MODELS.register_module()
class CosineRegressionLoss(nn.Module):
    """``1 - cos(student, teacher)`` per point, averaged per segment.

    The regression ablation of DOS (as in masked scene modelling) regresses
    the teacher's embedding at each supervised voxel; here the embeddings are
    the prototype head's L2-normalised projections, so the prototypes are not
    used by this variant. The batch loss is the mean over non-empty segments.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    min_segment_size = 1

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                student_embed: Tensor,
                teacher_embed: Tensor,
                segment: Tensor,
                num_segments: Optional[int] = None) -> Tensor:
        """Compute the loss.

        Args:
            student_embed (Tensor): (N, D) student embeddings.
            teacher_embed (Tensor): (N, D) teacher embeddings (no gradient).
            segment (Tensor): (N,) int64 segment id of each row.
            num_segments (int, optional): Number of segments S; defaults to
                ``segment.max() + 1``.

        Returns:
            Tensor: Scalar loss in [0, 2].
        """
        if student_embed.shape != teacher_embed.shape:
            raise ValueError(
                f'CosineRegressionLoss: student {tuple(student_embed.shape)} '
                f'and teacher {tuple(teacher_embed.shape)} shapes differ')
        if num_segments is None:
            num_segments = int(segment.max()) + 1 if segment.numel() else 1
        check_segment(student_embed, segment, num_segments)
        distance = 1.0 - F.cosine_similarity(
            student_embed.float(), teacher_embed.detach().float(), dim=1)
        loss = reduce_over_segments(distance, segment, num_segments,
                                    self.min_segment_size, True, student_embed)
        return self.loss_weight * loss
