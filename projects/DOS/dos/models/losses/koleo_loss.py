# Copyright (c) OpenMMLab. All rights reserved.
"""KoLeo spreading regulariser of point embeddings (DINOv2)."""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from .segment_ops import check_segment


@MODELS.register_module()
class KoLeoLoss(nn.Module):
    """Kozachenko-Leonenko entropy estimate of each segment's embeddings,
    negated: ``-mean_i log(min_{j != i} ||x_i - x_j||)``.

    DINOv2 (Oquab et al. 2024) adds this term to keep the embeddings of a
    batch spread over the sphere; in DOS it counters the dimensional
    collapse of the head embeddings (README, "The drift that is left"):
    the softmap loss is lower when the teacher and student embeddings span
    fewer directions, and nothing in the method pushes back. Not part of the
    paper, hence off by default (``DOS(embedding_regularizer=None)``).

    Each (scene, view) segment is regularised on its own, over a uniform
    random sample of at most ``max_points`` of its rows, so that the cost
    is a fixed (max_points, max_points) distance matrix per segment
    whatever the crop size. The mmdet3d/mmdet registries have no such loss
    and DINOv2's is written for one batch of images, hence this module.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 0.1
            (DINOv2).
        max_points (int): Rows sampled per segment, >= 2. Defaults to 1024.
        eps (float): Added to the squared distance inside the log (identical
            rows give ``-0.5 log(eps)`` and a finite gradient). Defaults to
            1e-8.
    """

    loss_name = 'loss_koleo'

    def __init__(self,
                 loss_weight: float = 0.1,
                 max_points: int = 1024,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if isinstance(
                max_points,
                bool) or not isinstance(max_points, int) or max_points < 2:
            raise ValueError(f'KoLeoLoss: max_points must be an int >= 2, got '
                             f'{max_points!r}')
        if not eps > 0:
            raise ValueError(f'KoLeoLoss: eps must be > 0, got {eps!r}')
        self.loss_weight = float(loss_weight)
        self.max_points = max_points
        self.eps = float(eps)

    def forward(self, embed: Tensor, segment: Tensor,
                num_segments: int) -> Tensor:
        """Compute the loss.

        Args:
            embed (Tensor): (N, D) embeddings (L2-normalised here).
            segment (Tensor): (N,) int64 segment id of each row.
            num_segments (int): Number of segments S.

        Returns:
            Tensor: Scalar mean over the segments with at least 2 rows (a
            zero with a ``grad_fn`` when there is none).
        """
        check_segment(embed, segment, num_segments)
        terms = []
        for rows in torch.argsort(
                segment, stable=True).split(
                    torch.bincount(segment, minlength=num_segments).tolist()):
            if rows.numel() < 2:
                continue
            if rows.numel() > self.max_points:
                keep = torch.randperm(rows.numel(), device=rows.device)
                rows = rows[keep[:self.max_points]]
            x = F.normalize(embed[rows].float(), dim=1)
            sq_dist = (2.0 - 2.0 * x @ x.t()).clamp_min(0.0)
            sq_dist.fill_diagonal_(float('inf'))
            nearest = sq_dist.min(dim=1).values
            terms.append(-0.5 * torch.log(nearest + self.eps).mean())
        if not terms:
            return embed.sum() * 0.0
        return self.loss_weight * torch.stack(terms).mean()
