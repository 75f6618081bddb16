# Copyright (c) OpenMMLab. All rights reserved.
"""Softmap distillation loss of DOS (KL between per-prototype softmaps)."""
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor

from .segment_loss import SegmentLoss
from .segment_ops import segment_log_softmax


@MODELS.register_module()
class SoftmapLoss(SegmentLoss):
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
    average_rows = False

    def row_loss(self, student: Tensor, target: Tensor, segment: Tensor,
                 num_segments: int) -> Tensor:
        """Each row's share of ``(1/K) sum_k KL(target_:k || softmap_:k)``.

        Args:
            student (Tensor): (N, K) student scores ``cos / tau_S`` (fp32).
            target (Tensor): (N, K) teacher log-softmap (e.g. from
                :class:`ZipfSinkhorn`), normalised over the rows of each
                segment.
            segment (Tensor): (N,) int64 segment id of each row.
            num_segments (int): Number of segments S.

        Returns:
            Tensor: (N,) per-row terms; their sum over a segment is its loss.
        """
        log_student = segment_log_softmax(student, segment, num_segments)
        kl = F.kl_div(
            log_student, target, log_target=True, reduction='none').sum(dim=1)
        return kl / student.shape[1]
