# Copyright (c) OpenMMLab. All rights reserved.
"""Per-point clustering loss (Table 5 "clustering" ablation of DOS)."""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor

from .segment_loss import SegmentLoss


@MODELS.register_module()
class ClusteringLoss(SegmentLoss):
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
    average_rows = True

    def row_loss(self, student: Tensor, target: Tensor, segment: Tensor,
                 num_segments: int) -> Tensor:
        """Per point ``KL(target_i || softmax_k(student_i))``.

        Args:
            student (Tensor): (N, K) student scores ``cos / tau_S`` (fp32).
            target (Tensor): (N, K) teacher log-assignment, each row
                normalised over prototypes.
            segment (Tensor): (N,) segment ids (unused: rows are
                independent).
            num_segments (int): Number of segments (unused).

        Returns:
            Tensor: (N,) per-point KL.
        """
        log_student = torch.log_softmax(student, dim=1)
        return F.kl_div(
            log_student, target, log_target=True, reduction='none').sum(dim=1)
