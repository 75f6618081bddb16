# Copyright (c) OpenMMLab. All rights reserved.
"""Zipf-Sinkhorn (DOS, Algorithm 1) in the log domain."""
import math
from typing import Optional

import torch
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from .segment_ops import check_segment, map_segments

NORMALIZE_OVER = ('points', 'prototypes')


@MODELS.register_module()
class ZipfSinkhorn(nn.Module):
    r"""Sinkhorn-Knopp with a Zipfian prototype marginal, per segment.

    Algorithm 1 of DOS works on ``F = exp(logits)`` of one point cloud
    (N_v visible voxels x K prototypes)::

        w_k = k^-alpha / sum_j j^-alpha            (Zipf prior, fixed rank k)
        F  <- F / sum(F)
        repeat T times:
            F_i: <- F_i: / sum_k F_ik              (rows: points, uniform)
            F_:k <- F_:k * w_k / sum_i F_ik        (columns: prototypes, w)
        S(i, k) = F_ik / sum_j F_jk                (softmap over points)

    Writing ``F = exp(l_ik + r_i + c_k)``, every step is a log-sum-exp:
    ``r_i = -LSE_k(l_ik + c_k)`` and ``c_k = log w_k - LSE_i(l_ik + r_i)``
    (starting from ``c = 0``; the global normalisation only shifts ``r``).
    Rows are normalised to ``1 / N_v`` rather than 1 (``r_i`` lowered by
    ``log N_v``): a per-segment constant that every later step cancels, but
    that keeps both potentials bounded, where the literal form drifts by
    ``log N_v`` per iteration and loses fp32 precision for large T.
    The final column normalisation cancels ``c``, so the target is
    ``log_softmax_i(l_ik + r_i)``: the prior acts through per-point
    log-weights only. This form never exponentiates a raw logit, so it is
    finite for ``tau_T`` down to 0.01, alpha up to 3 and any K, and agrees
    with the literal algorithm (see the unit tests).

    ``normalize_over='prototypes'`` returns the clustering target of the
    Table 5 "clustering" ablation instead: after the same T iterations each
    point's row is normalised over prototypes (``log_softmax_k(l_ik + c_k)``),
    as SwAV/Sonata do with a uniform prior (alpha = 0).

    Every (scene, view) segment is balanced on its own: the marginals are
    those of Algorithm 1 for one point cloud, never pooled across scenes of a
    batch or across GPUs (Sonata pools; DOS states the algorithm per cloud).
    As a consequence the result does not depend on how scenes are split
    over ranks.

    Args:
        num_prototypes (int): K. Must be >= 1.
        alpha (float): Zipf exponent, >= 0; 0 gives the uniform marginal of
            standard Sinkhorn-Knopp. Defaults to 1.3 (DOS default; 1.6 is
            best on ScanNet200, Table 8).
        num_iters (int): T row/column iterations, >= 1. The paper does not
            give T; 3 follows Sonata. Defaults to 3.
        normalize_over (str): ``'points'`` (the softmap target of Alg. 1) or
            ``'prototypes'`` (clustering target). Defaults to ``'points'``.
    """

    def __init__(self,
                 num_prototypes: int = 1024,
                 alpha: float = 1.3,
                 num_iters: int = 3,
                 normalize_over: str = 'points') -> None:
        super().__init__()
        if isinstance(num_prototypes, bool) or not isinstance(
                num_prototypes, int) or num_prototypes < 1:
            raise ValueError(
                f'ZipfSinkhorn: num_prototypes (K) must be an int >= 1, got '
                f'{num_prototypes!r}')
        if not isinstance(alpha, (int, float)) or not alpha >= 0:
            raise ValueError(
                f'ZipfSinkhorn: alpha (Zipf exponent) must be >= 0, got '
                f'{alpha!r}')
        if isinstance(num_iters,
                      bool) or not isinstance(num_iters, int) or num_iters < 1:
            raise ValueError(
                f'ZipfSinkhorn: num_iters (T) must be an int >= 1, got '
                f'{num_iters!r}')
        if normalize_over not in NORMALIZE_OVER:
            raise ValueError(f'ZipfSinkhorn: normalize_over must be one of '
                             f'{NORMALIZE_OVER}, got {normalize_over!r}')
        self.num_prototypes = num_prototypes
        self.alpha = float(alpha)
        self.num_iters = num_iters
        self.normalize_over = normalize_over
        # Derived from the config, so not saved in checkpoints: a checkpoint
        # can never silently override the configured alpha.
        self.register_buffer(
            'log_prior',
            zipf_log_prior(num_prototypes, self.alpha),
            persistent=False)

    @torch.no_grad()
    def forward(self,
                logits: Tensor,
                segment: Optional[Tensor] = None,
                num_segments: Optional[int] = None) -> Tensor:
        """Compute the Zipf-regularised log-target.

        Args:
            logits (Tensor): (N, K) teacher scores ``cos / tau_T`` (the log of
                Algorithm 1's F). Computed in fp32 whatever the input dtype.
            segment (Tensor, optional): (N,) int64 segment id of each row;
                rows of different segments are balanced independently. None
                means one segment.
            num_segments (int, optional): Number of segments S; defaults to
                ``segment.max() + 1``.

        Returns:
            Tensor: (N, K) fp32 log-target. With ``normalize_over='points'``
            ``exp`` of each column sums to 1 within each segment; with
            ``'prototypes'`` each row sums to 1.
        """
        if logits.dim() != 2 or logits.shape[1] != self.num_prototypes:
            raise ValueError(
                f'ZipfSinkhorn: expected logits of shape (N, '
                f'{self.num_prototypes}), got {tuple(logits.shape)}')
        logits = logits.float()
        if segment is None:
            return self.single_cloud(logits)
        if num_segments is None:
            num_segments = int(segment.max()) + 1 if segment.numel() else 1
        check_segment(logits, segment, num_segments)
        return map_segments(self.single_cloud, logits, segment, num_segments)

    @torch.no_grad()
    def single_cloud(self, logits: Tensor) -> Tensor:
        """Algorithm 1 on one point cloud, in the log domain.

        Args:
            logits (Tensor): (N_v, K) fp32 ``cos / tau_T`` of one segment.

        Returns:
            Tensor: (N_v, K) log-target (see :meth:`forward`).
        """
        if logits.shape[0] == 0:
            return logits.clone()
        log_prior = self.log_prior.to(logits.device)
        log_rows = math.log(logits.shape[0])
        col = torch.zeros_like(log_prior)
        for step in range(self.num_iters):
            row = -log_rows - torch.logsumexp(
                logits + col, dim=1, keepdim=True)
            # The last column update is cancelled by the final column
            # normalisation of the softmap target, so it is skipped there.
            last = step + 1 == self.num_iters
            if not last or self.normalize_over == 'prototypes':
                col = log_prior - torch.logsumexp(logits + row, dim=0)
        if self.normalize_over == 'prototypes':
            return torch.log_softmax(logits + col, dim=1)
        return torch.log_softmax(logits + row, dim=0)

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        return (f'num_prototypes={self.num_prototypes}, alpha={self.alpha}, '
                f'num_iters={self.num_iters}, '
                f'normalize_over={self.normalize_over!r}')


def zipf_log_prior(num_prototypes: int, alpha: float) -> Tensor:
    """Log of the normalised Zipf prior ``w_k = k^-alpha / sum_j j^-alpha``.

    Args:
        num_prototypes (int): K.
        alpha (float): Zipf exponent (>= 0).

    Returns:
        Tensor: (K,) fp32 ``log w_k`` for ranks k = 1..K (computed in fp64).
    """
    ranks = torch.arange(1, num_prototypes + 1, dtype=torch.float64)
    log_w = -alpha * torch.log(ranks)
    return (log_w - torch.logsumexp(log_w, dim=0)).float()
