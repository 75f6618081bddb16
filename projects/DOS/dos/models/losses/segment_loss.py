# Copyright (c) OpenMMLab. All rights reserved.
"""Base of the DOS distillation losses: per-row losses, averaged per scene."""
from typing import Optional

from torch import Tensor, nn

from .segment_ops import check_segment, reduce_over_segments


class SegmentLoss(nn.Module):
    """A loss over rows grouped in segments (one segment = one scene and
    view), reduced as a mean over segments so every scene weighs the same.

    Subclasses define :meth:`row_loss` and the class attributes
    ``min_segment_size`` (smaller segments are skipped) and ``average_rows``
    (whether a segment's loss is the mean or the sum of its rows).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    min_segment_size = 1
    average_rows = True

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def row_loss(self, student: Tensor, target: Tensor, segment: Tensor,
                 num_segments: int) -> Tensor:
        """(N,) fp32 loss of each row; ``student``/``target`` are fp32 (N, C),
        ``target`` detached."""
        raise NotImplementedError

    def forward(self,
                student: Tensor,
                target: Tensor,
                segment: Tensor,
                num_segments: Optional[int] = None) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): (N, C) student rows (scores or embeddings).
            target (Tensor): (N, C) teacher rows; no gradient flows into it.
            segment (Tensor): (N,) int64 segment id of each row.
            num_segments (int, optional): Number of segments S; defaults to
                ``segment.max() + 1``.

        Returns:
            Tensor: Scalar loss (a zero with a ``grad_fn`` when no segment
            has ``min_segment_size`` rows).
        """
        if student.shape != target.shape:
            raise ValueError(
                f'{type(self).__name__}: student {tuple(student.shape)} and '
                f'target {tuple(target.shape)} shapes differ')
        if num_segments is None:
            num_segments = int(segment.max()) + 1 if segment.numel() else 1
        check_segment(student, segment, num_segments)
        rows = self.row_loss(student.float(),
                             target.detach().float(), segment, num_segments)
        loss = reduce_over_segments(rows, segment, num_segments,
                                    self.min_segment_size, self.average_rows,
                                    student)
        return self.loss_weight * loss
