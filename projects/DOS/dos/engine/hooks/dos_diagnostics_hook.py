# Copyright (c) OpenMMLab. All rights reserved.
"""Collapse diagnostics of DOS pretraining for the training log."""
import logging
import math
from typing import Dict, Optional

import torch
from mmdet3d.registry import HOOKS
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor

from ...models.losses.segment_ops import segment_count

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


def softmap_diagnostics(stats: Dict[str, Tensor],
                        teacher_temp: float,
                        reduce: bool = True) -> Dict[str, float]:
    """Point-wise collapse statistics of the same-view term, per segment.

    Each statistic is computed on every (scene, view) segment with at least
    2 supervised voxels, then averaged over the segments of all ranks.

    Args:
        stats (dict[str, Tensor]): ``DOS.last_diagnostics``: ``segment``
            (J,) int64, ``teacher_cos`` / ``student_cos`` (J, K),
            ``teacher_embed`` / ``student_embed`` (J, D) unit rows and,
            except for the regression target, ``log_target`` (J, K) (the
            teacher's Zipf-Sinkhorn log-softmap, normalised over the rows of
            each segment).
        teacher_temp (float): tau_T, the scale of ``teacher_logit_spread``.
        reduce (bool): Sum over all ranks first (a no-op when not
            distributed).

    Returns:
        dict[str, float]: ``softmap_entropy_ratio`` (mean over prototypes of
        H(target[:, k]) / log N_s; 1 = flat softmaps),
        ``teacher_logit_spread`` (mean over prototypes of the std over
        points of cos / tau_T; 0 = every point scored alike),
        ``embedding_mean_cosine`` and ``student_embedding_mean_cosine``
        (mean pairwise cosine of the head embeddings, without the diagonal;
        1 = one embedding for every point) and ``embedding_effective_rank``
        (:func:`effective_rank` of the teacher's embeddings; D = every
        direction used alike, 1 = all points on one line). The entropy ratio
        is NaN without ``log_target``.
    """
    segment = stats['segment']
    count = segment_count(segment, int(segment.max()) + 1)
    blocks = {
        key: stats[key].float().split(count.tolist())
        for key in ('teacher_cos', 'teacher_embed', 'student_embed',
                    'log_target') if key in stats
    }
    sums = torch.zeros(6, dtype=torch.float64, device=segment.device)
    for index, n in enumerate(count.tolist()):
        if n < 2:
            continue
        values = [
            blocks['teacher_cos'][index].std(dim=0).mean() / teacher_temp,
            mean_pair_cosine(blocks['teacher_embed'][index]),
            mean_pair_cosine(blocks['student_embed'][index]),
            effective_rank(blocks['teacher_embed'][index]),
        ]
        if 'log_target' in blocks:
            log_target = blocks['log_target'][index]
            entropy = -(log_target.exp() * log_target).sum(dim=0)
            values.append(entropy.mean() / math.log(n))
        else:
            values.append(torch.tensor(float('nan')))
        sums[:5] += torch.stack([v.double().cpu() for v in values]).to(sums)
        sums[5] += 1
    if reduce:
        all_reduce(sums)
    means = (sums[:5] / sums[5].clamp(min=1)).tolist()
    return dict(
        teacher_logit_spread=means[0],
        embedding_mean_cosine=means[1],
        student_embedding_mean_cosine=means[2],
        embedding_effective_rank=means[3],
        softmap_entropy_ratio=means[4])


def effective_rank(embed: Tensor) -> Tensor:
    """Effective rank of (n, D) rows, n >= 2: ``exp`` of the entropy of
    the normalised eigenvalues of their covariance (Roy and Vetterli, 2007).

    D when the rows spread equally in every direction, 1 when they lie on
    one line; 1 is also returned for identical rows (no spread at all).
    Dimensional collapse, which the mean pairwise cosine does not see,
    shows as a falling value.
    """
    centred = embed - embed.mean(dim=0, keepdim=True)
    eigen = torch.linalg.eigvalsh(centred.T @ centred).clamp(min=0)
    if not bool(eigen.sum() > 0):
        return embed.new_tensor(1.0)
    p = eigen / eigen.sum()
    return torch.exp(-torch.special.xlogy(p, p).sum())


def mean_pair_cosine(embed: Tensor) -> Tensor:
    """Mean off-diagonal cosine of (n, D) unit rows, n >= 2, in O(n D):
    ``(|sum_i e_i|^2 - n) / (n (n - 1))``."""
    n, total = embed.shape[0], embed.sum(dim=0)
    return (total @ total - n) / (n * (n - 1))


@HOOKS.register_module()
class DOSDiagnosticsHook(Hook):
    """Log collapse diagnostics of DOS pretraining and warn when collapsing.

    Every ``interval`` training iterations it reduces the tensors that
    :meth:`DOS.loss` keeps in ``model.last_diagnostics`` (same-view
    supervised voxels of the last batch; nothing is computed on the other
    iterations) and logs to the message hub (hence the text log and
    TensorBoard), with a ``train/`` prefix:

    - point-wise collapse (:func:`softmap_diagnostics`):
      ``softmap_entropy_ratio``, ``teacher_logit_spread``,
      ``embedding_mean_cosine``, ``student_embedding_mean_cosine``,
      ``embedding_effective_rank`` (logged, no warning: on the synthetic
      set it falls from about 57 of 256 at initialisation to 12 after 300
      iterations and 5 after 1000 while the fitted probe still improves,
      so no threshold separates good from bad runs yet);
    - prototype usage (:func:`prototype_diagnostics`): ``usage_entropy``,
      ``active_prototypes`` (argmax-active on the batch), ``usage_kl_zipf``,
      ``coverage`` and ``agreement``.

    From iteration ``warmup`` on it warns once per metric (mmengine logger,
    WARNING, naming the metric, its value and the threshold) when
    ``softmap_entropy_ratio > max_entropy_ratio``,
    ``embedding_mean_cosine > max_mean_cosine`` or
    ``active_prototypes < min_active_ratio * K``. The defaults separate the
    runs measured on the synthetic set (README, "Why DOS collapsed"): a
    collapsing run (single tau_T 0.07) had entropy ratio 0.98, mean cosine
    0.80 and 23 of 1024 active prototypes at 300 iterations, a healthy
    one (``teacher_spread=2``) 0.78, 0.22 and 428 (earlier runs: 0.97-0.98,
    0.79-0.80, 23-43 and 0.78-0.80, 0.18-0.22, 229-428); at initialisation
    the entropy ratio of the single tau_T is already about 0.94-0.96, hence
    the warm-up. Counts are summed
    and per-segment means averaged over ranks.

    Args:
        interval (int): Log every ``interval`` iterations. Defaults to 50.
        confidence_threshold (float): Teacher probability above which a
            voxel counts as covered. Defaults to 0.5.
        warmup (int): Iterations before warnings may fire. Defaults to 50.
        max_entropy_ratio (float): Defaults to 0.95.
        max_mean_cosine (float): Defaults to 0.9.
        min_active_ratio (float): Share of K. Defaults to 0.05.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 50,
                 confidence_threshold: float = 0.5,
                 warmup: int = 50,
                 max_entropy_ratio: float = 0.95,
                 max_mean_cosine: float = 0.9,
                 min_active_ratio: float = 0.05) -> None:
        if interval < 1:
            raise ValueError(
                f'DOSDiagnosticsHook: interval must be >= 1, got {interval}')
        if not 0 < confidence_threshold < 1:
            raise ValueError('DOSDiagnosticsHook: confidence_threshold must '
                             f'be in (0, 1), got {confidence_threshold}')
        for name, value in (('max_entropy_ratio', max_entropy_ratio),
                            ('max_mean_cosine', max_mean_cosine),
                            ('min_active_ratio', min_active_ratio)):
            if not 0 < value < 1:
                raise ValueError(f'DOSDiagnosticsHook: {name} must be in '
                                 f'(0, 1), got {value}')
        if warmup < 0:
            raise ValueError(
                f'DOSDiagnosticsHook: warmup must be >= 0, got {warmup}')
        self.interval = interval
        self.confidence_threshold = confidence_threshold
        self.warmup = warmup
        self.max_entropy_ratio = max_entropy_ratio
        self.max_mean_cosine = max_mean_cosine
        self.min_active_ratio = min_active_ratio
        self.warned = set()

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
        t_logits = stats['teacher_cos'] / model.teacher_temp
        t_best, t_assign = t_logits.max(dim=1)
        metrics = prototype_diagnostics(
            t_assign, stats['student_cos'].argmax(dim=1),
            torch.exp(t_best - torch.logsumexp(t_logits, dim=1)),
            model.sinkhorn.log_prior, self.confidence_threshold)
        metrics.update(softmap_diagnostics(stats, model.teacher_temp))
        for name, value in metrics.items():
            runner.message_hub.update_scalar(f'train/{name}', value)
        if runner.iter + 1 >= self.warmup:
            self._warn(runner.iter + 1, metrics, model.num_prototypes)

    def _warn(self, iteration: int, metrics: Dict[str, float],
              num_prototypes: int) -> None:
        """Warn once per metric that crossed its collapse threshold."""
        checks = (
            ('softmap_entropy_ratio', '>', self.max_entropy_ratio,
             'the teacher softmaps are almost flat over points'),
            ('embedding_mean_cosine', '>', self.max_mean_cosine,
             'nearly every point gets the same embedding'),
            ('active_prototypes', '<', self.min_active_ratio * num_prototypes,
             'few prototypes win any point'),
        )
        for name, sign, threshold, meaning in checks:
            value = metrics[name]
            tripped = value > threshold if sign == '>' else value < threshold
            if tripped and name not in self.warned:
                self.warned.add(name)
                print_log(
                    f'DOSDiagnosticsHook: training is collapsing at iteration '
                    f'{iteration}: {name} = {value:.4g} {sign} threshold '
                    f'{threshold:.4g} ({meaning}). See README "Why DOS '
                    'collapsed" (model.teacher_spread).',
                    logger='current',
                    level=logging.WARNING)
