# Copyright (c) OpenMMLab. All rights reserved.
"""Ray-primitive intersections, the lidar model and object shapes of the
synthetic nuScenes generator."""
from collections import Counter

import numpy as np
import pytest

from projects.DOS.dos.datasets import synthetic_nuscenes as synth
from projects.DOS.dos.datasets.synthetic_nuscenes.actors import class_counts
from projects.DOS.dos.datasets.synthetic_nuscenes.primitives import (
    BOX, CYLINDER_Y, CYLINDER_Z, ELLIPSOID)


def _single(kind: int, center, size, yaw: float = 0.0) -> synth.PrimitiveSet:
    return synth.PrimitiveSet(
        np.array([kind], np.int8), np.array([center], float),
        np.array([size], float), np.array([yaw]), np.array([10.0]),
        np.array([28], np.uint8), np.zeros(1, np.int64))


@pytest.mark.parametrize(
    'kind, size, yaw, expected',
    [
        (BOX, (1.0, 2.0, 3.0), 0.0, 9.0),
        (BOX, (1.0, 2.0, 3.0), np.pi / 2, 8.0),  # rotated: the 2 m half side
        (CYLINDER_Z, (0.5, 0.5, 1.0), 0.0, 9.5),
        (CYLINDER_Y, (0.5, 2.0, 0.5), 0.0, 9.5),
        (CYLINDER_Y, (0.5, 2.0, 0.5), np.pi / 2, 8.0),  # hits the flat face
        (ELLIPSOID, (2.0, 1.0, 1.0), 0.0, 8.0),
        (ELLIPSOID, (2.0, 1.0, 1.0), np.pi / 2, 9.0),
    ])
def test_ray_hits_primitive_at_analytic_distance(kind, size, yaw, expected):
    prims = _single(kind, (10.0, 0.0, 0.0), size, yaw)
    dirs = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    t, normal = synth.intersect_pairs(prims, np.zeros(3), dirs,
                                      np.array([0, 1]), np.array([0, 0]))
    assert t[0] == pytest.approx(expected)
    np.testing.assert_allclose(normal[0], [-1.0, 0.0, 0.0], atol=1e-9)
    assert np.isinf(t[1])  # pointing away


def test_cylinder_cap_and_box_miss():
    cyl = _single(CYLINDER_Z, (0.0, 0.0, -5.0), (1.0, 1.0, 1.0))
    t, normal = synth.intersect_pairs(cyl, np.zeros(3), np.array([[0, 0,
                                                                   -1.0]]),
                                      np.array([0]), np.array([0]))
    assert t[0] == pytest.approx(4.0)
    np.testing.assert_allclose(normal[0], [0, 0, 1.0])
    box = _single(BOX, (10.0, 3.0, 0.0), (1.0, 1.0, 1.0))
    t, _ = synth.intersect_pairs(box, np.zeros(3), np.array([[1.0, 0, 0]]),
                                 np.array([0]), np.array([0]))
    assert np.isinf(t[0])


def test_lidar_culling_matches_brute_force():
    """With noise and dropouts off, every point is the nearest exact hit
    among all primitives and the ground (the angular culling loses
    nothing)."""
    rng = np.random.default_rng(0)
    n = 40
    prims = synth.PrimitiveSet(
        kind=rng.integers(0, 4, n).astype(np.int8),
        center=np.c_[rng.uniform(-30, 30, (n, 2)),
                     rng.uniform(0.5, 3, n)],
        size=rng.uniform(0.2, 2.0, (n, 3)),
        yaw=rng.uniform(-3, 3, n),
        reflectivity=np.full(n, 50.0),
        label=np.full(n, 28, np.uint8),
        group=np.arange(n) // 2)
    cfg = synth.LidarConfig(
        num_beams=16,
        azimuth_steps=180,
        range_noise_std=0.0,
        dropout_prob=0.0,
        detection_scale=1e-12,
        max_range=200.0)
    sim = synth.LidarSimulator(cfg)
    layout = synth.RoadLayout.sample(rng, 100.0)
    pose = np.eye(4)
    pose[2, 3] = 1.8
    sweep = sim.scan(prims, n // 2, layout, pose, rng)

    dirs, ring = cfg.ray_directions()
    rays = np.repeat(np.arange(len(dirs)), n)
    t, _ = synth.intersect_pairs(prims, pose[:3, 3], dirs, rays,
                                 np.tile(np.arange(n), len(dirs)))
    t = t.reshape(len(dirs), n)
    nearest = t.min(axis=1)
    nearest_group = prims.group[t.argmin(axis=1)]
    ground = np.where(dirs[:, 2] < 0, 1.8 / -np.minimum(dirs[:, 2], -1e-9),
                      np.inf)
    nearest = np.minimum(nearest, ground)
    hit = np.isfinite(nearest) & (nearest <= cfg.max_range)
    assert len(sweep.points) == hit.sum()
    expected = dirs[hit] * nearest[hit, None]
    np.testing.assert_allclose(sweep.points[:, :3], expected, atol=1e-3)
    np.testing.assert_array_equal(sweep.points[:, 4], ring[hit])
    on_ground = (ground <= nearest)[hit]
    np.testing.assert_array_equal(sweep.group[on_ground], -1)
    np.testing.assert_array_equal(sweep.group[~on_ground],
                                  nearest_group[hit][~on_ground])


def test_lidar_ray_grid_matches_nuscenes():
    dirs, ring = synth.LidarConfig().ray_directions()
    assert dirs.shape == (32 * 1084, 3)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    elevation = np.degrees(np.arcsin(dirs[:, 2]))
    assert elevation[ring == 0].max() == pytest.approx(-30.67)
    assert elevation[ring == 31].min() == pytest.approx(10.67)
    # Column-major order like the real files: rings 0..31 per azimuth.
    np.testing.assert_array_equal(ring[:64], np.tile(np.arange(32), 2))


def test_class_counts_are_long_tailed():
    rng = np.random.default_rng(0)
    total = Counter()
    draws = 400
    for _ in range(draws):
        counts = class_counts(70, 1.5, rng)
        assert sum(counts.values()) == 70
        assert min(counts.values()) >= 1  # every class in every scene
        total.update(counts)
    ranks = np.array([s.zipf_rank for s in synth.DETECTION_CLASSES], float)
    zipf = ranks**-1.5 / (ranks**-1.5).sum()
    expected = draws * (1 + 60 * zipf)
    observed = np.array([total[s.name] for s in synth.DETECTION_CLASSES])
    np.testing.assert_allclose(observed, expected, rtol=0.1)
    cars, construction = total['car'], total['construction_vehicle']
    assert cars > 0.4 * sum(observed) and cars > 10 * construction


def _extent(shape: synth.PrimitiveSet) -> np.ndarray:
    """(2, 3) min/max corner of a shape whose primitives have yaw 0 (their
    sizes are then half extents along x, y, z for every kind)."""
    assert np.all(shape.yaw == 0)
    return np.stack([(shape.center - shape.size).min(0),
                     (shape.center + shape.size).max(0)])


def test_object_shapes_fit_their_boxes_and_differ_by_class():
    rng = np.random.default_rng(0)
    signatures = {}
    for spec in synth.DETECTION_CLASSES:
        w, l, h = spec.mean_wlh
        rider = spec.name in ('bicycle', 'motorcycle')
        if rider:
            h = 1.7
        shape = synth.build_object_shape(spec.name, (w, l, h), rider, True,
                                         rng)
        assert np.all(shape.label == spec.lidarseg_index)
        low, high = _extent(shape)
        assert np.all(low >= [-l / 2 - 1e-9, -w / 2 - 1e-9, -1e-9]), spec
        assert np.all(high <= [l / 2 + 1e-9, w / 2 + 1e-9, h + 1e-9]), spec
        signatures[spec.name] = tuple(np.bincount(shape.kind, minlength=4))
    assert len(set(signatures.values())) == len(signatures), signatures
    with pytest.raises(ValueError, match='unknown detection class'):
        synth.build_object_shape('tram', (1, 1, 1), False, False, rng)
