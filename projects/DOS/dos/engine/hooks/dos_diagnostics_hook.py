# Copyright (c) OpenMMLab. All rights reserved.
"""Collapse diagnostics of DOS pretraining for the training log."""
from typing import Dict, Optional

import torch
from mmdet3d.registry import HOOKS
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import Tensor

DATA_BATCH = Optional[dict]


def prototype_diagnostics(teacher_assign: Tensor,
                          student_assign: Tensor,
                          teacher_confidence: Tensor,
                          log_prior: Tensor,
                          confidence_threshold: float,
                          reduce: bool = True) -> Dict[str, float]:
    """Usage and coverage statistics of the prototypes.

    Args:
        teacher_assign (Tensor): (J,) int64 teacher's best prototype per
            supervised voxel.
        student_assign (Tensor): (J,) int64 student's best prototype.
        teacher_confidence (Tensor): (J,) teacher's largest per-voxel
            probability over prototypes (``softmax_k(cos / tau_T)``).
        log_prior (Tensor): (K,) log Zipf prior ``log w_k``.
        confidence_threshold (float): A voxel is covered when its confidence
            exceeds this.
        reduce (bool): Sum the counts over all ranks first (a no-op when
            not distributed), so the figures are those of the global batch.

    Returns:
        dict[str, float]: ``usage_entropy`` (nats, of the teacher's usage
        histogram p_k), ``active_prototypes`` (k with p_k > 0),
        ``usage_kl_zipf`` (KL(p || w), prototypes in their fixed Zipf rank
        order), ``coverage`` (share of voxels above the threshold) and
        ``agreement`` (share where student and teacher pick the same
        prototype). Semantic collapse shows as low entropy / few active
        prototypes; point-wise collapse as low coverage.
    """
    num_prototypes = log_prior.numel()
    counts = torch.cat([
        torch.bincount(teacher_assign, minlength=num_prototypes).double(),
        torch.stack([(teacher_confidence
                      > confidence_threshold).sum().double(),
                     (teacher_assign == student_assign).sum().double(),
                     torch.tensor(
                         float(teacher_assign.numel()),
                         dtype=torch.float64,
                         device=teacher_assign.device)])
    ])
    if reduce:
        all_reduce(counts)
    usage, (confident, agree,
            total) = counts[:num_prototypes], counts[num_prototypes:].tolist()
    total = max(total, 1.0)
    p = usage / total
    log_p = torch.log(p.clamp(min=1e-300))
    return dict(
        usage_entropy=float(-(p * log_p).sum()),
        active_prototypes=float((usage > 0).sum()),
        usage_kl_zipf=float((p * (log_p - log_prior.double())).sum()),
        coverage=confident / total,
        agreement=agree / total)


@HOOKS.register_module()
class DOSDiagnosticsHook(Hook):
    """Log prototype usage, Zipf divergence, coverage and agreement.

    Every ``interval`` training iterations it reads the statistics that
    :meth:`DOS.loss` keeps in ``model.last_diagnostics`` (same-view
    supervised voxels of the batch), sums the counts over ranks and logs
    ``train/usage_entropy``, ``train/active_prototypes``,
    ``train/usage_kl_zipf``, ``train/coverage`` and ``train/agreement`` to
    the message hub (hence the text log and TensorBoard). It runs before
    :class:`mmengine.hooks.LoggerHook` (priority NORMAL).

    Args:
        interval (int): Log every ``interval`` iterations. Defaults to 50.
        confidence_threshold (float): Teacher probability above which a
            voxel counts as covered. Defaults to 0.5.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 50,
                 confidence_threshold: float = 0.5) -> None:
        if interval < 1:
            raise ValueError(
                f'DOSDiagnosticsHook: interval must be >= 1, got {interval}')
        if not 0 < confidence_threshold < 1:
            raise ValueError('DOSDiagnosticsHook: confidence_threshold must '
                             f'be in (0, 1), got {confidence_threshold}')
        self.interval = interval
        self.confidence_threshold = confidence_threshold

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Compute and log the diagnostics of the last batch."""
        if not self.every_n_train_iters(runner, self.interval):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        stats = model.last_diagnostics
        metrics = prototype_diagnostics(stats['teacher_assign'],
                                        stats['student_assign'],
                                        stats['teacher_confidence'],
                                        model.sinkhorn.log_prior,
                                        self.confidence_threshold)
        for name, value in metrics.items():
            runner.message_hub.update_scalar(f'train/{name}', value)
