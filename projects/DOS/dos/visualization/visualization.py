# Copyright (c) OpenMMLab. All rights reserved.
"""Pictures of a DOS model: prototype maps, feature PCA, usage, curves.

Every ``plot_*`` function draws on a matplotlib :class:`Figure` bound to the
Agg canvas (no pyplot, no display) and returns the picture as a
(H, W, 3) uint8 RGB array of exactly the requested pixel size. The array can
be written to a PNG with :func:`save_image` and logged through mmengine's
visualizer (its Local / Tensorboard backends) with :func:`log_image`.
Point coordinates are metric (x, y, z) in the LiDAR frame throughout; the
bird's-eye views put x to the right and y up.
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave
from mmengine.visualization import Visualizer

DIAGNOSTIC_KEYS = ('loss', 'usage_entropy', 'active_prototypes',
                   'usage_kl_zipf', 'coverage', 'agreement')
_DPI = 100


def _new_figure(size: Tuple[int, int]) -> Figure:
    """An Agg-backed figure of ``size`` = (width, height) pixels."""
    width, height = _check_size(size)
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _check_size(size: Sequence[int]) -> Tuple[int, int]:
    """Validate a (width, height) pixel size."""
    if len(size) != 2 or min(int(s) for s in size) < 16:
        raise ValueError(f'size must be (width, height) pixels, each >= 16, '
                         f'got {tuple(size)}')
    return int(size[0]), int(size[1])


def _render(fig: Figure, size: Tuple[int, int]) -> np.ndarray:
    """Draw ``fig`` and return it as a (H, W, 3) uint8 RGB array.

    Agg sizes its buffer from ``figsize * dpi``; a float rounding can cost a
    pixel for some sizes, so the buffer is padded / cropped (white) to the
    exact requested size.
    """
    width, height = _check_size(size)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    h, w = min(height, rgba.shape[0]), min(width, rgba.shape[1])
    image[:h, :w] = rgba[:h, :w, :3]
    return image


def _check_points(coord: np.ndarray, name: str, num: int) -> np.ndarray:
    """Validate (N, 3) coordinates matching ``num`` per-point values."""
    coord = np.asarray(coord, dtype=np.float32)
    if coord.ndim != 2 or coord.shape[1] != 3 or coord.shape[0] == 0:
        raise ValueError(f'coord must be a non-empty (N, 3) array of (x, y, '
                         f'z), got shape {coord.shape}')
    if num != coord.shape[0]:
        raise ValueError(f'{name} has {num} rows but coord has '
                         f'{coord.shape[0]} points')
    return coord


def _palette(num_colors: int, seed: int = 0) -> np.ndarray:
    """(num_colors, 3) float RGB in [0, 1]: distinct, reproducible colours.

    Hues follow the golden-ratio sequence (neighbouring ids far apart on the
    colour wheel); saturation and value vary with a seeded RNG.
    """
    rng = np.random.default_rng(seed)
    hue = (np.arange(num_colors) * 0.618033988749895) % 1.0
    sat = rng.uniform(0.55, 1.0, num_colors)
    val = rng.uniform(0.65, 1.0, num_colors)
    sector = np.floor(hue * 6).astype(np.int64) % 6
    frac = hue * 6 - np.floor(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - frac * sat), val * (1 -
                                                              (1 - frac) * sat)
    table = np.stack([
        np.stack([val, t, p], 1),
        np.stack([q, val, p], 1),
        np.stack([p, val, t], 1),
        np.stack([p, q, val], 1),
        np.stack([t, p, val], 1),
        np.stack([val, p, q], 1)
    ])
    return table[sector, np.arange(num_colors)]


def _scatter_views(coord: np.ndarray, colors: np.ndarray, size: Tuple[int,
                                                                      int],
                   title: str, point_size: float) -> np.ndarray:
    """Bird's-eye (x-y) and perspective (3D projection) views of a cloud.

    Args:
        coord (np.ndarray): (N, 3) float (x, y, z), metres.
        colors (np.ndarray): (N, 3) float RGB in [0, 1].
        size (tuple[int, int]): (width, height) in pixels.
        title (str): Figure title.
        point_size (float): Marker area in points^2.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    fig = _new_figure(size)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.08, wspace=0.05)
    bev = fig.add_subplot(1, 2, 1)
    bev.scatter(coord[:, 0], coord[:, 1], c=colors, s=point_size, linewidths=0)
    bev.set_aspect('equal')
    bev.set_xlabel('x (m)')
    bev.set_ylabel('y (m)')
    bev.set_title("bird's-eye view")
    persp = fig.add_subplot(1, 2, 2, projection='3d')
    persp.scatter(
        coord[:, 0],
        coord[:, 1],
        coord[:, 2],
        c=colors,
        s=point_size,
        linewidths=0,
        depthshade=False)
    persp.view_init(elev=25, azim=-60)
    extent = np.ptp(coord, axis=0).clip(min=1e-3)
    persp.set_box_aspect(
        (extent[0], extent[1], max(extent[2], extent[:2].max() / 8)), zoom=1.8)
    persp.set_axis_off()
    persp.set_title('perspective view')
    return _render(fig, size)


def plot_prototype_map(coord: np.ndarray,
                       prototype: np.ndarray,
                       size: Tuple[int, int] = (1200, 600),
                       point_size: float = 1.0) -> np.ndarray:
    """Points coloured by their most active prototype (the paper's Fig. 4).

    Args:
        coord (np.ndarray): (N, 3) float point coordinates (x, y, z), metres.
        prototype (np.ndarray): (N,) int index of each point's most active
            prototype (argmax of its cosine scores), in [0, K).
        size (tuple[int, int]): (width, height) of the picture in pixels.
            Defaults to (1200, 600).
        point_size (float): Marker area in points^2. Defaults to 1.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB: bird's-eye view left, perspective
        view right; one fixed colour per prototype id.
    """
    prototype = np.asarray(prototype).reshape(-1)
    coord = _check_points(coord, 'prototype', prototype.shape[0])
    if not np.issubdtype(prototype.dtype, np.integer) or prototype.min() < 0:
        raise ValueError('prototype must hold non-negative integer ids, got '
                         f'dtype {prototype.dtype}, min {prototype.min()}')
    colors = _palette(int(prototype.max()) + 1)[prototype]
    used = np.unique(prototype).size
    return _scatter_views(coord, colors, size,
                          f'most active prototype ({used} used)', point_size)


def plot_feature_pca(coord: np.ndarray,
                     feat: np.ndarray,
                     size: Tuple[int, int] = (1200, 600),
                     point_size: float = 1.0) -> np.ndarray:
    """Points coloured by the first 3 principal components of their features.

    Each component is mapped to a colour channel (R, G, B) after clipping to
    its 1st-99th percentile range and rescaling to [0, 1].

    Args:
        coord (np.ndarray): (N, 3) float point coordinates (x, y, z), metres.
        feat (np.ndarray): (N, C) float per-point features, C >= 1 (fewer
            than 3 components leave the remaining channels at 0.5).
        size (tuple[int, int]): (width, height) in pixels.
            Defaults to (1200, 600).
        point_size (float): Marker area in points^2. Defaults to 1.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB: bird's-eye and perspective views.
    """
    feat = np.asarray(feat, dtype=np.float64)
    if feat.ndim != 2:
        raise ValueError(f'feat must be (N, C), got shape {feat.shape}')
    coord = _check_points(coord, 'feat', feat.shape[0])
    centred = feat - feat.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = centred @ vt[:3].T
    colors = np.full((feat.shape[0], 3), 0.5)
    for i in range(comps.shape[1]):
        lo, hi = np.percentile(comps[:, i], (1, 99))
        colors[:, i] = np.clip((comps[:, i] - lo) / max(hi - lo, 1e-12), 0, 1)
    return _scatter_views(coord, colors, size, 'feature PCA (RGB = PC 1-3)',
                          point_size)


def plot_prototype_usage(counts: np.ndarray,
                         alpha: float,
                         size: Tuple[int, int] = (800, 600),
                         title: str = 'prototype usage') -> np.ndarray:
    """Sorted prototype usage against the Zipf prior, on log-log axes.

    Args:
        counts (np.ndarray): (K,) non-negative usage of each prototype (e.g.
            how many voxels have it as their most active prototype).
        alpha (float): Zipf exponent of the prior ``p_k ∝ k^-alpha`` for ranks
            k = 1..K (alpha = 0 is the uniform prior).
        size (tuple[int, int]): (width, height) in pixels.
            Defaults to (800, 600).
        title (str): Title prefix, e.g. the checkpoint's name. Defaults to
            ``'prototype usage'``.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB. Unused prototypes (zero usage) are
        left off the log-scale usage curve.
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if counts.size == 0 or counts.min() < 0 or counts.sum() <= 0:
        raise ValueError('counts must be a non-empty (K,) array of '
                         'non-negative usage with a positive sum')
    if alpha < 0:
        raise ValueError(f'alpha must be >= 0, got {alpha}')
    rank = np.arange(1, counts.size + 1, dtype=np.float64)
    usage = np.sort(counts)[::-1] / counts.sum()
    prior = rank**-alpha
    prior /= prior.sum()
    used = usage > 0
    fig = _new_figure(size)
    ax = fig.add_subplot(1, 1, 1)
    ax.loglog(rank[used], usage[used], '.-', label='usage (sorted)')
    ax.loglog(rank, prior, '--', label=f'Zipf prior, alpha={alpha:g}')
    ax.set_xlabel('prototype rank k')
    ax.set_ylabel('fraction of assignments')
    ax.set_title(f'{title}: {int(used.sum())} of {counts.size} used')
    ax.legend()
    ax.grid(True, which='both', alpha=0.3)
    return _render(fig, size)


def _scalar_name(key: str) -> str:
    """A logged scalar's name without mmengine's ``train/`` prefix."""
    return key[len('train/'):] if key.startswith('train/') else key


def read_scalars(work_dir: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Read the scalars mmengine's LocalVisBackend logged under a work_dir.

    Every ``<work_dir>/*/vis_data/scalars.json`` (one JSON object per line,
    one file per run, read in timestamp order so resumed runs follow each
    other) is read; a ``train/`` prefix is dropped from the key names.

    Args:
        work_dir (str): The mmengine work_dir.

    Returns:
        dict[str, tuple[np.ndarray, np.ndarray]]: key -> ((T,) steps,
        (T,) values), sorted by step (the last value wins on a repeated
        step).
    """
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under work_dir {work_dir!r}')
    series: Dict[str, Dict[int, float]] = {}
    for file in files:
        with open(file) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f'{file}:{line_no} is not JSON: '
                                     f'{err}') from err
                step = int(record.get('step', record.get('iter', line_no)))
                for key, value in record.items():
                    if key in ('step', 'iter',
                               'epoch') or not isinstance(value, (int, float)):
                        continue
                    series.setdefault(_scalar_name(key),
                                      {})[step] = float(value)
    return {
        key: (np.array(sorted(values)),
              np.array([values[s] for s in sorted(values)]))
        for key, values in series.items()
    }


def plot_training_curves(
    work_dir: str,
    keys: Sequence[str] = DIAGNOSTIC_KEYS,
    size: Tuple[int, int] = (1200, 800)
) -> np.ndarray:
    """Training curves of the DOS diagnostics hook's scalars.

    Args:
        work_dir (str): mmengine work_dir holding ``*/vis_data/scalars.json``.
        keys (Sequence[str]): Scalars to draw (``train/`` prefix optional);
            keys absent from the logs are skipped. Defaults to the loss and
            the :class:`DOSDiagnosticsHook` scalars.
        size (tuple[int, int]): (width, height) in pixels.
            Defaults to (1200, 800).

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB, one panel per key found.
    """
    series = read_scalars(work_dir)
    names: List[str] = [_scalar_name(k) for k in keys]
    found = [k for k in names if k in series]
    if not found:
        raise ValueError(f'none of {list(names)} is logged under '
                         f'{work_dir!r}; logged keys: {sorted(series)}')
    cols = min(3, len(found))
    rows = -(-len(found) // cols)
    fig = _new_figure(size)
    for i, key in enumerate(found):
        ax = fig.add_subplot(rows, cols, i + 1)
        steps, values = series[key]
        ax.plot(steps, values, '.-')
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _render(fig, size)


def save_image(image: np.ndarray, out_file: str) -> None:
    """Write a (H, W, 3) uint8 RGB array to a PNG of exactly W x H pixels."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError('image must be (H, W, 3) uint8, got '
                         f'{image.shape} {image.dtype}')
    imsave(out_file, image, format='png')


def log_image(name: str, image: np.ndarray, step: int = 0) -> bool:
    """Log an image through mmengine's current visualizer, if one exists.

    Args:
        name (str): Image tag, e.g. ``'dos_prototype_map'``; no ``/``
            (LocalVisBackend writes ``<name>_<step>.png`` into one folder).
        image (np.ndarray): (H, W, 3) uint8 RGB.
        step (int): Global step. Defaults to 0.

    Returns:
        bool: True if a visualizer existed and received the image.
    """
    if '/' in name or '\\' in name:
        raise ValueError(f'image name {name!r} must not contain a path '
                         'separator')
    try:
        visualizer = Visualizer.get_current_instance()
    except RuntimeError:  # no Visualizer created in this process
        return False
    visualizer.add_image(name, image, step)
    return True
