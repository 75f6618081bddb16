# Copyright (c) OpenMMLab. All rights reserved.
"""Tests of the DOS view pipeline on synthetic arrays and a real frame."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import DepthPoints, LiDARPoints
from mmengine.config import Config

from projects.DOS.dos.datasets.transforms import (DOSMultiViewAug, GridSample,
                                                  PackDOSInputs,
                                                  RandomColorJitter,
                                                  RandomIntensityJitter,
                                                  compute_grid_coord)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUS_DEMO = osp.join(
    REPO, '..', 'shared', 'data', 'nuscenes_demo',
    'n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin')
NUS_BASE = osp.join(REPO, 'configs', '_base_', 'datasets',
                    'nus_dos_pretrain.py')


def _cloud(num: int = 20000, seed: int = 0) -> LiDARPoints:
    """A synthetic LiDAR-like scan: (x, y, z, intensity in [0, 255])."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-30, -30, -2], [30, 30, 2], size=(num, 3))
    intensity = rng.uniform(0, 255, size=(num, 1))
    return LiDARPoints(
        np.concatenate([xyz, intensity], 1).astype(np.float32), points_dim=4)


def _view_transforms() -> list:
    return Config.fromfile(NUS_BASE).view_transforms


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> tuple:
    """Least-squares dst ~ src @ A + t; returns (A, max residual)."""
    design = np.concatenate([src, np.ones((src.shape[0], 1))], 1)
    solution = np.linalg.lstsq(design, dst, rcond=None)[0]
    residual = np.abs(design @ solution - dst).max()
    return solution[:3], residual


@pytest.mark.parametrize('mode', ['train', 'test'])
def test_grid_sample_keeps_one_point_per_voxel(mode):
    points = _cloud()
    coord = points.coord.numpy()
    np.random.seed(0)
    kept = GridSample(0.5, mode=mode).sample_indices(coord)
    assert np.all(np.diff(kept) > 0)
    voxels = compute_grid_coord(coord, 0.5)
    kept_keys = {tuple(v) for v in voxels[kept]}
    assert len(kept_keys) == kept.shape[0]  # one point per voxel
    assert kept_keys == {tuple(v) for v in voxels}  # every voxel kept
    if mode == 'test':
        first = {}
        for i, v in enumerate(map(tuple, voxels)):
            first.setdefault(v, i)
        assert sorted(first.values()) == kept.tolist()


def test_grid_sample_train_is_random_and_subsets_points():
    points = _cloud()
    np.random.seed(0)
    a = GridSample(0.5).transform(dict(points=points.clone()))['points']
    np.random.seed(1)
    b = GridSample(0.5).transform(dict(points=points.clone()))['points']
    assert len(a) == len(b)
    assert not torch.equal(a.tensor, b.tensor)
    rows = {tuple(r) for r in points.tensor.tolist()}
    assert all(tuple(r) in rows for r in a.tensor.tolist())


def test_views_without_augmentation_map_back_exactly():
    points = _cloud()
    np.random.seed(0)
    results = DOSMultiViewAug(
        view_transforms=[], grid_size=0.05).transform(dict(points=points))
    for view in results['views']:
        ids = view['point_id']
        assert np.all(np.diff(ids) > 0)
        assert 0.35 * len(points) <= ids.shape[0] <= len(points)
        assert torch.equal(view['points'].tensor, points.tensor[ids])
    ids0, ids1 = (v['point_id'] for v in results['views'])
    assert np.intersect1d(ids0, ids1).size > 0


def test_crops_are_nearest_neighbour_balls():
    coord = _cloud().coord.numpy()
    centre = coord[17]
    inside = DOSMultiViewAug.nearest_points(coord, centre, 5000)
    assert inside.shape[0] == 5000 and 17 in inside
    outside = np.setdiff1d(np.arange(coord.shape[0]), inside)
    dist = np.linalg.norm(coord - centre, axis=1)
    assert dist[inside].max() <= dist[outside].min()
    np.random.seed(3)
    crop = DOSMultiViewAug(
        view_transforms=[], grid_size=0.05, crop_scale=(0.4, 0.4))
    first, second = crop.crop_indices(coord)
    assert first.shape[0] == second.shape[0] == int(0.4 * coord.shape[0])
    assert np.intersect1d(first, second).size > 0


def test_views_augmented_independently_and_ids_map_back():
    points = _cloud()
    np.random.seed(0)
    aug = DOSMultiViewAug(view_transforms=_view_transforms(), grid_size=0.05)
    results = aug.transform(dict(points=points.clone()))
    original = points.tensor.numpy()
    linear_parts = []
    for view in results['views']:
        ids = view['point_id']
        aug_xyz = view['points'].coord.numpy()
        linear, residual = _fit_affine(original[ids, :3], aug_xyz)
        # rotation * scale * flips up to the jitter (<= 0.02 m per axis)
        assert residual <= 0.021
        singular = np.linalg.svd(linear, compute_uv=False)
        assert np.all((singular > 0.9 - 1e-3) & (singular < 1.1 + 1e-3))
        linear_parts.append(linear)
        intensity = view['points'].tensor[:, 3].numpy()
        assert intensity.min() >= 0 and intensity.max() <= 255
    assert not np.allclose(linear_parts[0], linear_parts[1], atol=1e-3)
    assert results['views'][0]['mask_seed'] != results['views'][1]['mask_seed']


def test_pack_computes_grid_coord_and_features_per_view():
    points = _cloud()
    np.random.seed(0)
    results = DOSMultiViewAug(
        view_transforms=_view_transforms(),
        grid_size=0.05).transform(dict(points=points))
    packed = PackDOSInputs(attribute_scale=1 / 255.)(results)
    inputs = packed['inputs']
    sizes = inputs['view_size'].tolist()
    assert sum(sizes) == inputs['coord'].shape[0] == inputs['feat'].shape[0]
    assert inputs['feat'].shape[1] == 4
    assert inputs['grid_coord'].dtype == torch.int64
    assert inputs['point_id'].dtype == torch.int64
    start = 0
    for view, size in zip(results['views'], sizes):
        rows = slice(start, start + size)
        coord = inputs['coord'][rows].double()
        grid = inputs['grid_coord'][rows]
        assert torch.equal(grid.min(0).values, torch.zeros(3).long())
        assert torch.unique(grid, dim=0).shape[0] == size  # one row per voxel
        # grid = floor((coord - anchor) / 0.05) for one anchor per view:
        # coord - 0.05 * grid lies in a box of edge 0.05 at the anchor
        anchor_offset = coord - 0.05 * grid
        spread = anchor_offset.max(0).values - anchor_offset.min(0).values
        assert torch.all(spread < 0.05 + 1e-5)
        assert torch.equal(inputs['feat'][rows, :3], inputs['coord'][rows])
        assert torch.allclose(inputs['feat'][rows, 3],
                              view['points'].tensor[:, 3] / 255.)
        assert torch.equal(inputs['point_id'][rows],
                           torch.from_numpy(view['point_id']))
        start += size
    meta = packed['data_samples'].metainfo
    assert meta['num_points'] == len(points)
    assert len(meta['view_meta']) == 2
    assert 'pcd_rotation' in meta['view_meta'][0]


def test_degenerate_frame_is_skipped():
    tiny = LiDARPoints(
        np.random.default_rng(0).uniform(0, 0.5, (500, 4)).astype(np.float32),
        points_dim=4)
    aug = DOSMultiViewAug(
        view_transforms=[], grid_size=0.05, mask_block_size=1.0)
    np.random.seed(0)
    assert aug.transform(dict(points=tiny)) is None
    assert aug.num_skipped_frames == 1


@pytest.mark.parametrize('kwargs', [
    dict(crop_scale=(0.0, 1.0)),
    dict(crop_scale=(0.5, 1.5)),
    dict(num_views=0),
    dict(mask_block_size=0.),
    dict(min_view_points=2),
    dict(grid_size=0.),
])
def test_view_settings_rejected(kwargs):
    with pytest.raises(ValueError, match='DOSMultiViewAug'):
        DOSMultiViewAug(**{'view_transforms': [], 'grid_size': 0.05, **kwargs})


@pytest.mark.skipif(
    not osp.exists(NUS_DEMO),
    reason='real nuScenes sample absent (../shared/data/nuscenes_demo)')
def test_real_nuscenes_frame_through_config_pipeline():
    cfg = Config.fromfile(NUS_BASE)
    pipeline = [TRANSFORMS.build(t) for t in cfg.train_pipeline]
    raw = np.fromfile(NUS_DEMO, dtype=np.float32).reshape(-1, 5)
    np.random.seed(0)
    results = dict(lidar_points=dict(lidar_path=NUS_DEMO))
    for transform in pipeline[:2]:
        results = transform(results)
    grid_sampled = results['points'].tensor.numpy().copy()
    # every grid-sampled point is a raw point (x, y, z, intensity)
    raw_rows = {tuple(r) for r in raw[:, :4].tolist()}
    assert all(tuple(r) in raw_rows for r in grid_sampled[:200].tolist())
    assert 20000 < grid_sampled.shape[0] < raw.shape[0]
    for transform in pipeline[2:]:
        results = transform(results)
    inputs = results['inputs']
    sizes = inputs['view_size'].tolist()
    assert len(sizes) == 2 and sum(sizes) == inputs['coord'].shape[0]
    assert inputs['feat'].shape[1] == 4
    assert float(inputs['feat'][:, 3].max()) <= 1.0
    ids = inputs['point_id'].split(sizes)
    shared = np.intersect1d(ids[0].numpy(), ids[1].numpy())
    assert shared.size > 0
    # the same id in both views is the same original point: the view
    # coordinates relate to it through each view's own affine map
    for view_ids, view_coord in zip(ids, inputs['coord'].split(sizes)):
        _, residual = _fit_affine(grid_sampled[view_ids.numpy(), :3],
                                  view_coord.numpy())
        assert residual <= 0.021


def test_photometric_jitter_per_view():
    points = _cloud()
    np.random.seed(0)
    results = DOSMultiViewAug(
        view_transforms=[
            dict(type='RandomIntensityJitter', max_value=255., prob=1.)
        ],
        grid_size=0.05).transform(dict(points=points))
    views = results['views']
    shared, in0, in1 = np.intersect1d(
        views[0]['point_id'], views[1]['point_id'], return_indices=True)
    assert shared.size > 0
    intensity0 = views[0]['points'].tensor[in0, 3]
    intensity1 = views[1]['points'].tensor[in1, 3]
    original = points.tensor[shared, 3]
    assert not torch.allclose(intensity0, intensity1)
    for jittered in (intensity0, intensity1):
        assert not torch.allclose(jittered, original)
        assert jittered.min() >= 0 and jittered.max() <= 255
    # coordinates are untouched by a photometric transform
    assert torch.equal(views[0]['points'].coord[in0], points.coord[shared])


def test_color_jitter_on_rgb_points():
    rng = np.random.default_rng(0)
    data = np.concatenate(
        [rng.uniform(0, 5, (500, 3)),
         rng.uniform(0, 255, (500, 3))], 1).astype(np.float32)
    points = DepthPoints(
        data.copy(), points_dim=6, attribute_dims=dict(color=[3, 4, 5]))
    np.random.seed(0)
    jitter = RandomColorJitter(prob=1., translate_prob=1.)
    color = jitter.transform(dict(points=points))['points'].color
    assert not torch.allclose(color, torch.from_numpy(data[:, 3:]))
    assert color.min() >= 0 and color.max() <= 255
    assert torch.equal(points.coord, torch.from_numpy(data[:, :3]))
    with pytest.raises(ValueError, match='color attribute'):
        jitter.transform(dict(points=_cloud()))


@pytest.mark.parametrize('transform, kwargs', [
    (RandomIntensityJitter, dict(max_value=0.)),
    (RandomIntensityJitter, dict(gain_range=(1.1, 0.9))),
    (RandomIntensityJitter, dict(prob=2.)),
    (RandomColorJitter, dict(brightness=1.5)),
])
def test_photometric_settings_rejected(transform, kwargs):
    with pytest.raises(ValueError, match=transform.__name__):
        transform(**kwargs)
