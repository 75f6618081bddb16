# Copyright (c) OpenMMLab. All rights reserved.
"""Benchmark one DOS training step against one supervised step of PTv3.

The batch is built exactly as in training: the nuScenes pretraining pipeline
of ``configs/_base_/datasets/nus_dos_pretrain.py`` (checked loading, 0.05 m
grid sampling, two augmented k-NN-ball views, packing) on the real keyframe
in ``../shared/data/nuscenes_demo/*.pcd.bin`` (or a synthetic street scene
when absent), then :class:`DOSDataPreprocessor` (collation and 1 m block
masks, 70 %). By default both views are full-frame crops (``--crop-scale 1``),
the most expensive case for DOS.

Printed side by side, from one run:

* DOS step: ``loss`` (EMA update, teacher forward on both full views,
  student forward on the visible points, Zipf-Sinkhorn and softmap loss,
  same and cross view) + backward;
* supervised step: forward + backward of the same backbone on ONE full view
  with a linear head and cross-entropy on voxel labels;
* their ratio (target: at most 1.5), the time of Zipf-Sinkhorn + softmap loss
  (forward and backward, replayed on the tensors the step used) and its share
  of the DOS step (target: at most 5 %), the time of the teacher's forward
  on both full views (the part no masking can shrink), the time of one
  :class:`DOSDiagnosticsHook` evaluation on the step's kept tensors (it runs
  once per logging interval; target: at most 2 % of a step even at interval
  1), and the peak memory
  of each step (process RSS sampled every 2 ms on CPU,
  ``max_memory_allocated`` on CUDA).

Times are medians after one warm-up, the measurements interleaved
within every repeat, as wall seconds and as process CPU seconds (all
threads); the ratios use CPU seconds, which other processes on a shared
machine disturb much less than wall time. As in ``benchmark_ptv3.py``, glibc
keeps freed memory in the process (``--default-malloc`` turns this off), so
that page faults of re-mapped tensors do not dominate either step.

Example::

    python tools/benchmarks/benchmark_dos_step.py --preset base
    python tools/benchmarks/benchmark_dos_step.py --preset small --repeats 1
"""
import argparse
import glob
import os.path as osp
import sys
from types import SimpleNamespace
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import Tensor, nn

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import benchmark_ptv3  # noqa: E402
from mmdet3d.registry import MODELS  # noqa: E402
from mmdet3d.structures import LiDARPoints  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import projects.DOS.dos  # noqa: E402,F401  (registers the components)
from projects.DOS.dos.engine.hooks import DOSDiagnosticsHook  # noqa: E402
from projects.DOS.dos.models.backbones.ptv3 import PTV3_PRESETS  # noqa: E402

DEFAULT_FRAME_GLOB = osp.join(
    osp.dirname(REPO), 'shared', 'data', 'nuscenes_demo', '*.pcd.bin')
DATASET_CFG = osp.join(REPO, 'configs', '_base_', 'datasets',
                       'nus_dos_pretrain.py')
MODEL_CFG = osp.join(REPO, 'projects', 'DOS', 'configs', 'dos_pretrain_nus.py')


def synthetic_frame(seed: int) -> np.ndarray:
    """A nuScenes-sized street: ground, two facades and a few cars.

    Returns:
        np.ndarray: (N, 4) float32 x, y, z, intensity (0..255).
    """
    rng = np.random.default_rng(seed)
    ground = np.c_[rng.uniform(-50, 50, (40000, 2)),
                   rng.normal(-1.8, 0.03, 40000)]
    facades = np.c_[rng.uniform(-50, 50, 15000),
                    rng.choice([-12.0, 12.0], 15000),
                    rng.uniform(-1.8, 8.0, 15000)]
    cars = np.concatenate([
        rng.uniform([x, y, -1.8], [x + 4.5, y + 1.8, -0.3], (800, 3))
        for x, y in rng.uniform([-40, -8], [40, 6], (8, 2))
    ])
    xyz = np.concatenate([ground, facades, cars])
    return np.c_[xyz, rng.uniform(0, 255, len(xyz))].astype(np.float32)


def build_batch(args: argparse.Namespace,
                device: torch.device) -> Tuple[Dict[str, Tensor], str]:
    """One scene through the pretraining pipeline and data preprocessor.

    Returns:
        tuple: The DOS batch on ``device`` and a description of the source.
    """
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    pipeline = Config.fromfile(DATASET_CFG).train_pipeline
    for step in pipeline:
        if step['type'] == 'DOSMultiViewAug':
            step['crop_scale'] = (args.crop_scale, args.crop_scale)
    files = sorted(glob.glob(args.frame))
    if files:
        results = dict(lidar_points=dict(lidar_path=files[0]))
        source = osp.basename(files[0])
    else:
        points = synthetic_frame(args.seed)
        results = dict(points=LiDARPoints(points, points_dim=4))
        pipeline = pipeline[1:]  # the loader reads files
        source = 'synthetic street scene (no nuScenes frame found)'
    packed = Compose(pipeline)(results)
    preprocessor = MODELS.build(
        dict(
            type='DOSDataPreprocessor',
            mask_ratio=args.mask_ratio,
            mask_block_size=1.0)).to(device)
    batch = preprocessor(pseudo_collate([packed]), True)['inputs']
    return batch, source


def build_model(args: argparse.Namespace, device: torch.device) -> nn.Module:
    """The nuScenes DOS config with the requested backbone preset."""
    cfg = Config.fromfile(MODEL_CFG).model
    cfg.pop('data_preprocessor')
    preset = {k: v for k, v in PTV3_PRESETS[args.preset].items()}
    cfg.backbone.update(preset)
    cfg.head.num_prototypes = args.num_prototypes
    model = MODELS.build(cfg).to(device)
    model.teacher_temp = 0.07
    model.teacher.set_progress(0.0)
    return model.train()


def capture_loss_calls(model: nn.Module,
                       batch: Dict[str, Tensor]) -> List[Tuple[str, tuple]]:
    """Record the inputs of every Zipf-Sinkhorn and loss call of one step."""
    calls: List[Tuple[str, tuple]] = []

    def keep(name: str) -> Callable:

        def hook(_module, inputs) -> None:
            calls.append(
                (name,
                 tuple(x.detach().clone() if isinstance(x, Tensor) else x
                       for x in inputs)))

        return hook

    handles = [
        model.sinkhorn.register_forward_pre_hook(keep('sinkhorn')),
        model.criterion.register_forward_pre_hook(keep('criterion'))
    ]
    model.zero_grad(set_to_none=True)
    sum(model(batch, mode='loss').values()).backward()
    for handle in handles:
        handle.remove()
    return calls


def main() -> None:
    args = parse_args()
    benchmark_ptv3.configure_allocator(args.default_malloc)
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmdet3d')
    device = torch.device(args.device)
    batch, source = build_batch(args, device)
    model = build_model(args, device)

    sizes = torch.diff(batch['offset'], prepend=batch['offset'].new_zeros(1))
    view0 = int(sizes[0])
    full_view = dict(
        coord=batch['coord'][:view0],
        grid_coord=batch['grid_coord'][:view0],
        feat=batch['feat'][:view0],
        offset=batch['offset'][:1])
    classifier = nn.Linear(model.backbone.out_channels, 16).to(device)
    labels = torch.randint(0, 16, (view0, ), device=device)

    def supervised_step() -> None:
        model.zero_grad(set_to_none=True)
        out = model.backbone(full_view)
        logits = classifier(out['feat'])[out['point2out']]
        nn.functional.cross_entropy(logits, labels).backward()

    def dos_step() -> None:
        model.zero_grad(set_to_none=True)
        sum(model(batch, mode='loss').values()).backward()

    calls = capture_loss_calls(model, batch)
    # the hook as the Runner calls it, every iteration, no warnings
    hook = DOSDiagnosticsHook(interval=1, warmup=sys.maxsize)
    runner = SimpleNamespace(
        model=model,
        iter=0,
        message_hub=MessageHub.get_instance('benchmark_dos_step'))

    @torch.no_grad()
    def diagnostics() -> None:
        hook.after_train_iter(runner, 0)

    @torch.no_grad()
    def teacher_forward() -> None:
        model.teacher.module.backbone(model._full_view(batch))

    def loss_only() -> None:
        # every Zipf-Sinkhorn call, then every loss on the target it was
        # given (DOS runs both terms' Sinkhorns before their losses, so
        # each loss is replayed with its recorded target)
        for name, inputs in calls:
            if name == 'sinkhorn':
                model.sinkhorn(*inputs)
            else:
                student = inputs[0].requires_grad_()
                model.criterion(student, *inputs[1:]).backward()

    times = benchmark_ptv3.measure_interleaved(
        dict(
            supervised=supervised_step,
            dos=dos_step,
            loss=loss_only,
            teacher=teacher_forward,
            diagnostics=diagnostics), args.repeats, device)
    sup_wall, sup_cpu, sup_peak = times['supervised']
    dos_wall, dos_cpu, dos_peak = times['dos']
    loss_wall, loss_cpu, _ = times['loss']
    teacher_wall, teacher_cpu, _ = times['teacher']
    diag_wall, diag_cpu, _ = times['diagnostics']

    visible = batch['visible']
    num_voxels = [
        int(inputs[0].shape[0]) for name, inputs in calls if name == 'sinkhorn'
    ]
    threads = torch.get_num_threads()
    print(f'DOS step benchmark: PTv3 {args.preset}, K={args.num_prototypes},'
          f' {device} ({threads} threads), median of {args.repeats}')
    print(f'frame: {source}; views: {sizes.tolist()} points (0.05 m grid),'
          f' visible {int(visible.sum())} of {visible.numel()} '
          f'(mask ratio {args.mask_ratio}, 1 m blocks); supervised voxels per'
          f' loss term (same, cross): {num_voxels}')
    print(f'{"":44}{"wall s":>9}{"CPU s":>9}{"peak MiB":>10}')
    rows = (('supervised fwd+bwd, one full view', sup_wall, sup_cpu,
             f'{sup_peak:10.0f}'),
            ('DOS train step (teacher + student + loss)', dos_wall, dos_cpu,
             f'{dos_peak:10.0f}'),
            ('  of which teacher forward, both full views', teacher_wall,
             teacher_cpu, ''), ('  of which Zipf-Sinkhorn + softmap loss',
                                loss_wall, loss_cpu, ''),
            ('DOSDiagnosticsHook, one evaluation', diag_wall, diag_cpu, ''))
    for name, wall, cpu, peak in rows:
        print(f'{name:44}{wall:9.3f}{cpu:9.3f}{peak}')
    # CPU seconds are the robust figure on a shared machine; wall for info.
    ratio, ratio_wall = dos_cpu / sup_cpu, dos_wall / sup_wall
    share, share_wall = (100.0 * loss_cpu / dos_cpu,
                         100.0 * loss_wall / dos_wall)
    print(f'DOS / supervised: {ratio:.2f}x CPU time ({ratio_wall:.2f}x wall)'
          f' (target <= 1.5x: {"met" if ratio <= 1.5 else "NOT met"})')
    print(f'Zipf-Sinkhorn + softmap loss share of the DOS step: {share:.1f} %'
          f' CPU time ({share_wall:.1f} % wall) (target <= 5 %: '
          f'{"met" if share <= 5 else "NOT met"})')
    diag_share = 100.0 * diag_cpu / dos_cpu
    print(f'DOSDiagnosticsHook share of a DOS step: {diag_share:.2f} % CPU '
          f'time at interval 1 ({100.0 * diag_wall / dos_wall:.2f} % wall; '
          f'{diag_share / 10:.3f} % at the demo\'s interval 10) (target <= '
          f'2 %: {"met" if diag_share <= 2 else "NOT met"})')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--preset',
        choices=sorted(PTV3_PRESETS),
        default='base',
        help='PTv3 size preset')
    parser.add_argument('--num-prototypes', type=int, default=1024)
    parser.add_argument(
        '--frame',
        default=DEFAULT_FRAME_GLOB,
        help='glob of the .pcd.bin frame to use')
    parser.add_argument(
        '--crop-scale',
        type=float,
        default=1.0,
        help='view size as a fraction of the frame')
    parser.add_argument('--mask-ratio', type=float, default=0.7)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--default-malloc',
        action='store_true',
        help="keep glibc's default of returning freed memory to the OS")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


if __name__ == '__main__':
    main()
