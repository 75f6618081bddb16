# Copyright (c) OpenMMLab. All rights reserved.
"""Make a label-efficiency subset (whole scenes) of segmentation train infos.

Examples (1 % of the nuScenes-lidarseg training scenes; 10 % of the
SemanticKITTI sequences' frames)::

    python tools/make_seg_subset.py data/nuscenes/nuscenes_infos_train.pkl \
        --ratio 0.01 --seed 0        # -> nuscenes_1pct_infos_train.pkl
    python tools/make_seg_subset.py \
        data/semantickitti/semantickitti_infos_train.pkl \
        --dataset semantickitti --ratio 0.1

Label-efficiency benchmarks draw whole driving scenes, so that no kept frame
has a near-duplicate neighbour left out. The scene draw is
``tools/make_label_subset.py``'s ``scene`` mode (whole scenes in a seeded
order until ``round(ratio * N)`` frames are covered; nuScenes scenes from the
devkit's ``sample.json``); this tool adds SemanticKITTI, whose scenes are the
``sequences/<id>/`` of the lidar paths, and skips the copy-paste ground-truth
database, which segmentation does not use. The output sits next to the input
(``<prefix>_<percent>pct_infos_train.pkl``, the detection subsets' naming);
its ``metainfo['subset']`` records ``mode='scene'``, ``ratio``, ``seed``,
``source``, ``num_source_frames``, ``num_frames``, ``kept_ratio``,
``tokens`` (kept sample tokens, nuScenes) and ``scene_tokens`` (kept scenes).
"""
import argparse
import re
from typing import List, Optional, Sequence

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import mmengine
from make_label_subset import (build_arg_parser, check_source, load_source,
                               read_scene_tokens, resolve_output,
                               select_frames, subset_record)

DATASETS = ('nuscenes', 'semantickitti')
SEQUENCE_PATTERN = re.compile(r'sequences/([^/]+)/')


def semantickitti_sequences(data_list: Sequence[dict]) -> List[str]:
    """Sequence id of every SemanticKITTI frame.

    Args:
        data_list (Sequence[dict]): Info entries with
            ``lidar_points['lidar_path']`` containing ``sequences/<id>/``.

    Returns:
        list[str]: The sequence id of each entry, in order.

    Raises:
        ValueError: A lidar path has no ``sequences/<id>/`` part.
    """
    sequences = []
    for index, info in enumerate(data_list):
        path = info['lidar_points']['lidar_path']
        match = SEQUENCE_PATTERN.search(path)
        if match is None:
            raise ValueError(f'info entry {index}: lidar_path {path!r} has '
                             'no sequences/<id>/ part')
        sequences.append(match.group(1))
    return sequences


def make_seg_subset(infos: str,
                    ratio: float,
                    dataset: str = 'nuscenes',
                    seed: int = 0,
                    tag: Optional[str] = None,
                    data_root: Optional[str] = None) -> dict:
    """Write the scene subset of ``infos`` (module docstring).

    Args:
        infos (str): Source train infos (mmdet3d v2 format).
        ratio (float): Share of the frames to cover with whole scenes, in
            (0, 1].
        dataset (str): ``'nuscenes'`` or ``'semantickitti'``.
            Defaults to ``'nuscenes'``.
        seed (int): Seed of the scene order. Defaults to 0.
        tag (str, optional): Output prefix; default ``<prefix>_<N>pct``.
        data_root (str, optional): Dataset root (holding the nuScenes devkit
            tables); default the infos' folder. The output is written there.

    Returns:
        dict: ``metainfo['subset']`` of the written infos plus
        ``info_path``.

    Raises:
        FileNotFoundError: ``infos`` (or the nuScenes ``sample.json``) does
            not exist.
        ValueError: Bad ``ratio`` or ``dataset``, infos without frames, or
            an output that would overwrite the source.
    """
    check_source(infos, ratio)
    if dataset not in DATASETS:
        raise ValueError(f'--dataset must be one of {DATASETS}, got '
                         f'{dataset!r}')
    data_root, tag, info_path = resolve_output(infos, ratio, tag, data_root)

    data_list, metainfo = load_source(infos)
    if dataset == 'nuscenes':
        tokens = [info['token'] for info in data_list]
        scenes = read_scene_tokens(data_root, metainfo.get('version', ''),
                                   tokens)
    else:
        tokens = None
        scenes = semantickitti_sequences(data_list)
    kept = select_frames(len(data_list), ratio, 'scene', seed, scenes)

    subset = subset_record(infos, 'scene', ratio, seed, len(data_list), kept)
    subset['scene_tokens'] = sorted({scenes[i] for i in kept})
    if tokens is not None:
        subset['tokens'] = [tokens[i] for i in kept]
    metainfo['subset'] = subset
    mmengine.dump(
        dict(metainfo=metainfo, data_list=[data_list[i] for i in kept]),
        info_path)
    return dict(subset, info_path=info_path)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; default ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``infos``, ``ratio``, ``dataset``, ``seed``,
        ``tag``, ``data_root``.
    """
    parser = build_arg_parser(
        __doc__.splitlines()[0],
        infos_help='train infos (.pkl, mmdet3d v2)',
        ratio_help='share of the frames to cover with whole scenes, in (0, 1]',
        selection=('--dataset', dict(choices=DATASETS, default='nuscenes')),
        data_root_help='dataset root holding the nuScenes devkit tables '
        '(default: the folder of the infos); the output is written there')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    args = parse_args(argv)
    summary = make_seg_subset(args.infos, args.ratio, args.dataset, args.seed,
                              args.tag, args.data_root)
    print(f'kept {len(summary["scene_tokens"])} scenes, '
          f'{summary["num_frames"]} of {summary["num_source_frames"]} frames '
          f'({summary["kept_ratio"]:.1%}, seed {args.seed}) -> '
          f'{summary["info_path"]}')


if __name__ == '__main__':
    main()
