# Copyright (c) OpenMMLab. All rights reserved.
"""tools/make_label_subset.py: kept share, provenance and a leak-free DB.

The infos are written here in mmdet3d's v2 nuScenes format (10 frames in 3
scenes, a few car boxes with points inside each), so that every expected
count is known; the GT database is built by mmdet3d's own converter.
"""
import importlib
import json
import os.path as osp
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / 'tools') not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / 'tools'))
make_label_subset = importlib.import_module('make_label_subset')

SCENES = dict(scene_a=4, scene_b=3, scene_c=3)  # frames per scene
VERSION = 'v1.0-test'


@pytest.fixture(scope='module')
def infos_file(tmp_path_factory) -> str:
    """v2 train infos with ``1 + index % 3`` boxes in frame ``index``, the
    LiDAR files and the devkit ``sample.json``; returns the infos path."""
    root = tmp_path_factory.mktemp('nus')
    (root / 'samples' / 'LIDAR_TOP').mkdir(parents=True)
    (root / VERSION).mkdir()
    rng = np.random.RandomState(0)
    data_list, samples = [], []
    scene_of_frame = [s for s, n in SCENES.items() for _ in range(n)]
    for index, scene in enumerate(scene_of_frame):
        boxes = np.zeros((1 + index % 3, 7))
        boxes[:, 0] = rng.uniform(-20, 20, len(boxes))
        boxes[:, 1] = 10.0 * np.arange(len(boxes)) - 10.0
        boxes[:, 2] = -1.5
        boxes[:, 3:6] = (4.0, 2.0, 1.5)
        inside = [
            box[:3] + rng.uniform(-0.4, 0.4, (30, 3)) * box[3:6]
            for box in boxes
        ]
        background = rng.uniform([-40, -40, -3], [40, 40, -2.5], (200, 3))
        xyz = np.concatenate([*inside, background])
        points = np.hstack(
            [xyz,
             rng.uniform(0, 255, (len(xyz), 1)),
             np.zeros((len(xyz), 1))]).astype(np.float32)
        lidar_file = f'frame_{index}.pcd.bin'
        points.tofile(str(root / 'samples' / 'LIDAR_TOP' / lidar_file))
        token = f'token{index:02d}'
        data_list.append(
            dict(
                sample_idx=index,
                token=token,
                timestamp=index * 0.5,
                ego2global=np.eye(4).tolist(),
                lidar_points=dict(
                    lidar_path=lidar_file,
                    num_pts_feats=5,
                    lidar2ego=np.eye(4).tolist()),
                instances=[
                    dict(
                        bbox_3d=box.tolist(),
                        bbox_label=0,
                        bbox_label_3d=0,
                        bbox_3d_isvalid=True,
                        velocity=[0.0, 0.0],
                        num_lidar_pts=30,
                        num_radar_pts=0) for box in boxes
                ]))
        samples.append(dict(token=token, scene_token=scene))
    with open(root / VERSION / 'sample.json', 'w') as f:
        json.dump(samples, f)
    infos = root / 'nuscenes_infos_train.pkl'
    with open(infos, 'wb') as f:
        pickle.dump(
            dict(
                metainfo=dict(
                    categories=dict(car=0),
                    dataset='nuscenes',
                    version=VERSION,
                    info_version='1.1'),
                data_list=data_list), f)
    return str(infos)


def load(path: str):
    """Unpickle ``path``."""
    with open(path, 'rb') as f:
        return pickle.load(f)


def check_database(summary: dict, source: dict) -> None:
    """The DB holds exactly the boxes of the kept frames, with their points.

    Boxes are matched by their (x, y) centre (random, hence unique);
    ``image_idx`` is the row in the subset.
    """
    kept = load(summary['info_path'])['data_list']
    kept_tokens = {info['token'] for info in kept}
    db = load(summary['db_info_path'])
    objects = [obj for objs in db.values() for obj in objs]
    assert {obj['image_idx'] for obj in objects} == set(range(len(kept)))

    def centres(boxes):
        """Sorted, rounded (x, y) centres."""
        return sorted(
            (round(float(b[0]), 4), round(float(b[1]), 4)) for b in boxes)

    assert centres(obj['box3d_lidar'] for obj in objects) == centres(
        inst['bbox_3d'] for info in source['data_list']
        if info['token'] in kept_tokens for inst in info['instances'])
    root = osp.dirname(summary['info_path'])
    assert all(obj['num_points_in_gt'] >= 30 for obj in objects)
    assert all(osp.isfile(osp.join(root, obj['path'])) for obj in objects)


def test_interval_mode_keeps_every_kth_frame_and_its_objects(infos_file):
    summary = make_label_subset.make_label_subset(
        infos_file, ratio=0.2, mode='interval', seed=3)
    assert summary['info_path'].endswith('nuscenes_20pct_infos_train.pkl')
    written = load(summary['info_path'])
    source = load(infos_file)
    indices = [info['sample_idx'] for info in written['data_list']]
    assert len(indices) == 2 and indices[1] - indices[0] == 5
    subset = written['metainfo']['subset']
    assert subset['mode'] == 'interval' and subset['seed'] == 3
    assert subset['ratio'] == 0.2 and subset['kept_ratio'] == 0.2
    assert subset['num_source_frames'] == 10 and subset['num_frames'] == 2
    assert subset['source'] == osp.abspath(infos_file)
    assert subset['tokens'] == [f'token{i:02d}' for i in indices]
    assert written['metainfo']['version'] == VERSION
    assert written['data_list'] == [source['data_list'][i] for i in indices]
    check_database(summary, source)


def test_random_mode_is_seeded(infos_file):

    def kept(seed, tag):
        """Tokens kept with ``seed`` (written under ``tag``)."""
        summary = make_label_subset.make_label_subset(
            infos_file, ratio=0.3, mode='random', seed=seed, tag=tag)
        check_database(summary, load(infos_file))
        return load(summary['info_path'])['metainfo']['subset']['tokens']

    first = kept(0, 'random_a')
    assert len(first) == 3
    assert kept(0, 'random_b') == first
    assert kept(1, 'random_c') != first


def test_scene_mode_keeps_whole_scenes(infos_file):
    summary = make_label_subset.make_label_subset(
        infos_file, ratio=0.5, mode='scene', seed=0, tag='scenes')
    subset = load(summary['info_path'])['metainfo']['subset']
    scenes = subset['scene_tokens']
    assert sum(SCENES[s] for s in scenes) == subset['num_frames'] >= 5
    scene_of = [s for s, n in SCENES.items() for _ in range(n)]
    assert subset['tokens'] == [
        f'token{i:02d}' for i, s in enumerate(scene_of) if s in scenes
    ]
    check_database(summary, load(infos_file))


def test_rejects_bad_input(infos_file, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pkl'):
        make_label_subset.make_label_subset(str(tmp_path / 'missing.pkl'), 0.2)
    for ratio in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match='--ratio'):
            make_label_subset.make_label_subset(infos_file, ratio)
    with pytest.raises(ValueError, match='--mode'):
        make_label_subset.make_label_subset(infos_file, 0.2, mode='every')
    with pytest.raises(ValueError, match='overwrite the source'):
        make_label_subset.make_label_subset(infos_file, 0.2, tag='nuscenes')
    with pytest.raises(FileNotFoundError, match='sample.json'):
        make_label_subset.make_label_subset(
            infos_file, 0.5, mode='scene', data_root=str(tmp_path))
    with pytest.raises(SystemExit):  # --ratio is required
        make_label_subset.parse_args([infos_file])
