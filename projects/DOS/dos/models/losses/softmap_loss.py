# Copyright (c) OpenMMLab. All rights reserved.
"""Softmap distillation loss of DOS (KL between per-prototype softmaps)."""
from typing import Optional

import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from .segment_ops import (check_segment, reduce_over_segments,
                          segment_log_softmax)


@MODELS.register_module()
class SoftmapLoss(nn.Module):
    r"""KL divergence between teacher and student softmaps.

    A softmap of prototype k is a softmax over the voxels of ONE (scene, view)
    segment: ``S(i, k) = exp(s_ik) / sum_{j in segment} exp(s_jk)``. The loss
    of a segment is

    .. math::

        \frac{1}{K} \sum_k \mathrm{KL}(\tilde S_T(:, k) \| S_S(:, k))

    i.e. the paper's :math:`-\frac{1}{K}\sum_k\sum_i \tilde S_T \log S_S`
    minus the teacher entropy, a constant for the student. Reporting the KL
    makes the loss exactly zero when the student reproduces the target. The
    batch loss is the mean over segments with at least 2 voxels (a softmap
    over one voxel is constant); if no segment qualifies the result is a zero
    that keeps a ``grad_fn``. All arithmetic is fp32.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    min_segment_size = 2

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
            log_target (Tensor): (N, K) teacher log-softmap (e.g. from
                :class:`ZipfSinkhorn`), normalised over the rows of each
                segment. No gradient flows into it.
            segment (Tensor): (N,) int64 segment id of each row.
            num_segments (int, optional): Number of segments S; defaults to
                ``segment.max() + 1``.

        Returns:
            Tensor: Scalar loss.
        """
        if student_logits.shape != log_target.shape:
            raise ValueError(
                f'SoftmapLoss: student {tuple(student_logits.shape)} and '
                f'target {tuple(log_target.shape)} shapes differ')
        if num_segments is None:
            num_segments = int(segment.max()) + 1 if segment.numel() else 1
        check_segment(student_logits, segment, num_segments)
        log_student = segment_log_softmax(student_logits.float(), segment,
                                          num_segments)
        kl = F.kl_div(
            log_student,
            log_target.detach().float(),
            log_target=True,
            reduction='none').sum(dim=1)
        row_loss = kl / student_logits.shape[1]
        loss = reduce_over_segments(row_loss, segment, num_segments,
                                    self.min_segment_size, False,
                                    student_logits)
        return self.loss_weight * loss
