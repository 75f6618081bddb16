# Copyright (c) OpenMMLab. All rights reserved.
"""This project's PTv3 and the reference PT-v3m2, side by side on one CPU.

Both models are built with the same preset (depths, channels, heads, patch
size; both configurations are printed and checked), the same curves,
strides, MLP ratio, qkv bias and drop path, a fixed curve order, and their
last encoder stage as output (``up_cast_level`` = last stage here,
``enc_mode=True`` there). They get the same input: the real nuScenes
keyframe in ``../shared/data/nuscenes_demo/`` grid-sampled at 0.05 m
(features x, y, z, intensity / 255), subsampled or tiled to each size as in
the reference figures (:func:`benchmark_ptv3.build_points`).

Printed, per size:

* forward (eval, no grad) and forward+backward (train, ``loss =
  feat.sum()``) wall seconds, median of ``--repeats`` runs after one
  warm-up, the two models run in turn (ours, reference, ours, ...) so a
  change of load hits both, and the ratio reference / ours;
* the peak RSS of each (model, size, mode) from a process of its own
  (``VmHWM`` reset before the measured run, after a warm-up), under an
  address-space cap (90 % of RAM) so that a run that does not fit fails
  with an allocation error, printed as OOM;
* each ``--ours-variant`` (our model with some constructor arguments
  changed, e.g. ``recompute_mlp=False``), timed in the same interleaved
  loop and measured the same way, under the row as ratios to ours: the
  levers of the implementation, measured against the same baseline;
* then, at ``--profile-points`` (35k), a profile of our forward+backward:
  forward and backward seconds per block part (CPE, attention, MLP,
  pooling, the rest) from module hooks, and the top operators by self CPU
  time (``torch.profiler``).

Both run under glibc's default allocator, the condition of the reference
figures (``--keep-freed-memory`` switches both to the ``mallopt`` setting
of ``benchmark_ptv3.py``). The peak RSS is what the process holds,
allocator overhead included: the heap of a training step of either model
is well above its live tensors.

The reference is imported from the Pointcept checkout given with
``--reference-root`` (see :mod:`pointcept_reference`); nothing of it is
copied here. The machine's load (``/proc/loadavg``) is printed before and
after: compare ratios from quiet runs.

Example::

    python tools/benchmarks/benchmark_ptv3_reference.py \\
        --reference-root /path/to/pointcept_root --preset base \\
        --points 10000 35000 100000 --repeats 3 --threads 2
    # what recomputing the MLP branch in backward costs and saves:
    python tools/benchmarks/benchmark_ptv3_reference.py \\
        --reference-root /path/to/pointcept_root --points 35000 \\
        --modes fwdbwd --profile-points 0 \\
        --ours-variant recompute_mlp=False --ours-variant with_cp=True
"""
import argparse
import ast
import inspect
import json
import os
import os.path as osp
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_ptv3  # noqa: E402
import pointcept_reference  # noqa: E402

from projects.DOS.dos.models.backbones import ptv3  # noqa: E402

MODES = ('fwd', 'fwdbwd')
IMPLS = ('ours', 'reference')
COMPARED_KEYS = ('enc_depths', 'enc_channels', 'enc_num_head',
                 'enc_patch_size', 'order', 'stride', 'drop_path')
PTV3_ARGUMENTS = tuple(inspect.signature(ptv3.PTv3).parameters)


def our_config(preset: str, drop_path: float) -> Dict[str, object]:
    """Keyword arguments of this project's PTv3 for the comparison."""
    config = dict(ptv3.PTV3_PRESETS[preset])
    num_stages = len(config['enc_depths'])
    patch = config['enc_patch_size']
    config.update(
        enc_patch_size=((patch, ) * num_stages
                        if isinstance(patch, int) else tuple(patch)),
        in_channels=4,
        order=tuple(ptv3.serialization.SERIALIZATION_ORDERS),
        stride=(2, ) * (num_stages - 1),
        mlp_ratio=4,
        qkv_bias=True,
        drop_path=drop_path,
        shuffle_orders=False,
        enable_flash=False,
        up_cast_level=num_stages - 1)
    return config


def check_same_preset(ours: Dict[str, object],
                      reference: Dict[str, object]) -> None:
    """Fail loudly when the two configurations differ in size."""
    for key in COMPARED_KEYS:
        a, b = ours[key], reference[key]
        if (tuple(a) if isinstance(a, (list, tuple)) else
                a) != (tuple(b) if isinstance(b, (list, tuple)) else b):
            raise SystemExit(f'configurations differ in {key}: ours {a}, '
                             f'reference {b}')


def is_ours(impl: str) -> bool:
    """``'ours'`` or one of its variants, ``'ours:<spec>'``."""
    return impl == 'ours' or impl.startswith('ours:')


def variant_overrides(impl: str) -> Dict[str, object]:
    """The PTv3 arguments a candidate name changes.

    Args:
        impl (str): ``'ours'`` (no change) or ``'ours:<spec>'``, where
            ``<spec>`` is ``KEY=VALUE`` pairs joined by ``;``, each KEY an
            argument of :class:`ptv3.PTv3` and each VALUE a Python literal
            (``recompute_mlp=False;enc_patch_size=(64, 64, 64, 64, 64)``).

    Raises:
        SystemExit: naming the pair that is malformed, the unknown
            argument or the value that is not a literal.
    """
    if impl == 'ours':
        return {}
    overrides = {}
    for pair in impl.split(':', 1)[1].split(';'):
        key, sep, value = (part.strip() for part in pair.partition('='))
        if not sep:
            raise SystemExit(f'--ours-variant {pair!r}: expected KEY=VALUE')
        if key not in PTV3_ARGUMENTS:
            raise SystemExit(f'--ours-variant: {key!r} is not an argument '
                             f'of PTv3 ({", ".join(PTV3_ARGUMENTS)})')
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f'--ours-variant {key}: {value!r} is not a '
                             'Python literal') from None
    return overrides


def build_model(impl: str, args: argparse.Namespace) -> nn.Module:
    """The reference, our model or one of its variants, seeded the same."""
    torch.manual_seed(args.seed)
    if is_ours(impl):
        return ptv3.PTv3(**{
            **our_config(args.preset, args.drop_path),
            **variant_overrides(impl)
        })
    module = pointcept_reference.load_reference(args.reference_root)
    ours = our_config(args.preset, args.drop_path)
    return module.PointTransformerV3(**pointcept_reference.reference_config(
        ptv3.PTV3_PRESETS[args.preset], ours['order'], args.drop_path))


def model_step(impl: str, model: nn.Module, points: Dict[str, torch.Tensor],
               mode: str) -> Callable[[], None]:
    """A forward (eval, no grad) or forward+backward (train) closure."""

    def features() -> torch.Tensor:
        if is_ours(impl):
            return model(points)['feat']
        return pointcept_reference.reference_forward(model, points)

    def forward() -> None:
        model.eval()
        with torch.no_grad():
            features()

    def train_step() -> None:
        model.train()
        features().sum().backward()
        model.zero_grad(set_to_none=True)

    return forward if mode == 'fwd' else train_step


def load_average() -> str:
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def cap_address_space(fraction: float = 0.9) -> None:
    """RLIMIT_AS at ``fraction`` of RAM: out of memory becomes an error."""
    with open('/proc/meminfo') as f:
        total_kib = int(f.readline().split()[1])
    cap = int(total_kib * 1024 * fraction)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def peak_rss_child(args: argparse.Namespace) -> None:
    """The ``--peak-rss-of`` run: one JSON line with the peak RSS (MiB).

    One warm-up run, then ``VmHWM`` is reset (``clear_refs``) and the
    measured run's high-water mark read back; ``base`` is the RSS before
    the warm-up (Python, torch, the model and its input).
    """
    cap_address_space()
    impl, = args.peak_rss_of
    frame, voxel, _ = benchmark_ptv3.load_frame(args.frame, args.grid_size)
    points = benchmark_ptv3.build_points(frame, voxel, args.points[0],
                                         args.grid_size, args.seed)
    model = build_model(impl, args)
    step = model_step(impl, model, points, args.mode)
    result = dict(base=status_kib('VmRSS') / 1024)
    try:
        step()
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        step()
        result['peak'] = status_kib('VmHWM') / 1024
    except (MemoryError, RuntimeError) as error:
        result['error'] = f'{type(error).__name__}: {str(error)[:200]}'
    print(json.dumps(result), flush=True)


def measure_peak_rss(impl: str, mode: str, num_points: int,
                     args: argparse.Namespace) -> Dict[str, object]:
    """Run :func:`peak_rss_child` in a fresh process."""
    command = [
        sys.executable,
        osp.abspath(__file__), '--peak-rss-of', impl, '--mode', mode,
        '--points',
        str(num_points), '--preset', args.preset, '--reference-root',
        args.reference_root, '--threads',
        str(args.threads), '--frame', args.frame, '--grid-size',
        str(args.grid_size), '--seed',
        str(args.seed), '--drop-path',
        str(args.drop_path)
    ]
    if args.keep_freed_memory:
        command.append('--keep-freed-memory')
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line[:1] == '{']
    if lines:
        return json.loads(lines[-1])
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        out_of_memory = ' (out of memory: the kernel\'s OOM killer)'
        return dict(error=f'killed by {name}' +
                    (out_of_memory if name == 'SIGKILL' else ''))
    return dict(error=f'exit {done.returncode}: '
                f'{done.stderr.strip().splitlines()[-1:]}')


def interleaved_medians(candidates: Dict[str, Callable[[], None]],
                        repeats: int) -> Dict[str, float]:
    """Median wall seconds of each candidate, run in turn after a warm-up."""
    for fn in candidates.values():
        fn()
    walls: Dict[str, List[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in walls.items()}


def format_rss(result: Dict[str, object]) -> str:
    if 'peak' in result:
        return f'{result["peak"]:.0f}'
    return 'OOM' if 'error' in result else '?'


def ratio(numerator: Optional[float], denominator: Optional[float]) -> float:
    """``numerator / denominator``, NaN when either was not measured."""
    if numerator is None or denominator is None:
        return float('nan')
    return numerator / denominator


def side_by_side(models: Dict[str, nn.Module],
                 inputs: Dict[int, Dict[str, torch.Tensor]],
                 args: argparse.Namespace) -> None:
    """The timing and memory table of the module docstring."""
    print(f'\n{"points":>7} {"mode":>7} {"ours s":>8} {"ref s":>8} '
          f'{"ref/ours":>8} {"ours MiB":>9} {"ref MiB":>9} {"ref/ours":>8}')
    variants = [impl for impl in models if impl not in IMPLS]
    for num_points, points in inputs.items():
        for mode in args.modes:
            rss = {
                impl: measure_peak_rss(impl, mode, num_points, args)
                for impl in models
            }
            peak = {impl: rss[impl].get('peak') for impl in models}
            times = interleaved_medians(
                {
                    impl: model_step(impl, models[impl], points, mode)
                    for impl in models if peak[impl] is not None
                }, args.repeats)
            cells = [
                f'{times[impl]:>8.2f}' if impl in times else f'{"OOM":>8}'
                for impl in IMPLS
            ]
            print(
                f'{num_points:>7} {mode:>7} {cells[0]} {cells[1]} '
                f'{ratio(times.get("reference"), times.get("ours")):>8.2f} '
                f'{format_rss(rss["ours"]):>9} '
                f'{format_rss(rss["reference"]):>9} '
                f'{ratio(peak["reference"], peak["ours"]):>8.2f}',
                flush=True)
            bases = ', '.join(f'{impl} {rss[impl]["base"]:.0f}'
                              for impl in IMPLS if 'base' in rss[impl])
            if bases:
                print('        RSS before the step (process, model, input): '
                      f'{bases} MiB')
            for impl in variants:
                if impl in times:
                    speed = ratio(times[impl], times.get('ours'))
                    print(f'        {impl}: {times[impl]:.2f} s '
                          f'({speed:.2f}x ours), {format_rss(rss[impl])} '
                          f'MiB ({ratio(peak[impl], peak["ours"]):.2f}x '
                          'ours)')
            for impl in models:
                if 'error' in rss[impl]:
                    print(f'        {impl} {mode} at {num_points}: '
                          f'{rss[impl]["error"]}')


BLOCK_PARTS = ('cpe', 'attn', 'mlp')


class PartTimer:
    """Forward and backward wall seconds of each block part and of pooling.

    A context manager. Forward pre/post hooks bracket a part's forward;
    full backward pre/post hooks bracket its backward (the CPU autograd
    engine runs the backward in this thread, one node at a time, so the
    interval is the part's own). Set :attr:`in_backward` before calling
    ``backward()``: forward hooks that fire then are recomputations
    (activation checkpointing, e.g. ``recompute_mlp``) whose time is
    already inside the enclosing part's backward interval, and are not
    booked as forward.

    Attributes:
        totals (dict[str, float]): ``'<part> fwd'`` and ``'<part> bwd'``
            seconds, parts ``cpe``, ``attn``, ``mlp`` and ``pooling``.
        in_backward (bool): set by the caller around ``backward()``.
    """

    def __init__(self, model: ptv3.PTv3) -> None:
        self.totals: Dict[str, float] = defaultdict(float)
        self.in_backward = False
        self._modules: List[Tuple[str, nn.Module]] = []
        for module in model.modules():
            if isinstance(module, ptv3.PTv3Block):
                self._modules += [(part, getattr(module, part))
                                  for part in BLOCK_PARTS]
        self._modules += [('pooling', pooling) for pooling in model.pooling]
        self._handles: list = []

    def _hooks(self, name: str) -> Tuple[Callable, ...]:
        forward_starts: List[float] = []
        backward_starts: List[float] = []

        def begin(*_) -> None:
            if not self.in_backward:
                forward_starts.append(time.perf_counter())

        def end(*_) -> None:
            if not self.in_backward:
                self.totals[name + ' fwd'] += (
                    time.perf_counter() - forward_starts.pop())

        def begin_backward(*_) -> None:
            backward_starts.append(time.perf_counter())

        def end_backward(*_) -> None:
            self.totals[name + ' bwd'] += (
                time.perf_counter() - backward_starts.pop())

        return begin, end, begin_backward, end_backward

    def __enter__(self) -> 'PartTimer':
        for name, module in self._modules:
            begin, end, begin_backward, end_backward = self._hooks(name)
            self._handles += [
                module.register_forward_pre_hook(begin),
                module.register_forward_hook(end),
                module.register_full_backward_pre_hook(begin_backward),
                module.register_full_backward_hook(end_backward)
            ]
        return self

    def __exit__(self, *_) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def profile(model: ptv3.PTv3, points: Dict[str, torch.Tensor],
            args: argparse.Namespace) -> None:
    """Per-part forward/backward split and top operators by self time."""
    num_points = int(points['offset'][-1])
    step = model_step('ours', model, points, 'fwdbwd')
    model.train()
    step()
    with PartTimer(model) as timer:
        start = time.perf_counter()
        out = model(points)['feat']
        forward = time.perf_counter() - start
        timer.in_backward = True
        out.sum().backward()
        total = time.perf_counter() - start
    totals = timer.totals
    model.zero_grad(set_to_none=True)
    print(f'\nprofile of our forward+backward at {num_points} points: '
          f'{total:.2f} s (forward {forward:.2f} s, backward '
          f'{total - forward:.2f} s)')
    print(f'{"part":>10} {"fwd s":>7} {"bwd s":>7} {"bwd/fwd":>7} '
          f'{"share":>6}')
    parts = list(BLOCK_PARTS) + ['pooling']
    for part in parts:
        fwd, bwd = totals[part + ' fwd'], totals[part + ' bwd']
        print(f'{part:>10} {fwd:>7.2f} {bwd:>7.2f} '
              f'{bwd / max(fwd, 1e-9):>7.2f} {(fwd + bwd) / total:>6.1%}')
    rest_fwd = forward - sum(totals[p + ' fwd'] for p in parts)
    rest_bwd = total - forward - sum(totals[p + ' bwd'] for p in parts)
    print(f'{"rest":>10} {rest_fwd:>7.2f} {rest_bwd:>7.2f} '
          f'{rest_bwd / max(rest_fwd, 1e-9):>7.2f} '
          f'{(rest_fwd + rest_bwd) / total:>6.1%}  (stem, norms, residuals, '
          'drop path, output)')
    if any(getattr(m, 'recompute_mlp', False) for m in model.modules()):
        print('(recompute_mlp: the mlp backward includes recomputing the '
              'MLP branch)')
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    events = sorted(
        prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    grand = sum(e.self_cpu_time_total for e in events)
    print(f'\ntop {args.top_ops} operators by self CPU time '
          f'(torch.profiler, one forward+backward, {grand / 1e6:.2f} s '
          'profiled):')
    print(f'{"self s":>8} {"share":>6} {"calls":>7}  operator')
    for event in events[:args.top_ops]:
        print(f'{event.self_cpu_time_total / 1e6:>8.2f} '
              f'{event.self_cpu_time_total / grand:>6.1%} '
              f'{event.count:>7}  {event.key}')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--reference-root',
        required=True,
        help='folder holding the `pointcept` package of a Pointcept '
        f'checkout at commit {pointcept_reference.REFERENCE_COMMIT}')
    parser.add_argument(
        '--preset', choices=sorted(ptv3.PTV3_PRESETS), default='base')
    parser.add_argument(
        '--points', type=int, nargs='+', default=[10000, 35000, 100000])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--modes', nargs='+', choices=MODES, default=list(MODES))
    parser.add_argument(
        '--profile-points',
        type=int,
        default=35000,
        help='size of the forward+backward profile (0: none)')
    parser.add_argument('--top-ops', type=int, default=15)
    parser.add_argument('--drop-path', type=float, default=0.3)
    parser.add_argument('--frame', default=benchmark_ptv3.DEFAULT_FRAME_GLOB)
    parser.add_argument('--grid-size', type=float, default=0.05)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--keep-freed-memory',
        action='store_true',
        help='keep freed memory in the process (mallopt, as '
        'benchmark_ptv3.py does by default) instead of glibc\'s default of '
        'unmapping large freed blocks; faster for both, but the '
        'reference\'s heap then fragments past the RAM at 35k points')
    parser.add_argument(
        '--ours-variant',
        action='append',
        default=[],
        metavar='KEY=VALUE[;KEY=VALUE]',
        help='also time our model with these PTv3 arguments changed '
        '(repeatable), e.g. recompute_mlp=False')
    parser.add_argument('--peak-rss-of', nargs=1, help=argparse.SUPPRESS)
    parser.add_argument('--mode', choices=MODES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.peak_rss_of:
        if args.keep_freed_memory:
            benchmark_ptv3.configure_allocator(False)
        peak_rss_child(args)
        return
    benchmark_ptv3.configure_allocator(not args.keep_freed_memory)
    print(f'threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}, '
          f'load average before: {load_average()}')
    frame, voxel, source = benchmark_ptv3.load_frame(args.frame,
                                                     args.grid_size)
    print(f'input: {source}, {len(frame)} voxels at {args.grid_size} m')
    ours_cfg = our_config(args.preset, args.drop_path)
    ref_cfg = pointcept_reference.reference_config(
        ptv3.PTV3_PRESETS[args.preset], ours_cfg['order'], args.drop_path)
    check_same_preset(ours_cfg, ref_cfg)
    candidates = list(IMPLS) + [
        'ours:' + spec for spec in dict.fromkeys(args.ours_variant)
    ]
    models = {impl: build_model(impl, args) for impl in candidates}
    for impl, config in (('ours', ours_cfg), ('reference', ref_cfg)):
        num_params = sum(p.numel() for p in models[impl].parameters())
        name = ('this project PTv3' if impl == 'ours' else
                f'Pointcept PT-v3m2 @ {pointcept_reference.REFERENCE_COMMIT}')
        print(f'{name}: {num_params / 1e6:.2f} M parameters, {config}')
    inputs = {
        n: benchmark_ptv3.build_points(frame, voxel, n, args.grid_size,
                                       args.seed)
        for n in sorted(args.points)
    }
    cap_address_space()
    side_by_side(models, inputs, args)
    if args.profile_points:
        profile(
            models['ours'],
            benchmark_ptv3.build_points(frame, voxel, args.profile_points,
                                        args.grid_size, args.seed), args)
    print(f'\nload average after: {load_average()}')


if __name__ == '__main__':
    main()
