# Copyright (c) OpenMMLab. All rights reserved.
"""Make a label-efficiency subset of nuScenes train infos and its GT database.

Example (20 % of the frames: every 5th keyframe, seeded phase)::

    python tools/make_label_subset.py data/nuscenes/nuscenes_infos_train.pkl \
        --ratio 0.2 --mode interval --seed 0

writes, next to the infos (the dataset root):

- ``nuscenes_20pct_infos_train.pkl``: the kept ``data_list`` entries with the
  source ``metainfo`` plus ``metainfo['subset']`` = ``mode``, ``ratio``,
  ``seed``, ``source`` (the input file), ``num_source_frames``,
  ``num_frames``, ``kept_ratio``, ``tokens`` (the kept sample tokens) and,
  for ``scene`` mode, ``scene_tokens``;
- ``nuscenes_20pct_gt_database/`` and ``nuscenes_20pct_dbinfos_train.pkl``:
  the copy-paste database of ``ObjectSample``, built by mmdet3d's own
  ``create_groundtruth_database`` from the subset ONLY. The stock
  ``nuscenes_dbinfos_train.pkl`` holds the objects of every training frame,
  so using it would leak all the labels into a "20 %" run.

Modes (``n = round(ratio * N)`` frames of the N, at least 1):

- ``interval``: n evenly spaced frames (every k-th for ratio 1/k), the
  phase drawn from the seed (Waymo's ``load_interval`` idea);
- ``scene``: whole scenes in a seeded random order until at least n frames
  (scene membership from the devkit table
  ``<data-root>/<version>/sample.json``);
- ``random``: n frames drawn uniformly without replacement.
"""
import argparse
import json
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import numpy as np

MODES = ('interval', 'scene', 'random')
INFO_SUFFIX = '_infos_train.pkl'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; default ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``infos``, ``ratio``, ``mode``, ``seed``,
        ``tag``, ``data_root``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('infos', help='nuScenes train infos (.pkl, v2)')
    parser.add_argument(
        '--ratio',
        type=float,
        required=True,
        help='share of the frames to keep, in (0, 1]')
    parser.add_argument('--mode', default='interval', help=f'one of {MODES}')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--tag',
        default=None,
        help='output prefix (default: <infos prefix>_<percent>pct)')
    parser.add_argument(
        '--data-root',
        default=None,
        help='dataset root holding the points and the devkit tables '
        '(default: the folder of the infos); outputs are written there')
    return parser.parse_args(argv)


def default_tag(infos: str, ratio: float) -> str:
    """``nuscenes_infos_train.pkl``, 0.2 -> ``nuscenes_20pct``."""
    name = osp.basename(infos)
    prefix = (
        name[:-len(INFO_SUFFIX)]
        if name.endswith(INFO_SUFFIX) else osp.splitext(name)[0])
    return f'{prefix}_{ratio * 100:g}pct'


def read_scene_tokens(data_root: str, version: str,
                      tokens: List[str]) -> List[str]:
    """Scene token of every sample token, from the devkit's ``sample.json``.

    Args:
        data_root (str): Dataset root.
        version (str): Devkit version folder, e.g. ``'v1.0-trainval'``.
        tokens (list[str]): Sample tokens.

    Returns:
        list[str]: The scene token of each sample.

    Raises:
        FileNotFoundError: The table does not exist.
        KeyError: Some sample is not in the table.
    """
    table = osp.join(data_root, version, 'sample.json')
    if not osp.isfile(table):
        raise FileNotFoundError(
            f'--mode scene needs the devkit table {table} (set --data-root '
            'to the dataset root)')
    with open(table) as f:
        scene_of = {row['token']: row['scene_token'] for row in json.load(f)}
    missing = [token for token in tokens if token not in scene_of]
    if missing:
        raise KeyError(f'{len(missing)} sample tokens of the infos are not '
                       f'in {table}, e.g. {missing[:3]}')
    return [scene_of[token] for token in tokens]


def select_frames(num_frames: int,
                  ratio: float,
                  mode: str,
                  seed: int,
                  scene_tokens: Optional[List[str]] = None) -> List[int]:
    """Indices of the frames to keep.

    Args:
        num_frames (int): N, frames in the source infos.
        ratio (float): Share to keep, in (0, 1].
        mode (str): One of :data:`MODES`.
        seed (int): Seed of the phase / scene order / draw.
        scene_tokens (list[str], optional): Scene of every frame (``scene``
            mode only).

    Returns:
        list[int]: Sorted frame indices.
    """
    rng = np.random.default_rng(seed)
    num_keep = min(num_frames, max(1, round(ratio * num_frames)))
    if mode == 'interval':
        step = num_frames / num_keep
        phase = rng.uniform(0, step)
        return [int(phase + i * step) for i in range(num_keep)]
    if mode == 'random':
        return sorted(rng.choice(num_frames, num_keep, replace=False).tolist())
    frames_of: Dict[str, List[int]] = {}
    for index, scene in enumerate(scene_tokens):
        frames_of.setdefault(scene, []).append(index)
    scenes = sorted(frames_of)
    kept: List[int] = []
    for scene_index in rng.permutation(len(scenes)):
        if len(kept) >= num_keep:
            break
        kept.extend(frames_of[scenes[scene_index]])
    return sorted(kept)


def build_gt_database(data_root: str, tag: str) -> None:
    """Run mmdet3d's ``create_groundtruth_database`` on ``<tag>`` infos.

    The converter ships as a file in the mmdet3d wheel
    (``mmdet3d/.mim/tools/dataset_converters``); it is imported the way
    ``tools/create_data.py`` runs it, not copied.

    Args:
        data_root (str): Dataset root holding ``<tag>_infos_train.pkl``.
        tag (str): Output prefix.
    """
    from create_data import shipped_tools_dir
    from mmengine.registry import init_default_scope

    tools_dir = shipped_tools_dir()  # imports mmdet3d, which may rebind
    sys.path.insert(1, osp.dirname(tools_dir))  # sys.path: insert after
    from tools.dataset_converters.create_gt_database import \
        create_groundtruth_database

    init_default_scope('mmdet3d')
    create_groundtruth_database('NuScenesDataset', data_root, tag,
                                f'{tag}{INFO_SUFFIX}')


def make_label_subset(infos: str,
                      ratio: float,
                      mode: str = 'interval',
                      seed: int = 0,
                      tag: Optional[str] = None,
                      data_root: Optional[str] = None) -> dict:
    """Write the subset infos and their GT database (module docstring).

    Args:
        infos (str): Source train infos (mmdet3d v2 format).
        ratio (float): Share of frames to keep, in (0, 1].
        mode (str): One of :data:`MODES`. Defaults to ``'interval'``.
        seed (int): Seed. Defaults to 0.
        tag (str, optional): Output prefix; default
            :func:`default_tag`.
        data_root (str, optional): Dataset root; default the infos' folder.

    Returns:
        dict: ``metainfo['subset']`` of the written infos, plus
        ``info_path`` and ``db_info_path``.

    Raises:
        FileNotFoundError: ``infos`` (or, in scene mode, the devkit table)
            does not exist.
        ValueError: ``ratio`` outside (0, 1], unknown ``mode``, infos
            without ``data_list``, or an output that would overwrite the
            source.
    """
    if not osp.isfile(infos):
        raise FileNotFoundError(f'infos {infos} does not exist')
    if not 0 < ratio <= 1:
        raise ValueError(f'--ratio must be in (0, 1], got {ratio}')
    if mode not in MODES:
        raise ValueError(f'--mode must be one of {MODES}, got {mode!r}')
    data_root = data_root or osp.dirname(osp.abspath(infos))
    tag = tag or default_tag(infos, ratio)
    info_path = osp.join(data_root, f'{tag}{INFO_SUFFIX}')
    if osp.abspath(info_path) == osp.abspath(infos):
        raise ValueError(f'--tag {tag!r} would overwrite the source {infos}')

    with open(infos, 'rb') as f:
        source = pickle.load(f)
    if not isinstance(source, dict) or not source.get('data_list'):
        raise ValueError(f'infos {infos} is not mmdet3d v2 infos with a '
                         "non-empty 'data_list' (run tools/create_data.py)")
    data_list = source['data_list']
    metainfo = dict(source.get('metainfo', {}))
    tokens = [info['token'] for info in data_list]
    scene_tokens = (
        read_scene_tokens(data_root, metainfo.get('version', ''), tokens)
        if mode == 'scene' else None)
    kept = select_frames(len(data_list), ratio, mode, seed, scene_tokens)

    subset = dict(
        mode=mode,
        ratio=ratio,
        seed=seed,
        source=osp.abspath(infos),
        num_source_frames=len(data_list),
        num_frames=len(kept),
        kept_ratio=len(kept) / len(data_list),
        tokens=[tokens[i] for i in kept])
    if scene_tokens is not None:
        subset['scene_tokens'] = sorted({scene_tokens[i] for i in kept})
    metainfo['subset'] = subset
    with open(info_path, 'wb') as f:
        pickle.dump(
            dict(metainfo=metainfo, data_list=[data_list[i] for i in kept]), f)
    build_gt_database(data_root, tag)
    return dict(
        subset,
        info_path=info_path,
        db_info_path=osp.join(data_root, f'{tag}_dbinfos_train.pkl'))


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    args = parse_args(argv)
    summary = make_label_subset(args.infos, args.ratio, args.mode, args.seed,
                                args.tag, args.data_root)
    print(f'kept {summary["num_frames"]} of {summary["num_source_frames"]} '
          f'frames ({summary["kept_ratio"]:.1%}, mode {args.mode}, seed '
          f'{args.seed}) -> {summary["info_path"]}, '
          f'{summary["db_info_path"]}')


if __name__ == '__main__':
    main()
