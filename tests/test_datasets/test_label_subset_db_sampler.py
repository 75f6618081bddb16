# Copyright (c) OpenMMLab. All rights reserved.
"""LabelSubsetDataBaseSampler: rare classes absent from a subset database."""
import pickle

import numpy as np
import pytest

from projects.DOS.dos.datasets.transforms import LabelSubsetDataBaseSampler


def write_database(tmp_path, db_infos: dict) -> str:
    """Write ``db_infos`` (and 20-point clouds for it) under ``tmp_path``."""
    rng = np.random.RandomState(0)
    for infos in db_infos.values():
        for info in infos:
            rng.rand(20, 4).astype(np.float32).tofile(tmp_path / info['path'])
    path = tmp_path / 'dbinfos.pkl'
    with open(path, 'wb') as f:
        pickle.dump(db_infos, f)
    return str(path)


def car_info(index: int, x: float) -> dict:
    """Database info of one car with 20 points."""
    return dict(
        name='car',
        path=f'car_{index}.bin',
        box3d_lidar=np.array([x, 5., 0., 4., 2., 1.5, 0.]),
        num_points_in_gt=20,
        difficulty=0,
        group_id=index,
        gt_idx=0,
        image_idx=index)


@pytest.mark.parametrize('database', ['class missing', 'class empty'])
def test_rare_class_absent_from_subset_database(tmp_path, database):
    from mmdet3d.datasets.transforms.dbsampler import DataBaseSampler
    db_infos = dict(car=[car_info(0, 5.), car_info(1, 15.)])
    if database == 'class empty':
        db_infos['trailer'] = []
    cfg = dict(
        info_path=write_database(tmp_path, db_infos),
        data_root=str(tmp_path),
        rate=1.0,
        prepare=dict(filter_by_min_points=dict(car=5, trailer=5)),
        sample_groups=dict(car=2, trailer=2),
        classes=['car', 'trailer'])

    # the stock sampler cannot serve such a database
    with pytest.raises((KeyError, ValueError)):
        DataBaseSampler(**cfg).sample_all(
            gt_bboxes=np.zeros((0, 7)), gt_labels=np.zeros(0, np.int64))

    sampled = LabelSubsetDataBaseSampler(**cfg).sample_all(
        gt_bboxes=np.zeros((0, 7)), gt_labels=np.zeros(0, np.int64))
    assert sorted(sampled['gt_labels_3d'].tolist()) == [0, 0]
    assert len(sampled['points']) == 40
