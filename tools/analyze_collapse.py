# Copyright (c) OpenMMLab. All rights reserved.
"""Measure why DOS pretraining drifts towards flat softmaps.

Loads a DOS pretraining config (and optionally one of its checkpoints),
draws a few training batches and, for each distillation term (same view,
cross view), prints::

    spread     std over points of the teacher's cos / tau_T and of the
               student's cos / tau_S, per prototype (mean)
    pair cos   mean pairwise cosine of the teacher's / student's embeddings
    corr       correlation over points of the student's and the teacher's
               centred cosines at the same voxels, per prototype (mean)
    collapsed  the loss when BOTH networks' embeddings are pulled towards
               their per-view mean by a factor eps (1 = as they are, 0 = one
               embedding for every point) and the teacher target's column
               entropy / log N at that eps
    student    the loss with the teacher fixed and only the student's
               embedding spread scaled by eps: eps* < 1 means the gradient
               shrinks the student's spread, and the EMA teacher follows
    rank       effective rank of the teacher's and the student's embeddings
               (:func:`effective_rank`), and the loss and column entropy when
               both are kept in their top-r principal directions per view
               (dimensional collapse: the loss at r = 1, 4, 16, 64 against
               all D)

so the collapse mechanism is read off numbers, not guessed::

    CFG=projects/DOS/configs/dos_pretrain_synthetic.py
    python tools/analyze_collapse.py $CFG --teacher-spread 0  # single tau_T
    python tools/analyze_collapse.py $CFG --checkpoint WORK_DIR/iter_300.pth

The scaling keeps every embedding on the unit sphere
(``normalize(mean + eps * (e - mean))``) and the prototypes fixed.
"""
import argparse
import math
from typing import Callable, Dict, List, Optional, Sequence

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import torch
import torch.nn.functional as F
from _stages import load_config, use_config_registries
from mmdet3d.registry import MODELS
from mmengine.runner import Runner, set_random_seed
from torch import Tensor

from projects.DOS.dos.engine.hooks.dos_diagnostics_hook import (
    effective_rank, mean_pair_cosine)
from projects.DOS.dos.models.losses.segment_ops import map_segments

COLLAPSE_EPS = (1.0, 0.5, 0.25, 0.1, 0.0)
COLLAPSE_RANKS = (1, 4, 16, 64)
STUDENT_EPS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def per_segment(fn: Callable[[Tensor], Tensor], values: Tensor,
                segment: Tensor, num_segments: int) -> Tensor:
    """``fn`` of each segment's rows, one (1, C) result per segment.

    Returns:
        Tensor: (S', C) results of the non-empty segments.
    """
    if not bool((segment[1:] >= segment[:-1]).all()):
        raise ValueError('rows must be grouped by segment')
    blocks = values.split(
        torch.bincount(segment, minlength=num_segments).tolist())
    return torch.cat([fn(b) for b in blocks if b.shape[0] > 1])


def shrink(embed: Tensor, segment: Tensor, num_segments: int,
           eps: float) -> Tensor:
    """Pull (J, D) unit embeddings towards their segment mean by ``eps``."""

    def pull(block: Tensor) -> Tensor:
        mean = block.mean(dim=0, keepdim=True)
        return F.normalize(mean + eps * (block - mean), dim=1)

    return map_segments(pull, embed, segment, num_segments)


def keep_top_directions(embed: Tensor, segment: Tensor, num_segments: int,
                        rank: int) -> Tensor:
    """Keep (J, D) unit embeddings in the top-``rank`` principal directions
    of their segment (around its mean), back on the unit sphere."""

    def project(block: Tensor) -> Tensor:
        mean = block.mean(dim=0, keepdim=True)
        _, _, vh = torch.linalg.svd(block - mean, full_matrices=False)
        top = vh[:rank]
        return F.normalize(mean + (block - mean) @ top.T @ top, dim=1)

    return map_segments(project, embed, segment, num_segments)


def segment_mean(stat: Callable[[Tensor], Tensor], embed: Tensor,
                 segment: Tensor, num_segments: int) -> float:
    """Mean over segments of a scalar statistic of their (n, D) rows."""
    return float(
        per_segment(lambda b: stat(b).reshape(1, 1), embed, segment,
                    num_segments).mean())


def column_stat(fn: Callable[[Tensor], Tensor], values: Tensor,
                segment: Tensor, num_segments: int) -> float:
    """Mean over segments and columns of a per-column statistic."""
    return float(
        per_segment(lambda b: fn(b).reshape(1, -1), values, segment,
                    num_segments).mean())


def correlation(a: Tensor, b: Tensor, segment: Tensor,
                num_segments: int) -> float:
    """Mean per-column correlation of two (J, K) score matrices."""
    both = torch.cat([a, b], dim=1)
    k = a.shape[1]

    def corr(block: Tensor) -> Tensor:
        centred = block - block.mean(dim=0, keepdim=True)
        x, y = centred[:, :k], centred[:, k:]
        return (x * y).sum(0) / (x.norm(dim=0) * y.norm(dim=0) + 1e-12)

    return column_stat(corr, both, segment, num_segments)


def analyze_term(model, student_embed: Tensor, teacher_embed: Tensor,
                 segment: Tensor, num_segments: int) -> Dict[str, object]:
    """All figures of one distillation term (module docstring)."""
    prototypes = model.head.prototypes.weight.detach().float()

    def target(t_embed: Tensor) -> Tensor:
        logits = model._teacher_logits(t_embed @ prototypes.T, segment,
                                       num_segments)
        return model.sinkhorn(logits, segment, num_segments)

    def loss(s_embed: Tensor, log_target: Tensor) -> float:
        return float(
            model.criterion((s_embed @ prototypes.T) / model.student_temp,
                            log_target, segment, num_segments))

    def entropy_ratio(log_target: Tensor) -> float:
        return column_stat(
            lambda b: -(b.exp() * b).sum(0) / math.log(b.shape[0]), log_target,
            segment, num_segments)

    def both_collapsed(collapse: Callable[..., Tensor],
                       settings: Sequence) -> List[tuple]:
        """(setting, loss, entropy ratio) with both embeddings collapsed by
        ``collapse(embed, segment, num_segments, setting)``."""
        rows = []
        for setting in settings:
            log_target = target(
                collapse(teacher_embed, segment, num_segments, setting))
            s_embed = collapse(student_embed, segment, num_segments, setting)
            rows.append((setting, loss(s_embed,
                                       log_target), entropy_ratio(log_target)))
        return rows

    collapsed = both_collapsed(shrink, COLLAPSE_EPS)
    rank_collapsed = both_collapsed(keep_top_directions,
                                    (*COLLAPSE_RANKS, teacher_embed.shape[1]))
    log_target = target(teacher_embed)
    student = [
        (eps,
         loss(shrink(student_embed, segment, num_segments, eps), log_target))
        for eps in STUDENT_EPS
    ]
    s_cos, t_cos = student_embed @ prototypes.T, teacher_embed @ prototypes.T
    std = lambda b: b.std(dim=0)  # noqa: E731
    return dict(
        teacher_spread=column_stat(std, t_cos / model.teacher_temp, segment,
                                   num_segments),
        student_spread=column_stat(std, s_cos / model.student_temp, segment,
                                   num_segments),
        teacher_pair_cos=segment_mean(mean_pair_cosine, teacher_embed, segment,
                                      num_segments),
        student_pair_cos=segment_mean(mean_pair_cosine, student_embed, segment,
                                      num_segments),
        correlation=correlation(s_cos, t_cos, segment, num_segments),
        teacher_rank=segment_mean(effective_rank, teacher_embed, segment,
                                  num_segments),
        student_rank=segment_mean(effective_rank, student_embed, segment,
                                  num_segments),
        rank_collapsed=rank_collapsed,
        collapsed=collapsed,
        student=student,
        best_student_eps=min(student, key=lambda item: item[1])[0])


def build_model(cfg, checkpoint: Optional[str]):
    """The config's DOS model, initialised or loaded from ``checkpoint``."""
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint is not None:
        state = torch.load(
            checkpoint, map_location='cpu', weights_only=False)['state_dict']
        model.load_state_dict(state)
    return model.train()


def analyze(config: str,
            checkpoint: Optional[str] = None,
            batches: int = 2,
            teacher_temp: Optional[float] = None,
            teacher_spread: Optional[float] = None) -> str:
    """The report of every term for ``batches`` fixed training batches.

    ``teacher_temp`` overrides tau_T (default: its final scheduled value);
    ``teacher_spread`` sets :class:`DOS`'s per-prototype temperature
    (default: the config's; 0 turns it off, leaving the single tau_T).
    """
    cfg = load_config(config)
    use_config_registries(cfg)
    if teacher_spread is not None:
        cfg.model.teacher_spread = teacher_spread or None
    model = build_model(cfg, checkpoint)
    schedule = [h for h in cfg.custom_hooks if h.type == 'DOSScheduleHook']
    model.teacher_temp = teacher_temp or (schedule[0].teacher_temp[1]
                                          if schedule else model.teacher_temp)
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False))
    loader = iter(Runner.build_dataloader(loader_cfg, seed=0))
    # The views' crops, rotations and masks are drawn from numpy and Python's
    # generators: seed them so that two runs report on the same batches.
    set_random_seed(0)
    results = []
    for _ in range(batches):
        data = model.data_preprocessor(next(loader), True)
        with torch.no_grad():
            pairs = model.distillation_pairs(data['inputs'])
        names = ('same view', 'cross view')
        results.append({
            name:
            analyze_term(model, pairs.student.embed[match.student],
                         scores.embed, match.segment, pairs.num_segments)
            for name, scores, match in zip(names, pairs.teacher, pairs.matches)
        })
    return format_report(results, model.teacher_temp, model.student_temp)


def format_report(results: Sequence[Dict[str, dict]], tau_t: float,
                  tau_s: float) -> str:
    """The printed report of :func:`analyze`."""
    lines = [f'tau_T {tau_t}, tau_S {tau_s}']
    for index, terms in enumerate(results):
        for name, r in terms.items():
            lines.append(
                f'batch {index} {name}: spread teacher '
                f'{r["teacher_spread"]:.3f} student {r["student_spread"]:.3f}'
                f'; pair cos teacher {r["teacher_pair_cos"]:.3f} student '
                f'{r["student_pair_cos"]:.3f}; corr {r["correlation"]:.3f}')
            lines.append('  collapsed: ' +
                         ' | '.join(f'eps {e:g} loss {lo:.4f} H/logN {h:.3f}'
                                    for e, lo, h in r['collapsed']))
            lines.append(f'  rank: teacher {r["teacher_rank"]:.1f} student '
                         f'{r["student_rank"]:.1f}; top-r: ' +
                         ' | '.join(f'r {k} loss {lo:.4f} H/logN {h:.3f}'
                                    for k, lo, h in r['rank_collapsed']))
            lines.append('  student only: ' +
                         ' '.join(f'{e:g}:{lo:.4f}'
                                  for e, lo in r['student']) +
                         f'  -> eps* {r["best_student_eps"]:g}')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='DOS pretraining config')
    parser.add_argument(
        '--checkpoint',
        help='DOS pretraining checkpoint '
        '(default: the random initialisation)')
    parser.add_argument('--batches', type=int, default=2)
    parser.add_argument('--teacher-temp', type=float)
    parser.add_argument(
        '--teacher-spread',
        type=float,
        help="per-prototype teacher temperature (default: the config's; 0: "
        'off, the single tau_T of the paper and Sonata)')
    args = parser.parse_args(argv)
    if args.batches < 1:
        parser.error(f'--batches must be >= 1, got {args.batches}')
    print(
        analyze(args.config, args.checkpoint, args.batches, args.teacher_temp,
                args.teacher_spread))


if __name__ == '__main__':
    main()
