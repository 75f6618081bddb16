# Copyright (c) OpenMMLab. All rights reserved.
"""NuScenesLidarSegDataset: raw lidarseg ids -> the 16 benchmark classes."""
import os.path as osp
from pathlib import Path
from types import SimpleNamespace

import mmengine
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from nuscenes.eval.lidarseg.utils import LidarsegClassMapper

import projects.DOS.dos  # noqa: F401  (registers the dataset)
from projects.DOS.dos.datasets import (NUSCENES_LIDARSEG_CLASSES,
                                       NuScenesLidarSegDataset)
from projects.DOS.dos.datasets.synthetic_nuscenes import LIDARSEG_INDEX

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO_ROOT / 'configs' / '_base_' / 'datasets' / 'nus_lidarseg.py'
IGNORE = 16


def devkit_label_map() -> np.ndarray:
    """Raw id -> class via the devkit's challenge mapping, ignore last.

    The devkit numbers the coarse classes 1..16 with 0 = ignore; the
    dataset's convention is 0..15 with 16 = ignore.
    """
    nusc = SimpleNamespace(lidarseg_name2idx_mapping=LIDARSEG_INDEX)
    coarse = LidarsegClassMapper(nusc).get_fine_idx_2_coarse_idx()
    expected = np.full(32, IGNORE, dtype=np.int64)
    for raw_id, coarse_id in coarse.items():
        if coarse_id > 0:
            expected[raw_id] = coarse_id - 1
    return expected


def write_frame(root: Path, raw_labels: np.ndarray) -> None:
    """One keyframe in the converter's layout: points, lidarseg, info pkl."""
    rng = np.random.default_rng(0)
    num_points = raw_labels.shape[0]
    points = rng.uniform(-10, 10, (num_points, 5)).astype(np.float32)
    (root / 'samples' / 'LIDAR_TOP').mkdir(parents=True)
    (root / 'lidarseg' / 'v1.0-mini').mkdir(parents=True)
    points.tofile(root / 'samples' / 'LIDAR_TOP' / 'frame.pcd.bin')
    raw_labels.astype(np.uint8).tofile(root / 'lidarseg' / 'v1.0-mini' /
                                       'sd_lidarseg.bin')
    mmengine.dump(
        dict(
            metainfo=dict(dataset='nuscenes', version='v1.0-mini'),
            data_list=[
                dict(
                    sample_idx=0,
                    token='sample0',
                    lidar_points=dict(
                        lidar_path='frame.pcd.bin', num_pts_feats=5),
                    pts_semantic_mask_path='sd_lidarseg.bin')
            ]), str(root / 'infos.pkl'))


def build_dataset(root: Path, test_mode: bool) -> NuScenesLidarSegDataset:
    """The dataset with the base config's test pipeline."""
    cfg = Config.fromfile(str(BASE_CONFIG))
    return NuScenesLidarSegDataset(
        data_root=str(root),
        ann_file='infos.pkl',
        metainfo=dict(classes=cfg.class_names),
        data_prefix=dict(
            pts='samples/LIDAR_TOP',
            img='',
            pts_semantic_mask='lidarseg/v1.0-mini'),
        pipeline=cfg.test_pipeline,
        ignore_index=cfg.ignore_index,
        test_mode=test_mode)


def test_label_mapping_matches_nuscenes_devkit() -> None:
    dataset = NuScenesLidarSegDataset(lazy_init=True)
    np.testing.assert_array_equal(dataset.seg_label_mapping,
                                  devkit_label_map())
    assert dataset.metainfo['ignore_index'] == IGNORE
    assert tuple(dataset.metainfo['label2cat'].values()) == \
        NUSCENES_LIDARSEG_CLASSES


@pytest.mark.parametrize('test_mode', [False, True])
def test_pipeline_maps_every_raw_id(tmp_path: Path, test_mode: bool) -> None:
    init_default_scope('mmdet3d')
    raw_labels = np.concatenate([np.arange(32), np.arange(32)[::-1]])
    write_frame(tmp_path, raw_labels)
    dataset = build_dataset(tmp_path, test_mode)
    sample = dataset[0]
    expected = devkit_label_map()[raw_labels]
    points = sample['inputs']['points']
    assert tuple(points.shape) == (raw_labels.shape[0], 4)
    mask = np.asarray(sample['data_samples'].gt_pts_seg.pts_semantic_mask)
    np.testing.assert_array_equal(mask, expected)
    if test_mode:
        np.testing.assert_array_equal(
            sample['data_samples'].eval_ann_info['pts_semantic_mask'],
            expected)
    assert osp.basename(dataset.get_data_info(0)['pts_semantic_mask_path']) \
        == 'sd_lidarseg.bin'


def test_config_mapping_override() -> None:
    dataset = NuScenesLidarSegDataset(
        metainfo=dict(seg_label_mapping={17: 3}, max_label=20), lazy_init=True)
    expected = np.full(21, IGNORE)
    expected[17] = 3
    np.testing.assert_array_equal(dataset.seg_label_mapping, expected)


@pytest.mark.parametrize('mapping, match', [({
    40: 3
}, 'raw id 40'), ({
    17: 20
}, 'maps raw id 17')])
def test_bad_mapping_is_rejected(mapping: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NuScenesLidarSegDataset(
            metainfo=dict(seg_label_mapping=mapping), lazy_init=True)
