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
from typing import Dict, List, Optional, Tuple

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import numpy as np

MODES = ('interval', 'scene', 'random')
INFO_SUFFIX = '_infos_train.pkl'


def build_arg_parser(description: str, infos_help: str, ratio_help: str,
                     selection: Tuple[str, dict],
                     data_root_help: str) -> argparse.ArgumentParser:
    """The command line of the label-subset tools (this one and
    ``tools/make_seg_subset.py``): ``infos``, ``--ratio``, the tool's own
    selection option, ``--seed``, ``--tag`` and ``--data-root``.

    Args:
        description (str): Parser description.
        infos_help (str): Help of the ``infos`` positional.
        ratio_help (str): Help of ``--ratio``.
        selection (tuple[str, dict]): Flag and ``add_argument`` keywords of
            the option choosing how frames are selected (``--mode`` here,
            ``--dataset`` in ``make_seg_subset.py``).
        data_root_help (str): Help of ``--data-root``.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('infos', help=infos_help)
    parser.add_argument('--ratio', type=float, required=True, help=ratio_help)
    flag, kwargs = selection
    parser.add_argument(flag, **kwargs)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--tag',
        default=None,
        help='output prefix (default: <infos prefix>_<percent>pct)')
    parser.add_argument('--data-root', default=None, help=data_root_help)
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; default ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``infos``, ``ratio``, ``mode``, ``seed``,
        ``tag``, ``data_root``.
    """
    parser = build_arg_parser(
        __doc__.splitlines()[0],
        infos_help='nuScenes train infos (.pkl, v2)',
        ratio_help='share of the frames to keep, in (0, 1]',
        selection=('--mode', dict(default='interval', help=f'one of {MODES}')),
        data_root_help='dataset root holding the points and the devkit '
        'tables (default: the folder of the infos); outputs are written '
        'there')
    return parser.parse_args(argv)


def check_source(infos: str, ratio: float) -> None:
    """Check the source infos file exists and the ratio is in (0, 1].

    Args:
        infos (str): Source train infos.
        ratio (float): Share of the frames to keep.

    Raises:
        FileNotFoundError: ``infos`` does not exist.
        ValueError: ``ratio`` outside (0, 1].
    """
    if not osp.isfile(infos):
        raise FileNotFoundError(f'infos {infos} does not exist')
    if not 0 < ratio <= 1:
        raise ValueError(f'--ratio must be in (0, 1], got {ratio}')


def resolve_output(infos: str, ratio: float, tag: Optional[str],
                   data_root: Optional[str]) -> Tuple[str, str, str]:
    """Dataset root, output prefix and output infos path of a subset.

    Args:
        infos (str): Source train infos.
        ratio (float): Share of the frames to keep.
        tag (str, optional): Output prefix; default :func:`default_tag`.
        data_root (str, optional): Dataset root; default the infos' folder.

    Returns:
        tuple[str, str, str]: ``data_root``, ``tag`` and
        ``<data_root>/<tag>_infos_train.pkl``.

    Raises:
        ValueError: The output would overwrite the source.
    """
    data_root = data_root or osp.dirname(osp.abspath(infos))
    tag = tag or default_tag(infos, ratio)
    info_path = osp.join(data_root, f'{tag}{INFO_SUFFIX}')
    if osp.abspath(info_path) == osp.abspath(infos):
        raise ValueError(f'--tag {tag!r} would overwrite the source {infos}')
    return data_root, tag, info_path


def load_source(infos: str) -> Tuple[List[dict], dict]:
    """Read mmdet3d v2 infos.

    Args:
        infos (str): Infos pickle with ``metainfo`` and ``data_list``.

    Returns:
        tuple[list[dict], dict]: The ``data_list`` and a copy of the
        ``metainfo`` (empty when absent).

    Raises:
        ValueError: The file holds no non-empty ``data_list``.
    """
    with open(infos, 'rb') as f:
        source = pickle.load(f)
    if not isinstance(source, dict) or not source.get('data_list'):
        raise ValueError(f'infos {infos} is not mmdet3d v2 infos with a '
                         "non-empty 'data_list' (run tools/create_data.py)")
    return source['data_list'], dict(source.get('metainfo', {}))


def subset_record(infos: str, mode: str, ratio: float, seed: int,
                  num_source_frames: int, kept: List[int]) -> dict:
    """The provenance fields every subset's ``metainfo['subset']`` has.

    Args:
        infos (str): Source train infos.
        mode (str): Selection mode.
        ratio (float): Requested share.
        seed (int): Seed of the selection.
        num_source_frames (int): Frames in the source.
        kept (list[int]): Kept frame indices.

    Returns:
        dict: ``mode``, ``ratio``, ``seed``, ``source`` (absolute path),
        ``num_source_frames``, ``num_frames`` and ``kept_ratio``.
    """
    return dict(
        mode=mode,
        ratio=ratio,
        seed=seed,
        source=osp.abspath(infos),
        num_source_frames=num_source_frames,
        num_frames=len(kept),
        kept_ratio=len(kept) / num_source_frames)


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
    check_source(infos, ratio)
    if mode not in MODES:
        raise ValueError(f'--mode must be one of {MODES}, got {mode!r}')
    data_root, tag, info_path = resolve_output(infos, ratio, tag, data_root)

    data_list, metainfo = load_source(infos)
    tokens = [info['token'] for info in data_list]
    scene_tokens = (
        read_scene_tokens(data_root, metainfo.get('version', ''), tokens)
        if mode == 'scene' else None)
    kept = select_frames(len(data_list), ratio, mode, seed, scene_tokens)

    subset = subset_record(infos, mode, ratio, seed, len(data_list), kept)
    subset['tokens'] = [tokens[i] for i in kept]
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
