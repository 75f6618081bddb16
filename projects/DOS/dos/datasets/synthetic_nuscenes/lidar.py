# Copyright (c) OpenMMLab. All rights reserved.
"""Ray-casting model of nuScenes' LIDAR_TOP (a Velodyne HDL-32E).

One sweep fires ``num_beams`` lasers at fixed elevations (ring 0 is the
lowest, as in nuScenes) in each of ``azimuth_steps`` columns of a full
turn. Every ray returns its nearest hit among the ground plane and the
scene's primitives (occlusion), with:

* Gaussian range noise,
* random dropouts, and signal-driven ones: a return survives with
  probability ``1 - exp(-s / detection_scale)`` where ``s = reflectivity *
  cos(incidence) / range**2``, so dark or grazing far surfaces fade out,
* an intensity on nuScenes' 0..255 integer scale from the surface's
  reflectivity, the incidence angle and log-normal speckle,
* the ring index (0..num_beams-1).

Points are written column by column, rings in order within a column, like
the real ``.pcd.bin`` files; rays without a return are not written (real
nuScenes files keep a placeholder point near the sensor for them).
The sweep is treated as instantaneous (no rolling-shutter distortion).
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .primitives import PrimitiveSet, intersect_pairs
from .scene_layout import RoadLayout


@dataclass
class LidarConfig:
    """Geometry and noise of the simulated LIDAR_TOP.

    Args:
        num_beams (int): Lasers (rings), 32 for nuScenes.
        min_elevation_deg (float): Elevation of ring 0 (degrees).
        max_elevation_deg (float): Elevation of the top ring (degrees).
        azimuth_steps (int): Columns per turn; nuScenes sweeps hold 1084
            columns of 32 points.
        max_range (float): Farthest return (m).
        range_noise_std (float): Std of the range noise (m).
        dropout_prob (float): Probability that any return is lost.
        detection_scale (float): Signal scale of the reflectivity/range
            dropout (see module docstring).
        intensity_noise (float): Std of the log-normal intensity speckle.
    """

    num_beams: int = 32
    min_elevation_deg: float = -30.67
    max_elevation_deg: float = 10.67
    azimuth_steps: int = 1084
    max_range: float = 100.0
    range_noise_std: float = 0.015
    dropout_prob: float = 0.01
    detection_scale: float = 1e-4
    intensity_noise: float = 0.45

    def __post_init__(self) -> None:
        if self.num_beams < 1 or self.azimuth_steps < 8:
            raise ValueError(
                f'LidarConfig needs num_beams >= 1 and azimuth_steps >= 8, '
                f'got num_beams={self.num_beams}, '
                f'azimuth_steps={self.azimuth_steps}')
        if self.min_elevation_deg > self.max_elevation_deg:
            raise ValueError(
                f'LidarConfig needs min_elevation_deg <= max_elevation_deg, '
                f'got {self.min_elevation_deg} > {self.max_elevation_deg}')

    @property
    def elevations(self) -> np.ndarray:
        """(num_beams,) ring elevations in radians, ascending."""
        return np.radians(
            np.linspace(self.min_elevation_deg, self.max_elevation_deg,
                        self.num_beams))

    @property
    def azimuth_start(self) -> float:
        """Azimuth (radians) of column 0, pointing along lidar -x."""
        return -np.pi

    def ray_directions(self) -> Tuple[np.ndarray, np.ndarray]:
        """Unit directions of all rays in the lidar frame.

        Returns:
            tuple[np.ndarray, np.ndarray]: (R, 3) directions (x, y, z) with
            R = azimuth_steps * num_beams, ray ``col * num_beams + ring``;
            and the (R,) int64 ring index of every ray.
        """
        az = self.azimuth_start + np.arange(
            self.azimuth_steps) * 2 * np.pi / self.azimuth_steps
        el = self.elevations
        cos_el = np.cos(el)[None, :]
        x = np.cos(az)[:, None] * cos_el
        y = np.sin(az)[:, None] * cos_el
        z = np.broadcast_to(np.sin(el)[None, :], x.shape)
        dirs = np.stack([x, y, z], axis=-1)
        ring = np.broadcast_to(np.arange(self.num_beams), (len(az), len(el)))
        return dirs.reshape(-1, 3), ring.reshape(-1).astype(np.int64)


@dataclass
class LidarSweep:
    """Result of one simulated sweep.

    Args:
        points (np.ndarray): (N, 5) float32 (x, y, z, intensity, ring) in
            the lidar frame, nuScenes' ``.pcd.bin`` layout.
        labels (np.ndarray): (N,) uint8 lidarseg category of each point.
        group (np.ndarray): (N,) int64 primitive group hit by each point,
            -1 for the ground.
        rays_visible (np.ndarray): (G,) number of rays whose nearest hit is
            each group (before dropouts).
        rays_reaching (np.ndarray): (G,) number of rays that intersect each
            group at all (as if nothing occluded it).
    """

    points: np.ndarray
    labels: np.ndarray
    group: np.ndarray
    rays_visible: np.ndarray
    rays_reaching: np.ndarray


class LidarSimulator:
    """Casts a :class:`LidarConfig`'s rays into a scene.

    Args:
        config (LidarConfig): Sensor geometry and noise.
    """

    def __init__(self, config: LidarConfig) -> None:
        self.config = config
        self.directions, self.ring = config.ray_directions()
        self.elevations = config.elevations

    def _candidate_pairs(self, prims: PrimitiveSet,
                         lidar_to_scene: np.ndarray) -> \
            Tuple[np.ndarray, np.ndarray]:
        """(ray, primitive) pairs whose ray may hit the primitive.

        Each primitive lies in a vertical prism (its rotated footprint
        rectangle times its z range); the prism's exact azimuth and
        elevation bounds seen from the sensor, padded by the lidar's tilt
        from the vertical, select a block of columns x rings. All
        primitive kinds use ``size`` as their half extents along their
        local axes.

        Args:
            prims (PrimitiveSet): Scene-frame primitives.
            lidar_to_scene (np.ndarray): (4, 4) lidar pose, scene frame.

        Returns:
            tuple[np.ndarray, np.ndarray]: (K,) ray and primitive indices.
        """
        cfg = self.config
        nb, na = cfg.num_beams, cfg.azimuth_steps
        rotation, origin = lidar_to_scene[:3, :3], lidar_to_scene[:3, 3]
        tilt = float(np.arccos(np.clip(rotation[2, 2], -1.0, 1.0)))
        heading = float(np.arctan2(rotation[1, 0], rotation[0, 0]))
        rel = prims.center - origin
        half = prims.half_extents()
        cos, sin = np.cos(prims.yaw), np.sin(prims.yaw)
        # Horizontal distance range from the sensor to the footprint.
        local_x = cos * rel[:, 0] + sin * rel[:, 1]
        local_y = -sin * rel[:, 0] + cos * rel[:, 1]
        d_min = np.hypot(
            np.maximum(np.abs(local_x) - half[:, 0], 0),
            np.maximum(np.abs(local_y) - half[:, 1], 0))
        signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)
        cx = signs[None, :, 0] * half[:, None, 0]
        cy = signs[None, :, 1] * half[:, None, 1]
        corner_x = rel[:, None, 0] + cos[:, None] * cx - sin[:, None] * cy
        corner_y = rel[:, None, 1] + sin[:, None] * cx + cos[:, None] * cy
        d_max = np.hypot(corner_x, corner_y).max(axis=1)
        # Elevation range of the prism, padded by the tilt.
        z_lo, z_hi = rel[:, 2] - half[:, 2], rel[:, 2] + half[:, 2]
        el_lo = np.arctan2(z_lo, np.where(z_lo < 0, d_min, d_max)) - tilt
        el_hi = np.arctan2(z_hi, np.where(z_hi > 0, d_min, d_max)) + tilt
        ring_lo = np.searchsorted(self.elevations, el_lo - 1e-9, 'left')
        num_rings = np.maximum(
            np.searchsorted(self.elevations, el_hi + 1e-9, 'right') - ring_lo,
            0)
        # Azimuth range of the footprint corners, in the lidar's columns.
        az_centre = np.arctan2(rel[:, 1], rel[:, 0])
        delta = np.angle(
            np.exp(1j * (np.arctan2(corner_y, corner_x) - az_centre[:, None])))
        step = 2 * np.pi / na
        pad = 2 * tilt + 1e-6
        start = az_centre - heading - cfg.azimuth_start
        col_lo = np.floor((start + delta.min(axis=1) - pad) / step)
        col_hi = np.ceil((start + delta.max(axis=1) + pad) / step)
        num_cols = (col_hi - col_lo + 1).astype(np.int64)
        full = (d_min <= 1e-9) | (num_cols >= na)
        num_cols = np.where(full, na, num_cols)
        col_lo = np.where(full, 0, col_lo).astype(np.int64)

        counts = num_cols * num_rings
        prim = np.repeat(np.arange(len(prims)), counts)
        offset = np.arange(counts.sum()) - np.repeat(
            np.cumsum(counts) - counts, counts)
        rings_of = num_rings[prim]
        col = (col_lo[prim] + offset // rings_of) % na
        ring = ring_lo[prim] + offset % rings_of
        return col * nb + ring, prim

    def scan(self, prims: PrimitiveSet, num_groups: int, layout: RoadLayout,
             lidar_to_scene: np.ndarray,
             rng: np.random.Generator) -> LidarSweep:
        """Simulate one sweep.

        Args:
            prims (PrimitiveSet): All primitives, scene frame, with group
                indices in 0..num_groups-1.
            num_groups (int): G, number of groups.
            layout (RoadLayout): Ground labels and reflectivities.
            lidar_to_scene (np.ndarray): (4, 4) pose of the lidar in the
                scene frame.
            rng (np.random.Generator): Source of noise and dropouts.

        Returns:
            LidarSweep: Points (lidar frame), labels and group statistics.
        """
        cfg = self.config
        rotation, origin = lidar_to_scene[:3, :3], lidar_to_scene[:3, 3]
        dirs = self.directions @ rotation.T
        num_rays = len(dirs)

        # Ground plane z = 0.
        safe_dz = np.where(dirs[:, 2] < -1e-9, dirs[:, 2], -1e-9)
        t_best = np.where(dirs[:, 2] < -1e-9, -origin[2] / safe_dz, np.inf)
        normal = np.tile([0.0, 0.0, 1.0], (num_rays, 1))
        prim_best = np.full(num_rays, -1)

        ray_idx, prim_idx = self._candidate_pairs(prims, lidar_to_scene)
        t_pair, n_pair = intersect_pairs(prims, origin, dirs, ray_idx,
                                         prim_idx)
        hit = np.isfinite(t_pair)
        ray_idx, prim_idx = ray_idx[hit], prim_idx[hit]
        t_pair, n_pair = t_pair[hit], n_pair[hit]

        rays_reaching = np.zeros(num_groups, np.int64)
        if len(ray_idx):
            keys = np.unique(prims.group[prim_idx] * num_rays + ray_idx)
            rays_reaching = np.bincount(keys // num_rays, minlength=num_groups)
            order = np.lexsort((t_pair, ray_idx))
            first = order[np.unique(ray_idx[order], return_index=True)[1]]
            r = ray_idx[first]
            closer = t_pair[first] < t_best[r]
            r, first = r[closer], first[closer]
            t_best[r] = t_pair[first]
            normal[r] = n_pair[first]
            prim_best[r] = prim_idx[first]

        valid = np.isfinite(t_best) & (t_best <= cfg.max_range)
        is_obj = prim_best >= 0
        group = np.where(is_obj, prims.group[np.maximum(prim_best, 0)], -1)
        rays_visible = np.bincount(group[valid & is_obj], minlength=num_groups)

        hit_xyz = origin + np.where(valid, t_best, 0)[:, None] * dirs
        ground_label = layout.ground_label(hit_xyz[:, 0], hit_xyz[:, 1])
        label = np.where(is_obj, prims.label[np.maximum(prim_best, 0)],
                         ground_label).astype(np.uint8)
        refl = np.where(
            is_obj, prims.reflectivity[np.maximum(prim_best, 0)],
            layout.ground_reflectivity(hit_xyz[:, 0], hit_xyz[:, 1],
                                       ground_label))
        cos_inc = np.clip(np.abs((normal * dirs).sum(axis=1)), 0.0, 1.0)

        t_safe = np.where(valid, np.maximum(t_best, 1.0), 1.0)
        signal = refl * cos_inc / t_safe**2
        keep = valid & (rng.random(num_rays) >= cfg.dropout_prob) & (
            rng.random(num_rays) < 1 - np.exp(-signal / cfg.detection_scale))
        intensity = refl * (0.45 + 0.55 * cos_inc) * np.exp(
            rng.normal(0, cfg.intensity_noise, num_rays))
        intensity = np.floor(np.clip(intensity, 0, 255))
        rng_noisy = t_best + rng.normal(0, cfg.range_noise_std, num_rays)

        sel = np.flatnonzero(keep)
        xyz = self.directions[sel] * rng_noisy[sel, None]
        points = np.concatenate(
            [xyz, intensity[sel, None], self.ring[sel, None]],
            axis=1).astype(np.float32)
        return LidarSweep(points, label[sel], group[sel], rays_visible,
                          rays_reaching)
