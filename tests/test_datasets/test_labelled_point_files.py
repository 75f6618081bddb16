# Copyright (c) OpenMMLab. All rights reserved.
"""LabelledPointFileDataset + LoadPointLabelsFromFile: a user's labelled
scans as files (points .bin/.npy, labels .label/.npy)."""
from pathlib import Path

import numpy as np
import pytest
from mmdet3d.registry import DATASETS, TRANSFORMS
from mmengine.registry import DefaultScope

import projects.DOS.dos  # noqa: F401  (registers the dataset/transforms)
from projects.DOS.dos.datasets.transforms import BadPointCloudError


def write_labelled(points_path: Path,
                   label_path: Path,
                   raw: np.ndarray,
                   seed: int = 0) -> np.ndarray:
    """Write len(raw) float32 (x, y, z, intensity) points and their raw
    labels; ``.npy`` or ``.bin`` / uint32 ``.label`` (instance id in the
    upper 16 bits) by suffix. Returns the points."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-5, 5, (len(raw), 4)).astype(np.float32)
    for path in (points_path, label_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    if points_path.suffix == '.npy':
        np.save(points_path, points)
    else:
        points.tofile(points_path)
    if label_path.suffix == '.npy':
        np.save(label_path, raw.astype(np.int32))
    else:
        instance = np.arange(len(raw), dtype=np.uint32) << 16
        (raw.astype(np.uint32) | instance).tofile(label_path)
    return points


@pytest.fixture(autouse=True)
def mmdet3d_scope():
    """Build the pipelines' transforms from mmdet3d's registry."""
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        yield


def pipeline(ignore_index, label_mapping=None, load_dim=4):
    return [
        dict(
            type='LoadPointLabelsFromFile',
            ignore_index=ignore_index,
            label_mapping=label_mapping),
        dict(
            type='LoadPointsFromFileChecked',
            coord_type='LIDAR',
            load_dim=load_dim,
            use_dim=4,
            skip_bad_frames=False),
    ]


def test_kitti_layout_pairs_bin_with_label_and_maps_raw_ids(tmp_path):
    raw = np.array([40, 10, 10, 99, 40, 48, 0] * 10)
    velodyne = tmp_path / 'sequences' / '00' / 'velodyne'
    points = write_labelled(velodyne / '000001.bin',
                            tmp_path / 'sequences/00/labels/000001.label', raw)
    dataset = DATASETS.build(
        dict(
            type='LabelledPointFileDataset',
            data_root=str(tmp_path),
            pattern='sequences/*/velodyne/*.bin',
            metainfo=dict(classes=['road', 'car', 'sidewalk']),
            # road and parking (40, 44) merged; 99 and 0 not listed
            pipeline=pipeline(3, {
                40: 0,
                44: 0,
                10: 1,
                48: 2
            })))
    assert len(dataset) == 1
    assert dataset.metainfo['classes'] == ['road', 'car', 'sidewalk']
    sample = dataset[0]
    assert sample['pts_semantic_mask'].tolist() == [0, 1, 1, 3, 0, 2, 3] * 10
    np.testing.assert_array_equal(sample['points'].tensor.numpy(), points)


def test_npy_points_and_labels_in_one_folder_identity_labels(tmp_path):
    raw = np.array([0, 1, 2, 5, -1] * 20)
    write_labelled(tmp_path / 'scan.npy', tmp_path / 'scan.labels.npy', raw)
    (tmp_path / 'list.txt').write_text('scan.npy\n')
    dataset = DATASETS.build(
        dict(
            type='LabelledPointFileDataset',
            data_root=str(tmp_path),
            file_list='list.txt',
            label_template='{dir}/{name}.labels.npy',
            pipeline=pipeline(3)))
    # ids outside [0, 3) become the ignore index 3
    assert dataset[0]['pts_semantic_mask'].tolist() == [0, 1, 2, 3, 3] * 20


def test_labels_follow_the_rows_the_loader_drops(tmp_path):
    raw = np.arange(100) % 3
    points = write_labelled(tmp_path / 'a.npy', tmp_path / 'a.labels.npy', raw)
    points[[4, 50], 1] = np.nan
    np.save(tmp_path / 'a.npy', points)
    transforms = [TRANSFORMS.build(t) for t in pipeline(3)]
    results = dict(
        lidar_points=dict(lidar_path=str(tmp_path / 'a.npy')),
        pts_semantic_mask_path=str(tmp_path / 'a.labels.npy'))
    for t in transforms:
        results = t(results)
    keep = np.ones(100, bool)
    keep[[4, 50]] = False
    assert len(results['points']) == 98
    np.testing.assert_array_equal(results['pts_semantic_mask'], raw[keep])


def test_bad_label_files_are_named(tmp_path):
    write_labelled(tmp_path / 'a.bin', tmp_path / 'a.label', np.zeros(60))
    write_labelled(tmp_path / 'b.bin', tmp_path / 'b.label', np.zeros(60))
    np.zeros(59, np.uint32).tofile(tmp_path / 'b.label')  # one label short
    (tmp_path / 'c.label').write_bytes(b'\0' * 7)
    np.save(tmp_path / 'd.npy', np.zeros((3, 2)))
    load_labels, load_points = [TRANSFORMS.build(t) for t in pipeline(3)]
    with pytest.raises(BadPointCloudError, match='60 points but 59 labels'):
        load_points(
            load_labels(
                dict(
                    lidar_points=dict(lidar_path=str(tmp_path / 'b.bin')),
                    pts_semantic_mask_path=str(tmp_path / 'b.label'))))
    for name, message in (('c.label', 'c.label: size 7 bytes'),
                          ('d.npy', 'd.npy: labels must be a 1-D integer'),
                          ('missing.label', 'not found: .*missing.label')):
        with pytest.raises((BadPointCloudError, FileNotFoundError),
                           match=message):
            load_labels(dict(pts_semantic_mask_path=str(tmp_path / name)))
    with pytest.raises(
            BadPointCloudError,
            match=r'd.npy: .npy array of '
            r'shape \(3, 2\), expected'):
        load_points(
            dict(lidar_points=dict(lidar_path=str(tmp_path / 'd.npy'))))
    with pytest.raises(ValueError, match='outside'):
        TRANSFORMS.build(pipeline(3, {1: 7})[0])
    for template, error, message in (('{dir}/labels/{name}.label',
                                      FileNotFoundError, 'no label file'),
                                     ('{folder}/{name}.label', KeyError,
                                      '{dir}, {name} and {root}')):
        with pytest.raises(error, match=message):
            DATASETS.build(
                dict(
                    type='LabelledPointFileDataset',
                    data_root=str(tmp_path),
                    pattern='*.bin',
                    label_template=template))


def test_real_semantickitti_format_scan(shared_data):
    sequence = shared_data / 'semantickitti_format' / 'sequences' / '00'
    dataset = DATASETS.build(
        dict(
            type='LabelledPointFileDataset',
            data_root=str(sequence),
            pattern='velodyne/*.bin',
            pipeline=pipeline(34)))  # RELLIS-3D ids are < 34
    sample = dataset[0]
    assert len(sample['points']) == 131072
    raw = np.fromfile(sequence / 'labels' / '000104.label', np.uint32)
    np.testing.assert_array_equal(sample['pts_semantic_mask'], raw & 0xFFFF)
    assert set(np.unique(
        sample['pts_semantic_mask'])) <= {0, 3, 4, 17, 18, 19, 23, 31, 33}
