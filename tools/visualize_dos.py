# Copyright (c) OpenMMLab. All rights reserved.
"""Pictures of a DOS pretraining checkpoint on one LiDAR frame.

Example (the demo checkpoint on the real nuScenes frame)::

    python tools/visualize_dos.py work_dirs/demo/configs/pretrain.py \
        work_dirs/demo/pretrain/iter_100.pth \
        ../shared/data/nuscenes_demo/*.pcd.bin \
        --out-dir docs/images --work-dir work_dirs/demo/pretrain

The frame (``.pcd.bin``, float32 rows of (x, y, z, intensity, ring)) is
cropped to the config's ``point_cloud_range``, grid-sampled once at the
model's ``grid_size`` (the first point of each voxel, as
``GridSample(mode='test')``) and fed as ONE full, unmasked view to the
teacher (EMA) backbone and prototype head, with the pretraining features
(x, y, z, intensity / 255). Writes ``prototype_map.png`` (each point coloured
by the most active prototype of its up-cast voxel), ``feature_pca.png`` (PCA
of the up-cast features), ``prototype_usage.png`` (voxel argmax usage vs the
config's Zipf prior) and, with ``--work-dir``, ``training_curves.png``. With
``--log`` the pictures also go to the config's visualizer backends (e.g.
TensorBoard) under ``--log-dir``.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import numpy as np
import torch
from mmdet3d.registry import MODELS, VISUALIZERS
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from torch import Tensor

from projects.DOS.dos.datasets.transforms.grid_sample import (
    GridSample, compute_grid_coord)
from projects.DOS.dos.visualization import (log_image, plot_feature_pca,
                                            plot_prototype_map,
                                            plot_prototype_usage,
                                            plot_training_curves, save_image)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='DOS pretraining config')
    parser.add_argument('checkpoint', help='DOS pretraining checkpoint')
    parser.add_argument(
        'points', help='point cloud file, float32 (x, y, z, intensity, ring)')
    parser.add_argument('--out-dir', required=True, help='PNG directory')
    parser.add_argument(
        '--work-dir',
        help='work_dir with */vis_data/scalars.json: also '
        'draw the training curves')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(1200, 600),
        metavar=('WIDTH', 'HEIGHT'),
        help='pixel size of the scene pictures')
    parser.add_argument(
        '--load-dim', type=int, default=5, help='float32 values per point')
    parser.add_argument(
        '--log',
        action='store_true',
        help='also log the pictures through the config\'s visualizer')
    parser.add_argument(
        '--log-dir', help='save_dir of the visualizer (default: --out-dir)')
    return parser.parse_args(argv)


def load_view(points_file: str, load_dim: int, grid_size: float,
              point_cloud_range: Optional[List[float]]) -> Dict[str, Tensor]:
    """Build the PTv3 input of one full, unmasked view of a frame.

    Args:
        points_file (str): float32 point file with ``load_dim`` values per
            point, the first four (x, y, z, intensity in [0, 255]).
        load_dim (int): Values per point.
        grid_size (float): Input voxel size in metres.
        point_cloud_range (list[float], optional): (x_min, y_min, z_min,
            x_max, y_max, z_max) crop, metres.

    Returns:
        dict[str, Tensor]: ``coord`` (N, 3) float32 (x, y, z), ``grid_coord``
        (N, 3) int64 (x, y, z), ``feat`` (N, 4) float32 (x, y, z,
        intensity / 255) and ``offset`` (1,) int64 = [N].
    """
    raw = np.fromfile(points_file, dtype=np.float32)
    if load_dim < 4 or raw.size == 0 or raw.size % load_dim:
        raise ValueError(f'{points_file}: {raw.size} float32 values do not '
                         f'form rows of load_dim={load_dim} (>= 4)')
    points = raw.reshape(-1, load_dim)[:, :4]
    if point_cloud_range is not None:
        lo, hi = np.asarray(point_cloud_range[:3]), np.asarray(
            point_cloud_range[3:])
        points = points[np.all(
            (points[:, :3] >= lo) & (points[:, :3] < hi), axis=1)]
    if points.shape[0] == 0:
        raise ValueError(f'{points_file}: no point inside point_cloud_range '
                         f'{point_cloud_range}')
    points = points[GridSample(grid_size,
                               mode='test').sample_indices(points[:, :3])]
    coord = torch.from_numpy(np.ascontiguousarray(points[:, :3]))
    return dict(
        coord=coord,
        grid_coord=torch.from_numpy(
            compute_grid_coord(points[:, :3], grid_size)),
        feat=torch.cat([coord, torch.from_numpy(points[:, 3:4]) / 255.0], 1),
        offset=torch.tensor([coord.shape[0]], dtype=torch.int64))


@torch.no_grad()
def teacher_outputs(
        model: torch.nn.Module,
        view: Dict[str, Tensor]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the teacher backbone and prototype head on one full view.

    Args:
        model (nn.Module): A built :class:`DOS` model.
        view (dict[str, Tensor]): Output of :func:`load_view`.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``point2out`` (N,) int64
        up-cast voxel of each input point, ``feat`` (M, C) float32 up-cast
        features and ``prototype`` (M,) int64 most active prototype of each
        up-cast voxel.
    """
    teacher = model.teacher.module
    out = teacher.backbone(view)
    scores = teacher.head(out['feat'])
    return (out['point2out'].numpy(), out['feat'].float().numpy(),
            scores.cos.argmax(dim=1).numpy())


def main(argv: Optional[List[str]] = None) -> None:
    """Write the DOS pictures of one frame."""
    args = parse_args(argv)
    import projects.DOS.dos  # noqa: F401  (registers the DOS components)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    model.eval()
    view = load_view(args.points, args.load_dim, cfg.model.grid_size,
                     cfg.get('point_cloud_range'))
    point2out, feat, prototype = teacher_outputs(model, view)
    coord = view['coord'].numpy()
    num_prototypes = cfg.model.head.get('num_prototypes')
    counts = np.bincount(
        prototype, minlength=num_prototypes or int(prototype.max()) + 1)
    print(f'{args.points}: {int((counts > 0).sum())} of {len(counts)} '
          'prototypes argmax-active (teacher, up-cast voxels)')
    images = dict(
        prototype_map=plot_prototype_map(coord, prototype[point2out],
                                         args.size),
        feature_pca=plot_feature_pca(coord, feat[point2out], args.size),
        prototype_usage=plot_prototype_usage(
            counts,
            cfg.model.sinkhorn.get('alpha', 0.0),
            title=f'{osp.basename(args.checkpoint)} prototype usage'))
    if args.work_dir:
        images['training_curves'] = plot_training_curves(args.work_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.log:
        VISUALIZERS.build(
            dict(cfg.visualizer, save_dir=args.log_dir or args.out_dir))
    for name, image in images.items():
        out_file = osp.join(args.out_dir, f'{name}.png')
        save_image(image, out_file)
        if args.log:
            log_image(f'dos_{name}', image)
        print(f'wrote {out_file} ({image.shape[1]}x{image.shape[0]})')


if __name__ == '__main__':
    main()
