# Copyright (c) OpenMMLab. All rights reserved.
"""Per-point clustering loss (Table 5 "clustering" ablation of DOS)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from .segment_ops import check_segment, reduce_over_segments


@MODELS.register_module()
class ClusteringLoss(nn.Module):
    """KL between per-point prototype distributions (SwAV/Sonata style).

    Unlike :class:`SoftmapLoss`, scores are normalised over the K prototypes
    of each point independently; the target is a Sinkhorn assignment
    normalised over prototypes (:class:`ZipfSinkhorn` with
    ``normalize_over='prototypes'``, alpha 0 for the paper's baseline). The
    loss of a segment is the mean over its points of
    ``KL(target_i || softmax_k(student_i))`` (cross-entropy minus the target
    entropy, so zero at equality); the batch loss is the mean over non-empty
    segments, like the softmap loss, so both variants weigh scenes equally.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    min_segment_size = 1

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                student_logits: Tensor,
                log_target: Tensor,
                segment: Tensor,
                num_segments: Optional[int] = None) -> Tensor:
        """Compute the loss.

        Args:
            student_logits (Tensor): (N, K) student scores ``cos / tau_S``.
            log_target (Tensor): (N, K) teacher log-assignment, each row
                normalised over prototypes. No gradient flows into it.
            segment (Tensor): (N,) int64 segment id of each row.
            num_segments (int, optional): Number of segments S; defaults to
                ``segment.max() + 1``.

        Returns:
            Tensor: Scalar loss.
        """
        if student_logits.shape != log_target.shape:
            raise ValueError(
                f'ClusteringLoss: student {tuple(student_logits.shape)} and '
                f'target {tuple(log_target.shape)} shapes differ')
        if num_segments is None:
            num_segments = int(segment.max()) + 1 if segment.numel() else 1
        check_segment(student_logits, segment, num_segments)
        log_student = torch.log_softmax(student_logits.float(), dim=1)
        kl = F.kl_div(
            log_student,
            log_target.detach().float(),
            log_target=True,
            reduction='none').sum(dim=1)
        loss = reduce_over_segments(kl, segment, num_segments,
                                    self.min_segment_size, True,
                                    student_logits)
        return self.loss_weight * loss
