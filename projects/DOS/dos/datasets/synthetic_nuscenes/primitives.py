# Copyright (c) OpenMMLab. All rights reserved.
"""Solid primitives and their exact, vectorised ray intersections.

Every shape of a synthetic scene (objects, buildings, trees, the ego car)
is a union of four kinds of primitives, each posed by a centre (x, y, z)
and a yaw about +z:

* ``BOX``: half extents (hx, hy, hz) along its local (x, y, z) axes,
* ``CYLINDER_Z``: a vertical cylinder, ``size = (radius, radius, half
  height)``,
* ``CYLINDER_Y``: a cylinder whose axis is its local y axis (a wheel),
  ``size = (radius, half width, radius)``,
* ``ELLIPSOID``: semi-axes (a, b, c) along its local (x, y, z) axes.

Intersections are solved analytically in each primitive's local frame
(slabs, quadratics), for arrays of (ray, primitive) pairs at once. Rays that
start inside a primitive do not hit it (the sensor is never inside one).
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

BOX = 0
CYLINDER_Z = 1
CYLINDER_Y = 2
ELLIPSOID = 3
PRIMITIVE_KINDS = (BOX, CYLINDER_Z, CYLINDER_Y, ELLIPSOID)

# Hits closer than this along a ray are ignored (self-intersection guard).
_T_MIN = 1e-6


@dataclass
class PrimitiveSet:
    """A flat array-of-structures of primitives grouped into rigid parts.

    A *group* is a rigid shape (an object, a building, the ego car): its
    primitives move together and it is the unit of ray culling and of the
    per-object hit statistics.

    Args:
        kind (np.ndarray): (P,) int8 primitive kinds (``BOX`` ...).
        center (np.ndarray): (P, 3) float64 centres (x, y, z) in metres.
        size (np.ndarray): (P, 3) float64 kind-specific sizes, see module
            docstring.
        yaw (np.ndarray): (P,) float64 rotation about +z in radians.
        reflectivity (np.ndarray): (P,) float64 surface reflectivity on
            nuScenes' 0..255 intensity scale at normal incidence.
        label (np.ndarray): (P,) uint8 nuScenes lidarseg category index.
        group (np.ndarray): (P,) int64 group index of every primitive.
    """

    kind: np.ndarray
    center: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    reflectivity: np.ndarray
    label: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @classmethod
    def empty(cls) -> 'PrimitiveSet':
        """Return a set without primitives."""
        return cls(
            np.zeros(0, np.int8), np.zeros((0, 3)), np.zeros((0, 3)),
            np.zeros(0), np.zeros(0), np.zeros(0, np.uint8),
            np.zeros(0, np.int64))

    @classmethod
    def concatenate(cls, sets: List['PrimitiveSet']) -> 'PrimitiveSet':
        """Concatenate sets, keeping their group indices unchanged."""
        if not sets:
            return cls.empty()
        return cls(*[
            np.concatenate([getattr(s, name) for s in sets])
            for name in ('kind', 'center', 'size', 'yaw', 'reflectivity',
                         'label', 'group')
        ])

    def half_extents(self) -> np.ndarray:
        """(P, 3) half extents of each primitive's bounding box along its
        local (x, y, z) axes (cylinders only read their radius and half
        length from ``size``)."""
        half = self.size.copy()
        cyl_z, cyl_y = self.kind == CYLINDER_Z, self.kind == CYLINDER_Y
        half[cyl_z, 1] = half[cyl_z, 0]
        half[cyl_y, 2] = half[cyl_y, 0]
        return half

    def posed(self, yaw: np.ndarray, translation: np.ndarray) -> \
            'PrimitiveSet':
        """Move every group rigidly: rotate about +z, then translate.

        Args:
            yaw (np.ndarray): (G,) yaw of each group's frame, indexed by the
                group index.
            translation (np.ndarray): (G, 3) origin (x, y, z) of each
                group's frame.

        Returns:
            PrimitiveSet: The primitives expressed in the parent frame.
        """
        g_yaw = yaw[self.group]
        cos, sin = np.cos(g_yaw), np.sin(g_yaw)
        x, y = self.center[:, 0], self.center[:, 1]
        center = np.stack(
            [cos * x - sin * y, sin * x + cos * y, self.center[:, 2]],
            axis=1) + translation[self.group]
        return PrimitiveSet(self.kind, center, self.size, self.yaw + g_yaw,
                            self.reflectivity, self.label, self.group)


def _to_local(origin: np.ndarray, direction: np.ndarray, center: np.ndarray,
              yaw: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Express rays in the primitives' local frames.

    Args:
        origin (np.ndarray): (3,) common ray origin (x, y, z).
        direction (np.ndarray): (K, 3) unit ray directions.
        center (np.ndarray): (K, 3) primitive centres.
        yaw (np.ndarray): (K,) primitive yaws.

    Returns:
        tuple[np.ndarray, np.ndarray]: (K, 3) local origins and directions.
    """
    cos, sin = np.cos(yaw), np.sin(yaw)
    rel = origin[None, :] - center
    o = np.stack([
        cos * rel[:, 0] + sin * rel[:, 1], -sin * rel[:, 0] + cos * rel[:, 1],
        rel[:, 2]
    ],
                 axis=1)
    d = np.stack([
        cos * direction[:, 0] + sin * direction[:, 1],
        -sin * direction[:, 0] + cos * direction[:, 1], direction[:, 2]
    ],
                 axis=1)
    return o, d


def _to_parent(normal: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotate (K, 3) local normals by their primitives' (K,) yaws."""
    cos, sin = np.cos(yaw), np.sin(yaw)
    return np.stack([
        cos * normal[:, 0] - sin * normal[:, 1],
        sin * normal[:, 0] + cos * normal[:, 1], normal[:, 2]
    ],
                    axis=1)


def _intersect_box(o: np.ndarray, d: np.ndarray,
                   half: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Slab test of local rays against axis-aligned boxes at the origin.

    Args:
        o (np.ndarray): (K, 3) local ray origins.
        d (np.ndarray): (K, 3) local ray directions.
        half (np.ndarray): (K, 3) half extents.

    Returns:
        tuple[np.ndarray, np.ndarray]: (K,) hit distances (inf on a miss)
        and (K, 3) local unit normals at the hits.
    """
    safe_d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    t1 = (-half - o) / safe_d
    t2 = (half - o) / safe_d
    t_in = np.minimum(t1, t2)
    t_near = t_in.max(axis=1)
    t_far = np.maximum(t1, t2).min(axis=1)
    hit = (t_near <= t_far) & (t_near > _T_MIN)
    axis = t_in.argmax(axis=1)
    normal = np.zeros_like(o)
    rows = np.arange(len(o))
    normal[rows, axis] = -np.sign(safe_d[rows, axis])
    return np.where(hit, t_near, np.inf), normal


def _intersect_cylinder(o: np.ndarray, d: np.ndarray, radius: np.ndarray,
                        half_height: np.ndarray) -> \
        Tuple[np.ndarray, np.ndarray]:
    """Local rays against capped cylinders along +z, centred at the origin.

    Args:
        o (np.ndarray): (K, 3) local ray origins.
        d (np.ndarray): (K, 3) local ray directions.
        radius (np.ndarray): (K,) radii.
        half_height (np.ndarray): (K,) half heights.

    Returns:
        tuple[np.ndarray, np.ndarray]: (K,) hit distances (inf on a miss)
        and (K, 3) local unit normals at the hits.
    """
    a = d[:, 0]**2 + d[:, 1]**2
    b = 2 * (o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1])
    c = o[:, 0]**2 + o[:, 1]**2 - radius**2
    disc = b * b - 4 * a * c
    safe_a = np.where(a < 1e-12, 1e-12, a)
    t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * safe_a)
    z_side = o[:, 2] + t_side * d[:, 2]
    side_ok = (disc >= 0) & (a >= 1e-12) & (t_side > _T_MIN) & (
        np.abs(z_side) <= half_height)
    t_side = np.where(side_ok, t_side, np.inf)

    safe_dz = np.where(np.abs(d[:, 2]) < 1e-12, 1e-12, d[:, 2])
    cap_z = np.where(o[:, 2] > 0, half_height, -half_height)
    t_cap = (cap_z - o[:, 2]) / safe_dz
    px = o[:, 0] + t_cap * d[:, 0]
    py = o[:, 1] + t_cap * d[:, 1]
    cap_ok = (t_cap > _T_MIN) & (px * px + py * py <= radius**2) & (
        np.abs(o[:, 2]) > half_height)
    t_cap = np.where(cap_ok, t_cap, np.inf)

    use_side = t_side <= t_cap
    t = np.minimum(t_side, t_cap)
    p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
    safe_r = np.where(radius > 0, radius, 1)
    normal = np.where(
        use_side[:, None],
        np.stack([p[:, 0] / safe_r, p[:, 1] / safe_r,
                  np.zeros_like(t)],
                 axis=1),
        np.stack([np.zeros_like(t),
                  np.zeros_like(t),
                  np.sign(cap_z)], axis=1))
    return t, normal


def _intersect_ellipsoid(o: np.ndarray, d: np.ndarray,
                         radii: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Local rays against axis-aligned ellipsoids centred at the origin.

    Args:
        o (np.ndarray): (K, 3) local ray origins.
        d (np.ndarray): (K, 3) local ray directions.
        radii (np.ndarray): (K, 3) semi-axes.

    Returns:
        tuple[np.ndarray, np.ndarray]: (K,) hit distances (inf on a miss)
        and (K, 3) local unit normals at the hits.
    """
    os_, ds = o / radii, d / radii
    a = (ds * ds).sum(axis=1)
    b = 2 * (os_ * ds).sum(axis=1)
    c = (os_ * os_).sum(axis=1) - 1
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    hit = (disc >= 0) & (t > _T_MIN) & (c > 0)
    t = np.where(hit, t, np.inf)
    p = o + np.where(hit, t, 0)[:, None] * d
    normal = p / radii**2
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    return t, normal


def intersect_pairs(prims: PrimitiveSet, origin: np.ndarray,
                    directions: np.ndarray, ray_index: np.ndarray,
                    prim_index: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Intersect (ray, primitive) pairs sharing one ray origin.

    Args:
        prims (PrimitiveSet): P primitives, in the same frame as the rays.
        origin (np.ndarray): (3,) origin (x, y, z) of all rays.
        directions (np.ndarray): (R, 3) unit ray directions.
        ray_index (np.ndarray): (K,) int64 ray of each pair.
        prim_index (np.ndarray): (K,) int64 primitive of each pair.

    Returns:
        tuple[np.ndarray, np.ndarray]: (K,) hit distance along the ray
        (inf on a miss) and (K, 3) unit surface normals (x, y, z) at the
        hits, in the rays' frame.
    """
    t = np.full(len(ray_index), np.inf)
    normal = np.zeros((len(ray_index), 3))
    kinds = prims.kind[prim_index]
    for kind in PRIMITIVE_KINDS:
        sel = np.flatnonzero(kinds == kind)
        if len(sel) == 0:
            continue
        p = prim_index[sel]
        o, d = _to_local(origin, directions[ray_index[sel]], prims.center[p],
                         prims.yaw[p])
        size = prims.size[p]
        if kind == BOX:
            t_k, n_k = _intersect_box(o, d, size)
        elif kind == CYLINDER_Z:
            t_k, n_k = _intersect_cylinder(o, d, size[:, 0], size[:, 2])
        elif kind == CYLINDER_Y:
            # Swap local y and z so the wheel axis becomes +z.
            swap = [0, 2, 1]
            t_k, n_k = _intersect_cylinder(o[:, swap], d[:, swap], size[:, 0],
                                           size[:, 1])
            n_k = n_k[:, swap]
        else:
            t_k, n_k = _intersect_ellipsoid(o, d, size)
        t[sel] = t_k
        normal[sel] = _to_parent(n_k, prims.yaw[p])
    return t, normal
