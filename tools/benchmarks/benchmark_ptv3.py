# Copyright (c) OpenMMLab. All rights reserved.
"""Benchmark the PTv3 backbone: time, peak memory, scaling and hot spots.

Inputs are built from the real nuScenes keyframe in
``../shared/data/nuscenes_demo/*.pcd.bin`` grid-sampled at 0.05 m (features
x, y, z, intensity / 255); larger sizes tile XY-translated copies of it into
one sample, smaller ones take a seeded subset. Without the frame, a
synthetic ground-plus-walls scene is used.

Reported, per device (CPU, and CUDA when available):

* forward (eval, no grad) and forward+backward (train) median times and the
  peak memory of each measurement (process RSS sampled every 2 ms on CPU,
  ``torch.cuda.max_memory_allocated`` on CUDA);
* the log-log slope of time against points;
* the pure-PyTorch submanifold conv against spconv's CPU forward on the same
  voxels (bias-free, rulebooks cached), side by side (best of the repeats,
  run in turn);
* the share of block time spent in attention and CPE, with the caches
  each level builds once for all its blocks (conv rulebook, serializations,
  patch indices) timed on their own.

glibc is told to keep freed memory in the process (``mallopt``, see
:func:`keep_freed_memory_in_process`; ``--default-malloc`` turns this off):
on virtual machines, unmapping and re-faulting the large activation buffers
at every call can cost more than the compute.

On a machine shared with other jobs, ``--threads 1`` gives steadier
figures: two OpenMP threads stall at every barrier whenever one of them is
descheduled. The process CPU time printed beside each wall time shows how
much of it the process actually ran.

Example::

    python tools/benchmarks/benchmark_ptv3.py --preset base \
        --points 10000 35000 100000 --repeats 3
    python tools/benchmarks/benchmark_ptv3.py --preset small \
        --points 10000 --repeats 1 --no-backward   # quick check
"""
import argparse
import ctypes
import glob
import math
import os
import os.path as osp
import statistics
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from projects.DOS.dos.models.backbones.ptv3 import (PTV3_PRESETS, PointLevel,
                                                    PTv3, PTv3Block,
                                                    SubMConv3d,
                                                    offset_to_batch)
from projects.DOS.dos.models.backbones.ptv3.sparse_conv import spconv

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_FRAME_GLOB = osp.join(
    osp.dirname(REPO), 'shared', 'data', 'nuscenes_demo', '*.pcd.bin')
PAGE_SIZE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * PAGE_SIZE


class PeakRSSMonitor:
    """Samples the process RSS in a thread and keeps the peak.

    ``resource.getrusage``'s ``ru_maxrss`` only grows over the process life,
    so it cannot give the peak of one measurement; sampling can.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(self.interval)

    def __enter__(self) -> 'PeakRSSMonitor':
        self.peak = current_rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


def keep_freed_memory_in_process() -> bool:
    """Stop glibc from returning freed blocks to the OS (``mallopt``).

    Large tensors are otherwise ``mmap``-ed and ``munmap``-ed on every
    allocation, and each reuse page-faults again; on virtual machines whose
    host reclaims freed guest pages this costs more than the compute. Same
    as ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=
    1073741824``. Peak RSS is unchanged; RSS no longer shrinks after a peak.

    Returns:
        bool: whether the settings were applied (glibc only).
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(
        libc.mallopt(m_mmap_max, 0)
        and libc.mallopt(m_trim_threshold, 1 << 30))


def configure_allocator(default_malloc: bool) -> None:
    """Apply :func:`keep_freed_memory_in_process` unless ``default_malloc``
    (the ``--default-malloc`` option) and print which allocator runs."""
    reuse = not default_malloc and keep_freed_memory_in_process()
    print('allocator: ' + ('glibc, freed memory kept in process (mallopt)'
                           if reuse else 'default'))


def release_free_memory() -> None:
    """Give glibc's free heap pages back to the OS (``malloc_trim``).

    Called before each measurement so that its RSS peak is its own and not
    the heap kept from an earlier one.
    """
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load_frame(pattern: str,
               grid_size: float) -> Tuple[np.ndarray, np.ndarray, str]:
    """Grid-sampled frame (first point per voxel).

    Returns:
        tuple: (M, 4) float32 x, y, z, intensity; (M, 3) int64 voxel
        coordinates (x, y, z) >= 0; a description of the source.
    """
    files = sorted(glob.glob(pattern))
    if files:
        raw = np.fromfile(files[0], dtype=np.float32).reshape(-1, 5)[:, :4]
        source = osp.basename(files[0])
    else:
        rng = np.random.default_rng(0)
        ground = np.c_[rng.uniform(-50, 50, (60000, 2)),
                       rng.normal(-1.8, 0.05, 60000)]
        walls = np.c_[rng.uniform(-50, 50, 20000),
                      rng.choice([-20.0, 20.0], 20000),
                      rng.uniform(-1.8, 2.0, 20000)]
        xyz = np.concatenate([ground, walls])
        raw = np.c_[xyz, rng.uniform(0, 255, len(xyz))].astype(np.float32)
        source = 'synthetic scene (no nuScenes frame found)'
    voxel = np.floor(
        (raw[:, :3] - raw[:, :3].min(0)) / grid_size).astype(np.int64)
    _, first = np.unique(voxel, axis=0, return_index=True)
    first = np.sort(first)
    return raw[first], voxel[first], source


def build_points(frame: np.ndarray,
                 voxel: np.ndarray,
                 num_points: int,
                 grid_size: float,
                 seed: int = 0) -> Dict[str, torch.Tensor]:
    """One sample of ``num_points`` voxels, as the reference figures use.

    Fewer points than the frame: a seeded uniform subset. More: ``k =
    ceil(num_points / M)`` copies of the frame on a ``ceil(sqrt(k))``-wide
    XY grid whose pitch is the frame's extent plus 2 m (whole voxels), so
    copies never overlap and every row stays a distinct voxel, then a
    seeded uniform subset. The voxel coordinates are carried along, not
    recomputed, and shifted to start at 0.
    """
    rng = np.random.default_rng(seed)
    copies = math.ceil(num_points / len(frame))
    columns = math.ceil(math.sqrt(copies))
    pitch = voxel.max(0)[:2] + 1 + math.ceil(2.0 / grid_size)
    shifts = np.array([[c % columns * pitch[0], c // columns * pitch[1], 0]
                       for c in range(copies)])
    grid = np.concatenate([voxel + shift for shift in shifts])
    cloud = np.concatenate([frame] * copies)
    cloud[:, :3] += np.repeat(shifts * grid_size, len(frame), 0)
    if num_points != len(cloud):
        keep = np.sort(rng.choice(len(cloud), num_points, replace=False))
        cloud, grid = cloud[keep], grid[keep]
    coord = torch.from_numpy(np.ascontiguousarray(cloud[:, :3]))
    feat = torch.cat([coord, torch.from_numpy(cloud[:, 3:4] / 255.0)], 1)
    return dict(
        coord=coord,
        grid_coord=torch.from_numpy(grid - grid.min(0)),
        feat=feat.float(),
        offset=torch.tensor([len(cloud)]))


def to_device(points: Dict[str, torch.Tensor],
              device: torch.device) -> Dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in points.items()}


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure_interleaved(
        candidates: Dict[str, Callable[[], None]], repeats: int,
        device: torch.device) -> Dict[str, Tuple[float, float, float]]:
    """Time several functions side by side, each after one warm-up.

    The candidates run in turn within every repeat (a, b, a, b, ...), so a
    change of load on a shared machine hits all of them alike. The peak
    memory of each comes from one more run of its own, after the timed
    ones: its RSS sampling thread (which takes the GIL every 2 ms) and the
    ``malloc_trim`` that makes the peak its own would otherwise slow the
    timed runs, the more so the more Python and allocations a step has.

    Returns:
        dict[str, tuple[float, float, float]]: Per candidate, the median
        wall seconds, the median process CPU seconds (all threads; less
        sensitive to other processes on a shared machine) and the peak
        memory in MiB.
    """
    for fn in candidates.values():
        fn()
    synchronize(device)
    walls: Dict[str, List[float]] = {name: [] for name in candidates}
    cpus: Dict[str, List[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            cpu_start, start = time.process_time(), time.perf_counter()
            fn()
            synchronize(device)
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(time.process_time() - cpu_start)
    peaks = {}
    for name, fn in candidates.items():
        release_free_memory()
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        with PeakRSSMonitor() as monitor:
            fn()
            synchronize(device)
        peaks[name] = (
            torch.cuda.max_memory_allocated(device)
            if device.type == 'cuda' else monitor.peak)
    return {
        name: (statistics.median(walls[name]), statistics.median(cpus[name]),
               peaks[name] / 2**20)
        for name in candidates
    }


def measure(fn: Callable[[], None], repeats: int,
            device: torch.device) -> Tuple[float, float, float]:
    """:func:`measure_interleaved` of one function: (median wall s, median
    CPU s, peak MiB)."""
    return measure_interleaved({'fn': fn}, repeats, device)['fn']


def interleaved_min_times(candidates: Dict[str, Callable[[], object]],
                          repeats: int) -> Dict[str, float]:
    """Best-of-``repeats`` seconds of each candidate, run in turn.

    Running the candidates round-robin and keeping each one's fastest run
    compares them under the same load on a shared machine.
    """
    best = {name: math.inf for name in candidates}
    with torch.no_grad():
        for fn in candidates.values():
            fn()
        for _ in range(repeats):
            for name, fn in candidates.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def loglog_slope(sizes: List[int], times: List[float]) -> float:
    """Least-squares slope of log(time) against log(points)."""
    x, y = np.log(sizes), np.log(times)
    return float(np.polyfit(x, y, 1)[0])


def bench_model(model: PTv3, inputs: Dict[int, Dict[str, torch.Tensor]],
                args: argparse.Namespace, device: torch.device) -> None:
    """Forward and forward+backward time, peak memory, scaling exponent."""
    print(f'\n== {args.preset} preset on {device} '
          f'({torch.get_num_threads()} threads) ==')
    memory = 'GPU MiB' if device.type == 'cuda' else 'RSS MiB'
    print(f'{"points":>8} {"fwd s":>8} {"(cpu s)":>8} {memory:>8} '
          f'{"fwd+bwd s":>10} {"(cpu s)":>8} {memory:>8}')
    fwd_times, train_times = [], []
    for num_points, points in inputs.items():
        points = to_device(points, device)

        def forward() -> None:
            model.eval()
            with torch.inference_mode():
                model(points)

        def train_step() -> None:
            model.train()
            out = model(points)
            out['feat'].float().square().mean().backward()
            model.zero_grad(set_to_none=True)

        wall, cpu, peak = measure(forward, args.repeats, device)
        fwd_times.append(wall)
        row = f'{num_points:>8} {wall:>8.3f} {cpu:>8.2f} {peak:>8.0f}'
        if not args.no_backward:
            wall, cpu, peak = measure(train_step, args.repeats, device)
            train_times.append(wall)
            row += f' {wall:>10.3f} {cpu:>8.2f} {peak:>8.0f}'
        print(row, flush=True)
    sizes = list(inputs)
    if len(sizes) > 1:
        line = ('log-log slope of time vs points: fwd '
                f'{loglog_slope(sizes, fwd_times):.2f}')
        if train_times:
            line += f', fwd+bwd {loglog_slope(sizes, train_times):.2f}'
        print(line + ' (target <= 1.15)')


# PointLevel methods that build a per-level cache on first use: the conv
# rulebook (CPU path) and the serialization / patch partition / patch index.
LEVEL_SETUP_METHODS = ('rulebook', 'partition', 'patch_index')


@contextmanager
def component_timer(model: PTv3,
                    device: torch.device) -> Iterator[Dict[str, float]]:
    """Accumulate wall time of every block and of its CPE and attention.

    The caches of a level (the CPE's neighbour rulebook, the attention's
    serialization and patch indices) are built once per level (stage), by
    whichever block asks first, so their time would otherwise land in one
    block's CPE or attention. The time spent in :data:`LEVEL_SETUP_METHODS`
    is accumulated under ``'setup'`` and, for every component that was
    running at the time, under ``'setup_in_<component>'``, so that callers
    can report per-block time without the per-stage setup. (On CUDA,
    spconv builds its rulebook inside the first conv of a level; that time
    stays in the CPE.)

    Args:
        model (PTv3): the model whose blocks are timed.
        device (torch.device): synchronized around every interval (CUDA).

    The attention kernel (``scaled_dot_product_attention``) and the MLP
    are timed too, and the kernel's attention scores (query-key pairs times
    heads) counted.

    Yields:
        dict[str, float]: seconds under ``'block'``, ``'cpe'``, ``'attn'``,
        ``'mlp'``, ``'sdpa'``, ``'setup'``, ``'setup_in_block'``,
        ``'setup_in_cpe'``, ``'setup_in_attn'`` and ``'setup_in_mlp'``; the
        score count under ``'sdpa_scores'``.
    """
    totals: Dict[str, float] = defaultdict(float)
    running: List[str] = []
    handles = []
    for module in model.modules():
        if isinstance(module, PTv3Block):
            parts = dict(
                block=module, cpe=module.cpe, attn=module.attn, mlp=module.mlp)
            for name, part in parts.items():
                starts: List[float] = []

                def pre(_m, _i, starts=starts, name=name) -> None:
                    synchronize(device)
                    running.append(name)
                    starts.append(time.perf_counter())

                def post(_m, _i, _o, starts=starts, name=name) -> None:
                    synchronize(device)
                    totals[name] += time.perf_counter() - starts.pop()
                    running.remove(name)

                handles.append(part.register_forward_pre_hook(pre))
                handles.append(part.register_forward_hook(post))

    originals = {
        name: getattr(PointLevel, name)
        for name in LEVEL_SETUP_METHODS
    }
    depth = [0]

    def timed(method: Callable) -> Callable:

        def wrapper(*args: object, **kwargs: object) -> object:
            if depth[0]:  # called by another timed method: counted there
                return method(*args, **kwargs)
            depth[0] += 1
            synchronize(device)
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                synchronize(device)
                elapsed = time.perf_counter() - start
                totals['setup'] += elapsed
                for name in running:
                    totals[f'setup_in_{name}'] += elapsed

        return wrapper

    sdpa = F.scaled_dot_product_attention

    def timed_sdpa(query: torch.Tensor, key: torch.Tensor, *args: object,
                   **kwargs: object) -> torch.Tensor:
        synchronize(device)
        start = time.perf_counter()
        out = sdpa(query, key, *args, **kwargs)
        synchronize(device)
        totals['sdpa'] += time.perf_counter() - start
        totals['sdpa_scores'] += query.shape[:-1].numel() * key.shape[-2]
        return out

    for name, method in originals.items():
        setattr(PointLevel, name, timed(method))
    F.scaled_dot_product_attention = timed_sdpa
    try:
        yield totals
    finally:
        F.scaled_dot_product_attention = sdpa
        for name, method in originals.items():
            setattr(PointLevel, name, method)
        for handle in handles:
            handle.remove()


def bench_block_share(model: PTv3, points: Dict[str, torch.Tensor],
                      repeats: int, device: torch.device) -> None:
    """Share of block time in attention + CPE over a whole forward.

    The once-per-level cache builds (see :func:`component_timer`) are
    printed on their own and left out of the block, attention and CPE times.
    """
    points = to_device(points, device)
    model.eval()
    with torch.inference_mode():
        model(points)
        with component_timer(model, device) as totals:
            for _ in range(repeats):
                model(points)
    block, attn, cpe = (
        totals[name] - totals[f'setup_in_{name}']
        for name in ('block', 'attn', 'cpe'))
    print(f'per-level setup (rulebook, serialization, patches) '
          f'{totals["setup"] / repeats:.3f} s per forward, excluded below')
    print(f'block time {block / repeats:.3f} s per forward: attention '
          f'{attn / block:.1%}, CPE {cpe / block:.1%}, '
          f'attention + CPE {(attn + cpe) / block:.1%} '
          '(target <= 70%)')
    scores = totals['sdpa_scores']
    print(f'  attention kernel (scaled_dot_product_attention) '
          f'{totals["sdpa"] / block:.1%} of block time: '
          f'{scores / repeats / 1e9:.2f} G scores per forward, '
          f'{totals["sdpa"] / max(scores, 1) * 1e9:.2f} ns per score; '
          f'MLP {totals["mlp"] / block:.1%}')


def bench_conv(points: Dict[str, torch.Tensor], channels: List[int],
               repeats: int) -> None:
    """PyTorch submanifold conv vs spconv's CPU forward on the same voxels."""
    if spconv is None:
        print('spconv not importable: conv comparison skipped')
        return
    grid = points['grid_coord']
    batch = offset_to_batch(points['offset'])
    print(f'\nsubmanifold conv forward on {grid.shape[0]} voxels (CPU, '
          'bias-free; build = with rulebook construction, cached = reused)')
    print(f'{"C":>5} {"torch build":>12} {"spconv build":>13} '
          f'{"torch cached":>13} {"spconv cached":>14} {"ratio":>6}')
    indices = torch.cat([batch[:, None], grid], 1).int()
    shape = (grid.amax(0) + 1).tolist()
    for c in channels:
        feat = torch.randn(grid.shape[0], c)
        ours = SubMConv3d(c, c, bias=False)
        theirs = spconv.SubMConv3d(c, c, 3, bias=False, indice_key='bench')
        theirs.weight.data.copy_(ours.weight.data)

        def sparse() -> object:
            return spconv.SparseConvTensor(feat, indices, shape, 1)

        def ours_build() -> None:
            ours(
                feat,
                PointLevel(points['coord'], grid, batch, points['offset'],
                           ('z', )))

        level = PointLevel(points['coord'], grid, batch, points['offset'],
                           ('z', ))
        cached_input = theirs(sparse())
        candidates = dict(
            ours_build=ours_build,
            theirs_build=lambda: theirs(sparse()),
            ours=lambda: ours(feat, level),
            theirs=lambda: theirs(cached_input.replace_feature(feat)))
        best = interleaved_min_times(candidates, repeats)
        print(f'{c:>5} {best["ours_build"] * 1e3:>10.1f}ms '
              f'{best["theirs_build"] * 1e3:>11.1f}ms '
              f'{best["ours"] * 1e3:>11.1f}ms '
              f'{best["theirs"] * 1e3:>12.1f}ms '
              f'{best["ours"] / best["theirs"]:>6.2f} '
              '(cached torch / spconv, target <= 1.5)')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--preset', choices=sorted(PTV3_PRESETS), default='base')
    parser.add_argument(
        '--points', type=int, nargs='+', default=[10000, 35000, 100000])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--no-backward',
        action='store_true',
        help='time the forward pass only')
    parser.add_argument(
        '--with-cp',
        action='store_true',
        help='build the model with activation checkpointing')
    parser.add_argument(
        '--device',
        choices=['cpu', 'cuda', 'all'],
        default='all',
        help='all = CPU, plus CUDA if any')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: torch default)')
    parser.add_argument(
        '--frame',
        default=DEFAULT_FRAME_GLOB,
        help='glob of the nuScenes .pcd.bin frame')
    parser.add_argument('--grid-size', type=float, default=0.05)
    parser.add_argument(
        '--conv-channels',
        type=int,
        nargs='*',
        default=[64, 256],
        help='channels of the conv comparison (none: skip)')
    parser.add_argument(
        '--share-points',
        type=int,
        default=35000,
        help='input size of the conv and block-share runs')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--default-malloc',
        action='store_true',
        help='keep glibc\'s default of unmapping large freed blocks')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configure_allocator(args.default_malloc)
    torch.manual_seed(args.seed)
    frame, voxel, source = load_frame(args.frame, args.grid_size)
    print(f'input: {source}, {len(frame)} voxels at {args.grid_size} m')
    inputs = {
        n: build_points(frame, voxel, n, args.grid_size, args.seed)
        for n in sorted(args.points)
    }
    share_points = build_points(frame, voxel, args.share_points,
                                args.grid_size, args.seed)
    devices = [torch.device('cpu')] if args.device != 'cuda' else []
    if args.device != 'cpu' and torch.cuda.is_available():
        devices.append(torch.device('cuda'))
    for device in devices:
        model = PTv3(
            **PTV3_PRESETS[args.preset], with_cp=args.with_cp).to(device)
        num_params = sum(p.numel() for p in model.parameters())
        print(f'\nmodel: {num_params / 1e6:.1f} M parameters')
        bench_model(model, inputs, args, device)
        bench_block_share(model, share_points, args.repeats, device)
    if args.conv_channels:
        bench_conv(share_points, args.conv_channels, max(args.repeats, 10))


if __name__ == '__main__':
    main()
