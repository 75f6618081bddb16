# Copyright (c) OpenMMLab. All rights reserved.
"""The synthetic release is a valid nuScenes v1.0-mini for the real tools.

Uses the session fixtures of ``conftest.py`` (a tiny release generated in a
temporary folder, and its infos made by ``tools/create_data.py``).
"""
import json
import os
import os.path as osp
import re
import warnings
from collections import Counter

import numpy as np
import pytest
from nuscenes import NuScenes
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.detection.evaluate import DetectionEval
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.utils.color_map import get_colormap
from nuscenes.utils.data_classes import LidarPointCloud
from nuscenes.utils.geometry_utils import points_in_box
from nuscenes.utils.splits import mini_val
from pyquaternion import Quaternion

from projects.DOS.dos.datasets.synthetic_nuscenes import (
    DETECTION_CLASSES, LIDARSEG_CATEGORIES, LidarConfig,
    SyntheticNuScenesConfig, build_scene, generate_synthetic_nuscenes)
from projects.DOS.dos.datasets.synthetic_nuscenes.tables import make_token

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TOKEN = re.compile(r'^[0-9a-f]{32}$')
DETECTION_LABELS = {
    spec.lidarseg_index: spec.name
    for spec in DETECTION_CLASSES
}


@pytest.fixture(scope='module')
def nusc(synthetic_nuscenes_root: str) -> NuScenes:
    return NuScenes('v1.0-mini', synthetic_nuscenes_root, verbose=False)


def test_devkit_loads_without_warnings(synthetic_nuscenes_root,
                                       synthetic_nuscenes_config):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        nusc = NuScenes('v1.0-mini', synthetic_nuscenes_root, verbose=False)
    cfg = synthetic_nuscenes_config
    assert [s['name'] for s in nusc.scene] == ['scene-0061', 'scene-0103']
    assert len(nusc.sample) == cfg.num_scenes * cfg.samples_per_scene
    assert 'lidarseg' in nusc.table_names
    for table in nusc.table_names:
        for record in getattr(nusc, table):
            if table != 'visibility':
                assert TOKEN.match(record['token']), (table, record)
    for scene in nusc.scene:
        chain = [nusc.get('sample', scene['first_sample_token'])]
        while chain[-1]['next']:
            nxt = nusc.get('sample', chain[-1]['next'])
            assert nxt['prev'] == chain[-1]['token']
            chain.append(nxt)
        assert chain[-1]['token'] == scene['last_sample_token']
        assert len(chain) == scene['nbr_samples']
        # A keyframe's sweeps precede it and belong to its sample.
        sd = nusc.get('sample_data', chain[-1]['data']['LIDAR_TOP'])
        for _ in range(cfg.sweeps_per_sample):
            prev = nusc.get('sample_data', sd['prev'])
            assert not prev['is_key_frame']
            assert prev['sample_token'] == chain[-1]['token']
            assert prev['timestamp'] < sd['timestamp']
            assert osp.isfile(osp.join(nusc.dataroot, prev['filename']))
            sd = prev
    for instance in nusc.instance:
        ann = nusc.get('sample_annotation', instance['first_annotation_token'])
        count = 1
        while ann['next']:
            ann = nusc.get('sample_annotation', ann['next'])
            count += 1
        assert ann['token'] == instance['last_annotation_token']
        assert count == instance['nbr_annotations']


def test_map_masks_hold_the_roads_the_ego_drives_on(nusc):
    for scene in nusc.scene:
        log = nusc.get('log', scene['log_token'])
        mask = nusc.get('map', log['map_token'])['mask']
        sample = nusc.get('sample', scene['first_sample_token'])
        pose = nusc.get(
            'ego_pose',
            nusc.get('sample_data',
                     sample['data']['LIDAR_TOP'])['ego_pose_token'])
        x, y = pose['translation'][:2]
        assert mask.is_on_mask(x, y)
        assert not mask.is_on_mask(x + 300, y + 300)


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match='num_scenes=11'):
        SyntheticNuScenesConfig(num_scenes=11)
    with pytest.raises(ValueError, match='sweeps_per_sample'):
        SyntheticNuScenesConfig(sweeps_per_sample=10)
    with pytest.raises(ValueError, match='num_beams=0'):
        LidarConfig(num_beams=0)


def test_categories_are_the_nuscenes_lidarseg_vocabulary(nusc):
    # The devkit's colour map lists the 32 lidarseg classes in index order.
    assert list(get_colormap()) == [name for _, name, _ in LIDARSEG_CATEGORIES]
    assert nusc.lidarseg_name2idx_mapping['vehicle.car'] == 17
    assert nusc.lidarseg_name2idx_mapping['flat.driveable_surface'] == 24
    for spec in DETECTION_CLASSES:
        assert category_to_detection_name(spec.category) == spec.name


def test_boxes_enclose_their_points(nusc):
    checked = covered = labelled = 0
    for sample in nusc.sample:
        sd_token = sample['data']['LIDAR_TOP']
        path, boxes, _ = nusc.get_sample_data(sd_token)
        points = LidarPointCloud.from_file(path).points[:3]
        labels = np.fromfile(
            osp.join(nusc.dataroot,
                     nusc.get('lidarseg', sd_token)['filename']), np.uint8)
        inside_any = {}
        for box in boxes:
            ann = nusc.get('sample_annotation', box.token)
            mask = points_in_box(box, points)
            assert mask.sum() == ann['num_lidar_pts'], box
            index = nusc.lidarseg_name2idx_mapping[box.name]
            inside_any[index] = inside_any.get(index, 0) | mask
            checked += ann['num_lidar_pts'] > 0
        for index in DETECTION_LABELS:
            of_class = labels == index
            labelled += of_class.sum()
            if index in inside_any:
                covered += (inside_any[index] & of_class).sum()
    assert checked > 50
    # Every object point lies in a box of its class, but for range noise
    # pushing a few surface points over the 5 cm box margin.
    assert covered >= 0.995 * labelled


def test_annotation_velocities_are_the_simulated_ones(
        nusc, synthetic_nuscenes_config):
    cfg = synthetic_nuscenes_config
    scene = build_scene(1, cfg)
    yaw = scene.yaw
    rot = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    moving = 0
    for i, actor in enumerate(scene.actors):
        instance = nusc.get('instance', make_token('instance', cfg.seed, 1, i))
        velocity = nusc.box_velocity(instance['first_annotation_token'])
        np.testing.assert_allclose(
            velocity[:2], rot @ actor.velocity, atol=1e-6)
        ann = nusc.get('sample_annotation', instance['first_annotation_token'])
        attributes = [
            nusc.get('attribute', t)['name'] for t in ann['attribute_tokens']
        ]
        assert attributes == ([] if actor.attribute is None else
                              [actor.attribute])
        if np.linalg.norm(actor.velocity) > 0:
            moving += 1
            assert attributes[0] in ('vehicle.moving', 'pedestrian.moving',
                                     'cycle.with_rider')
        q = Quaternion(ann['rotation'])
        assert abs(q.yaw_pitch_roll[1]) < 1e-9
    assert moving > 5


def test_detection_eval_of_ground_truth_is_perfect(nusc, tmp_path):
    results = {}
    val_scenes = {s['token'] for s in nusc.scene if s['name'] in mini_val}
    for sample in nusc.sample:
        if sample['scene_token'] not in val_scenes:
            continue
        results[sample['token']] = []
        for token in sample['anns']:
            ann = nusc.get('sample_annotation', token)
            name = category_to_detection_name(ann['category_name'])
            if ann['num_lidar_pts'] == 0:
                continue  # the devkit drops GT boxes without points
            attrs = [
                nusc.get('attribute', t)['name']
                for t in ann['attribute_tokens']
            ]
            results[sample['token']].append(
                dict(
                    sample_token=sample['token'],
                    translation=ann['translation'],
                    size=ann['size'],
                    rotation=ann['rotation'],
                    velocity=list(nusc.box_velocity(token)[:2]),
                    detection_name=name,
                    detection_score=1.0,
                    attribute_name=attrs[0] if attrs else ''))
    result_path = str(tmp_path / 'results.json')
    meta = dict(
        use_camera=False,
        use_lidar=True,
        use_radar=False,
        use_map=False,
        use_external=False)
    with open(result_path, 'w') as f:
        json.dump(dict(meta=meta, results=results), f)
    evaluator = DetectionEval(
        nusc,
        config_factory('detection_cvpr_2019'),
        result_path,
        'mini_val',
        str(tmp_path),
        verbose=False)
    metrics, _ = evaluator.evaluate()
    summary = metrics.serialize()
    present = {
        name
        for boxes in evaluator.gt_boxes.boxes.values()
        for name in (b.detection_name for b in boxes)
    }
    assert len(present) == 10, present
    assert summary['mean_ap'] == pytest.approx(1.0)
    assert summary['nd_score'] == pytest.approx(1.0)
    for name, errors in summary['label_tp_errors'].items():
        for metric, value in errors.items():
            # Undefined terms are NaN by the devkit's design: orientation
            # of cones, velocity of cones/barriers, attributes of both.
            undefined = (name == 'traffic_cone'
                         and metric in ('orient_err', 'vel_err', 'attr_err')
                         ) or (name == 'barrier'
                               and metric in ('vel_err', 'attr_err'))
            if undefined:
                assert np.isnan(value), (name, metric)
            else:
                assert value == pytest.approx(0.0, abs=1e-6), (name, metric)


def test_lidarseg_labels_align_with_points(nusc):
    seen = Counter()
    for record in nusc.lidarseg:
        sd = nusc.get('sample_data', record['sample_data_token'])
        assert sd['is_key_frame']
        points = np.fromfile(
            osp.join(nusc.dataroot, sd['filename']),
            np.float32).reshape(-1, 5)
        labels = np.fromfile(
            osp.join(nusc.dataroot, record['filename']), np.uint8)
        assert labels.shape == (len(points), )
        assert set(np.unique(labels)) <= set(nusc.lidarseg_idx2name_mapping)
        seen.update(np.unique(labels).tolist())
    for name in ('flat.driveable_surface', 'flat.sidewalk', 'flat.terrain',
                 'static.manmade', 'static.vegetation', 'vehicle.car',
                 'human.pedestrian.adult', 'vehicle.ego'):
        assert seen[nusc.lidarseg_name2idx_mapping[name]] > 0, name
    assert len(nusc.lidarseg) == len(nusc.sample)


def test_mmdet3d_reads_converted_infos(synthetic_nuscenes_infos,
                                       synthetic_nuscenes_config):
    from mmdet3d.datasets import NuScenesDataset
    from mmdet3d.registry import TRANSFORMS
    from mmdet3d.utils import register_all_modules
    register_all_modules()
    root = synthetic_nuscenes_infos
    cfg = synthetic_nuscenes_config
    pipeline = [
        dict(
            type='LoadPointsFromFile',
            coord_type='LIDAR',
            load_dim=5,
            use_dim=5),
        dict(
            type='LoadPointsFromMultiSweeps',
            sweeps_num=2,
            load_dim=5,
            use_dim=5,
            remove_close=True),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(
            type='Pack3DDetInputs',
            keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']),
    ]
    load_mask = TRANSFORMS.build(
        dict(
            type='LoadAnnotations3D',
            with_bbox_3d=False,
            with_label_3d=False,
            with_seg_3d=True,
            seg_3d_dtype='np.uint8'))
    classes = [spec.name for spec in DETECTION_CLASSES]
    for split in ('train', 'val'):
        dataset = NuScenesDataset(
            data_root=root,
            ann_file=f'nuscenes_infos_{split}.pkl',
            pipeline=pipeline,
            metainfo=dict(classes=classes),
            modality=dict(use_lidar=True, use_camera=False),
            data_prefix=dict(
                pts='samples/LIDAR_TOP', img='', sweeps='sweeps/LIDAR_TOP'),
            test_mode=False)
        assert len(dataset) == cfg.samples_per_scene
        for index in (0, len(dataset) - 1):
            item = dataset[index]
            info = dataset.get_data_info(index)
            key_points = np.fromfile(info['lidar_points']['lidar_path'],
                                     np.float32).reshape(-1, 5)
            points = item['inputs']['points'].numpy()
            assert points.shape[1] == 5
            # Keyframe points first, then the sweeps' (none before the
            # first keyframe of a scene).
            np.testing.assert_allclose(points[:len(key_points), :4],
                                       key_points[:, :4])
            num_sweeps = len(info.get('lidar_sweeps', []))
            assert num_sweeps == (cfg.sweeps_per_sample if index else 0)
            assert (len(points) > len(key_points)) == (num_sweeps > 0)
            gt = item['data_samples'].gt_instances_3d
            assert len(gt.labels_3d) == len(gt.bboxes_3d) > 0
            assert gt.labels_3d.min() >= 0
            assert gt.labels_3d.max() < len(classes)
            # The lidarseg mask path (basename) of the converted info.
            mask_path = osp.join(root, 'lidarseg', 'v1.0-mini',
                                 info['pts_semantic_mask_path'])
            mask = load_mask(
                dict(
                    pts_semantic_mask_path=mask_path,
                    seg_label_mapping=np.arange(32)))
            assert mask['pts_semantic_mask'].shape == (len(key_points), )
    assert osp.isfile(osp.join(root, 'nuscenes_dbinfos_train.pkl'))


def test_generation_is_deterministic(tmp_path):
    cfg = SyntheticNuScenesConfig(
        seed=11,
        num_scenes=1,
        samples_per_scene=1,
        objects_per_scene=20,
        lidar=LidarConfig(num_beams=8, azimuth_steps=128))
    files = []
    for run in ('a', 'b'):
        generate_synthetic_nuscenes(str(tmp_path / run), cfg)
        listing = sorted(
            osp.relpath(osp.join(d, f), tmp_path / run)
            for d, _, names in os.walk(tmp_path / run) for f in names)
        files.append(
            {rel: open(tmp_path / run / rel, 'rb').read()
             for rel in listing})
    assert files[0] == files[1]


def _ring_elevations(cloud: np.ndarray) -> np.ndarray:
    """(32,) median elevation (degrees) of each ring's points beyond 1 m
    of an (N, 5) lidar-frame cloud (real files hold placeholder points
    near the sensor for rays without return)."""
    far = cloud[np.linalg.norm(cloud[:, :3], axis=1) > 1]
    elevation = np.degrees(
        np.arctan2(far[:, 2], np.linalg.norm(far[:, :2], axis=1)))
    return np.array(
        [np.median(elevation[far[:, 4] == ring]) for ring in range(32)])


def _range_histogram(cloud: np.ndarray) -> np.ndarray:
    """Fractions of the points beyond 1 m per range bin (m)."""
    bins = [1, 2, 5, 10, 20, 30, 50, 100]
    hist = np.histogram(np.linalg.norm(cloud[:, :3], axis=1), bins)[0]
    return hist / hist.sum()


def test_real_keyframe_matches_generated_format(tmp_path):
    real_dir = osp.join(REPO_ROOT, '..', 'shared', 'data', 'nuscenes_demo')
    if not osp.isdir(real_dir):
        pytest.skip(f'no real nuScenes keyframe at {real_dir} (the '
                    "repository's ../shared folder is absent)")
    real_file, = [f for f in os.listdir(real_dir) if f.endswith('.pcd.bin')]
    real = np.fromfile(osp.join(real_dir, real_file),
                       np.float32).reshape(-1, 5)
    generate_synthetic_nuscenes(
        str(tmp_path),
        SyntheticNuScenesConfig(num_scenes=1, samples_per_scene=1))
    synth_dir = tmp_path / 'samples' / 'LIDAR_TOP'
    synth_file, = os.listdir(synth_dir)
    raw = np.fromfile(synth_dir / synth_file, np.float32)
    assert raw.dtype == real.dtype and raw.size % 5 == 0
    synth = raw.reshape(-1, 5)
    for cloud in (real, synth):
        # Column 3: integer intensity 0..255; column 4: ring 0..31.
        assert np.all(cloud[:, 3] == np.round(cloud[:, 3]))
        assert cloud[:, 3].min() >= 0 and cloud[:, 3].max() <= 255
        assert set(np.unique(cloud[:, 4])) == set(range(32))
        assert np.linalg.norm(cloud[:, :3], axis=1).max() < 105
    # Same beam layout: ring 0 lowest, matching elevations.
    np.testing.assert_allclose(
        _ring_elevations(synth), _ring_elevations(real), atol=0.6)
    # Real files keep every (ring, column) slot: rays without return
    # become placeholder points within 1 m of the sensor (displaced by
    # ego-motion compensation); synthetic files drop those rays.
    assert 0.8 < len(synth) / len(real) <= 1.0
    # Beyond 1 m the range distributions agree to a total variation
    # distance of ~0.14 (0.07 for the mean of 20 synthetic keyframes).
    total_variation = 0.5 * np.abs(
        _range_histogram(real) - _range_histogram(synth)).sum()
    assert total_variation < 0.2, (_range_histogram(real),
                                   _range_histogram(synth))
