# Copyright (c) OpenMMLab. All rights reserved.
"""tools/make_seg_subset.py: whole-scene subsets with recorded provenance."""
import importlib
import json
import sys
from pathlib import Path
from typing import Dict

import mmengine
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / 'tools') not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / 'tools'))
make_seg_subset = importlib.import_module('make_seg_subset')

# 10 scenes of 4 frames each, listed interleaved (not grouped by scene).
NUM_SCENES, FRAMES_PER_SCENE = 10, 4
VERSION = 'v1.0-test'


def write_nuscenes(root: Path) -> Dict[str, str]:
    """Infos + devkit sample.json; returns sample token -> scene token."""
    scene_of = {
        f'sample{f}_{s}': f'scene{s}'
        for f in range(FRAMES_PER_SCENE)
        for s in range(NUM_SCENES)
    }
    (root / VERSION).mkdir()
    with open(root / VERSION / 'sample.json', 'w') as f:
        json.dump([dict(token=t, scene_token=s) for t, s in scene_of.items()],
                  f)
    mmengine.dump(
        dict(
            metainfo=dict(dataset='nuscenes', version=VERSION),
            data_list=[
                dict(token=token, pts_semantic_mask_path=f'{token}.bin')
                for token in scene_of
            ]), str(root / 'nuscenes_infos_train.pkl'))
    return scene_of


def test_nuscenes_subset_keeps_whole_scenes(tmp_path: Path) -> None:
    scene_of = write_nuscenes(tmp_path)
    infos = str(tmp_path / 'nuscenes_infos_train.pkl')
    summary = make_seg_subset.make_seg_subset(infos, ratio=0.2, seed=0)
    assert summary['info_path'] == str(tmp_path /
                                       'nuscenes_20pct_infos_train.pkl')
    written = mmengine.load(summary['info_path'])
    kept_tokens = [info['token'] for info in written['data_list']]
    kept_scenes = {scene_of[token] for token in kept_tokens}
    # 20 % of 40 frames = 8 frames = exactly 2 whole scenes, source order.
    assert len(kept_scenes) == 2
    assert sorted(kept_tokens) == sorted(t for t, s in scene_of.items()
                                         if s in kept_scenes)
    order = list(scene_of)
    assert kept_tokens == sorted(kept_tokens, key=order.index)
    subset = written['metainfo']['subset']
    assert written['metainfo']['version'] == VERSION
    assert subset['mode'] == 'scene' and subset['seed'] == 0
    assert subset['scene_tokens'] == sorted(kept_scenes)
    assert subset['tokens'] == kept_tokens
    assert subset['num_frames'] == 8 and subset['num_source_frames'] == 40
    again = make_seg_subset.make_seg_subset(
        infos, ratio=0.2, seed=0, tag='again')
    assert again['scene_tokens'] == subset['scene_tokens']


def test_semantickitti_scenes_are_sequences(tmp_path: Path) -> None:
    frames = [(seq, i) for seq in ('00', '01', '02', '03') for i in range(5)]
    mmengine.dump(
        dict(
            metainfo=dict(DATASET='SemanticKITTI'),
            data_list=[
                dict(
                    lidar_points=dict(
                        lidar_path=f'sequences/{seq}/velodyne/{i:06d}.bin'))
                for seq, i in frames
            ]), str(tmp_path / 'semantickitti_infos_train.pkl'))
    make_seg_subset.main([
        str(tmp_path / 'semantickitti_infos_train.pkl'), '--dataset',
        'semantickitti', '--ratio', '0.5', '--seed', '3'
    ])
    written = mmengine.load(
        str(tmp_path / 'semantickitti_50pct_infos_train.pkl'))
    sequences = [
        info['lidar_points']['lidar_path'].split('/')[1]
        for info in written['data_list']
    ]
    assert len(sequences) == 10 and len(set(sequences)) == 2
    assert written['metainfo']['subset']['scene_tokens'] == sorted(
        set(sequences))


def test_bad_inputs_are_rejected(tmp_path: Path) -> None:
    write_nuscenes(tmp_path)
    infos = str(tmp_path / 'nuscenes_infos_train.pkl')
    with pytest.raises(ValueError, match='ratio'):
        make_seg_subset.make_seg_subset(infos, ratio=0.)
    with pytest.raises(ValueError, match='dataset'):
        make_seg_subset.make_seg_subset(infos, ratio=0.1, dataset='kitti')
    with pytest.raises(FileNotFoundError, match='sample.json'):
        make_seg_subset.make_seg_subset(
            infos, ratio=0.1, data_root=str(tmp_path / 'elsewhere'))
    mmengine.dump(
        dict(data_list=[dict(lidar_points=dict(lidar_path='000000.bin'))]),
        str(tmp_path / 'flat_infos_train.pkl'))
    with pytest.raises(ValueError, match='sequences/<id>/'):
        make_seg_subset.make_seg_subset(
            str(tmp_path / 'flat_infos_train.pkl'),
            ratio=0.5,
            dataset='semantickitti')
