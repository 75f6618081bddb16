# Copyright (c) OpenMMLab. All rights reserved.
"""Class-specific object geometry as unions of primitives.

Each builder returns the shape of one object in its own frame: x forward
(along the annotation box length), y left (width), z up, origin at the
centre of the box's bottom face. The geometry fills the annotation box
shrunk by a margin, so the box contains every simulated point of the object
(range noise included) while staying as tight as a human annotation.

The classes differ by structure, not just by size: cars have wheels, a
body and a glass cabin; trucks a cab and a cargo box; buses one long body
with a window band and a roof unit; trailers a raised cargo box on rear
axles and landing legs; construction vehicles tracks, a turret and a boom;
pedestrians legs, arms, torso and head; bicycles thin wheels and tubes;
motorcycles thick wheels and an engine block; barriers a stepped concrete
profile or a plank on legs; cones stacked frusta with a reflective band.
"""
from typing import Callable, Dict, List, Tuple

import numpy as np

from .primitives import BOX, CYLINDER_Y, CYLINDER_Z, ELLIPSOID, PrimitiveSet
from .taxonomy import DETECTION_CLASS_BY_NAME, LIDARSEG_INDEX

# Margin (m) between the geometry and the annotation box faces.
BOX_MARGIN = 0.05

# Reflectivities on nuScenes' 0..255 intensity scale.
_TYRE = 4.0
_GLASS = 6.0
_RETRO = 180.0


class _Parts:
    """Accumulates primitives of one rigid shape (group 0) in its frame.

    Args:
        label (int): lidarseg category index of every part.
    """

    def __init__(self, label: int) -> None:
        self.label = label
        self.rows: List[Tuple[int, Tuple[float, float, float],
                              Tuple[float, float, float], float]] = []

    def box(self, x: Tuple[float, float], y: Tuple[float, float],
            z: Tuple[float, float], reflectivity: float) -> None:
        """Add an axis-aligned box spanning [x0, x1] x [y0, y1] x [z0, z1]."""
        self.rows.append(
            (BOX, ((x[0] + x[1]) / 2, (y[0] + y[1]) / 2, (z[0] + z[1]) / 2),
             ((x[1] - x[0]) / 2, (y[1] - y[0]) / 2,
              (z[1] - z[0]) / 2), reflectivity))

    def cylinder_z(self, x: float, y: float, z: Tuple[float, float],
                   radius: float, reflectivity: float) -> None:
        """Add a vertical cylinder at (x, y) spanning heights [z0, z1]."""
        self.rows.append((CYLINDER_Z, (x, y, (z[0] + z[1]) / 2),
                          (radius, radius, (z[1] - z[0]) / 2), reflectivity))

    def cylinder_y(self, x: float, y: float, z: float, radius: float,
                   half_width: float, reflectivity: float) -> None:
        """Add a cylinder with axis along y (a wheel) centred at (x, y, z)."""
        self.rows.append((CYLINDER_Y, (x, y, z), (radius, half_width, radius),
                          reflectivity))

    def ellipsoid(self, center: Tuple[float, float, float],
                  radii: Tuple[float, float,
                               float], reflectivity: float) -> None:
        """Add an axis-aligned ellipsoid."""
        self.rows.append((ELLIPSOID, center, radii, reflectivity))

    def to_set(self) -> PrimitiveSet:
        """Return the parts as a :class:`PrimitiveSet` of group 0."""
        n = len(self.rows)
        return PrimitiveSet(
            kind=np.array([r[0] for r in self.rows], np.int8),
            center=np.array([r[1] for r in self.rows], np.float64),
            size=np.array([r[2] for r in self.rows], np.float64),
            yaw=np.zeros(n),
            reflectivity=np.array([r[3] for r in self.rows], np.float64),
            label=np.full(n, self.label, np.uint8),
            group=np.zeros(n, np.int64))


def _add_rider(parts: _Parts, x: float, seat_z: float, top: float,
               half_width: float, rng: np.random.Generator) -> None:
    """Add a seated rider (thighs, torso, head) whose head tops at ``top``."""
    cloth = rng.uniform(8, 35)
    head_r = min(0.11, (top - seat_z) * 0.14)
    torso_h = (top - seat_z - 2 * head_r) / 2
    for side in (-1, 1):
        parts.cylinder_y(x + 0.1, side * min(0.12, half_width * 0.5),
                         seat_z - 0.15, 0.07, 0.06, cloth)
    parts.ellipsoid((x, 0.0, seat_z + torso_h),
                    (0.13, min(0.19, half_width), torso_h), cloth)
    parts.ellipsoid((x + 0.04, 0.0, top - head_r),
                    (head_r, head_r * 0.85, head_r), 15.0)


def _car(parts: _Parts, length: float, w: float, h: float, rider: bool,
         moving: bool, rng: np.random.Generator) -> None:
    paint = rng.uniform(10, 70)
    r, tyre_hw = min(0.33, 0.22 * h), 0.11
    for x in (length / 2 - 0.95 * r - 0.55, -length / 2 + 0.95 * r + 0.45):
        for side in (-1, 1):
            parts.cylinder_y(x, side * (w / 2 - tyre_hw), r, r, tyre_hw, _TYRE)
    hood = 0.58 * h
    parts.box((-length / 2, length / 2), (-w / 2 + 0.02, w / 2 - 0.02),
              (0.6 * r, hood), paint)
    parts.box((-0.42 * length, 0.16 * length), (-w / 2 + 0.12, w / 2 - 0.12),
              (hood, h - 0.05), _GLASS)
    parts.box((-0.40 * length, 0.12 * length), (-w / 2 + 0.16, w / 2 - 0.16),
              (h - 0.05, h), paint)
    for x in (length / 2 - 0.01, -length / 2 + 0.01):
        parts.box((x - 0.01, x + 0.01), (-0.26, 0.26), (0.40, 0.52), _RETRO)


def _truck(parts: _Parts, length: float, w: float, h: float, rider: bool,
           moving: bool, rng: np.random.Generator) -> None:
    cab_len = min(2.1, 0.35 * length)
    r = 0.5
    axles = [length / 2 - 1.0, -length / 2 + 1.1]
    if length > 6.0:
        axles.append(-length / 2 + 2.25)
    for x in axles:
        for side in (-1, 1):
            parts.cylinder_y(x, side * (w / 2 - 0.16), r, r, 0.15, _TYRE)
    parts.box((-length / 2, length / 2), (-w / 2 + 0.35, w / 2 - 0.35),
              (0.55, 1.0), 12.0)
    parts.box((length / 2 - cab_len, length / 2),
              (-w / 2 + 0.03, w / 2 - 0.03), (0.75, 0.62 * h),
              rng.uniform(15, 50))
    parts.box((length / 2 - cab_len + 0.2, length / 2 - 0.25),
              (-w / 2 + 0.05, w / 2 - 0.05), (0.62 * h, 0.82 * h), _GLASS)
    parts.box((-length / 2, length / 2 - cab_len - 0.15), (-w / 2, w / 2),
              (1.0, h), rng.uniform(20, 70))


def _bus(parts: _Parts, length: float, w: float, h: float, rider: bool,
         moving: bool, rng: np.random.Generator) -> None:
    r = 0.5
    for x in (length / 2 - 2.4, -length / 2 + 2.9):
        for side in (-1, 1):
            parts.cylinder_y(x, side * (w / 2 - 0.16), r, r, 0.15, _TYRE)
    parts.box((-length / 2, length / 2), (-w / 2 + 0.01, w / 2 - 0.01),
              (0.32, h - 0.28), rng.uniform(25, 60))
    parts.box((-length / 2 + 0.3, length / 2 - 0.05), (-w / 2, w / 2),
              (0.52 * h, 0.8 * h), _GLASS)
    parts.box((-0.25 * length, 0.1 * length), (-0.35 * w, 0.35 * w),
              (h - 0.28, h), 30.0)


def _trailer(parts: _Parts, length: float, w: float, h: float, rider: bool,
             moving: bool, rng: np.random.Generator) -> None:
    r = 0.45
    for x in (-length / 2 + 1.0, -length / 2 + 2.1):
        for side in (-1, 1):
            parts.cylinder_y(x, side * (w / 2 - 0.16), r, r, 0.15, _TYRE)
    floor = min(1.2, 0.35 * h)
    parts.box((-length / 2, length / 2), (-w / 2, w / 2), (floor, h),
              rng.uniform(20, 80))
    parts.box((-length / 2, -length / 2 + 0.12), (-w / 2 + 0.1, w / 2 - 0.1),
              (0.45, 0.6), _RETRO)
    for side in (-1, 1):
        parts.cylinder_z(length / 2 - 2.2, side * (w / 2 - 0.35), (0.0, floor),
                         0.07, 15.0)


def _construction_vehicle(parts: _Parts, length: float, w: float, h: float,
                          rider: bool, moving: bool,
                          rng: np.random.Generator) -> None:
    paint = rng.uniform(50, 90)
    track_w = min(0.7, 0.25 * w)
    for y0, y1 in ((-w / 2, -w / 2 + track_w), (w / 2 - track_w, w / 2)):
        parts.box((-length / 2, 0.25 * length), (y0, y1), (0.0, 0.9), 7.0)
    parts.box((-length / 2, 0.15 * length), (-w / 2 + 0.1, w / 2 - 0.1),
              (0.9, 0.55 * h), paint)
    parts.box((-0.1 * length, 0.18 * length), (0.0, w / 2 - 0.1),
              (0.55 * h, h), _GLASS)
    parts.box((0.15 * length, 0.42 * length), (-0.22, 0.22),
              (0.55 * h, 0.75 * h), paint)
    parts.box((0.36 * length, 0.44 * length), (-0.2, 0.2), (0.3 * h, 0.6 * h),
              paint)
    parts.box((0.38 * length, length / 2), (-0.45 * w, 0.45 * w),
              (0.0, 0.3 * h), 20.0)


def _pedestrian(parts: _Parts, length: float, w: float, h: float, rider: bool,
                moving: bool, rng: np.random.Generator) -> None:
    cloth, trousers = rng.uniform(8, 40), rng.uniform(6, 30)
    leg_top = 0.47 * h
    stride = min(0.16, length / 2 - 0.08) if moving else 0.0
    for side in (-1, 1):
        parts.cylinder_z(side * stride, side * 0.2 * w, (0.0, leg_top), 0.075,
                         trousers)
        parts.cylinder_z(-side * stride * 0.6, side * (w / 2 - 0.05),
                         (0.45 * h, 0.8 * h), 0.045, cloth)
    head_r = 0.11
    torso_half = (h - leg_top - 2 * head_r) / 2
    parts.ellipsoid(
        (0.0, 0.0, leg_top + torso_half),
        (min(0.13, length / 2), min(0.2, w / 2 - 0.09), torso_half), cloth)
    parts.ellipsoid((0.0, 0.0, h - head_r), (0.1, 0.09, head_r), 15.0)


def _bicycle(parts: _Parts, length: float, w: float, h: float, rider: bool,
             moving: bool, rng: np.random.Generator) -> None:
    paint = rng.uniform(10, 60)
    r = min(0.34, length / 4)
    for x in (length / 2 - r, -length / 2 + r):
        parts.cylinder_y(x, 0.0, r, r, 0.02, _TYRE)
    tube = 0.02
    parts.box((-0.22, 0.28), (-tube, tube), (0.78, 0.82), paint)
    for i in range(4):
        x0 = 0.3 - 0.09 * (i + 1)
        z0 = 0.78 - 0.11 * (i + 1)
        parts.box((x0, x0 + 0.09), (-tube, tube), (z0, z0 + 0.11), paint)
    parts.box((-length / 2 + r, 0.0), (-tube, tube), (r - 0.02, r + 0.02),
              paint)
    parts.cylinder_z(-0.2, 0.0, (r, 0.86), 0.015, paint)
    parts.box((-0.28, -0.12), (-0.05, 0.05), (0.86, 0.9), 10.0)
    parts.cylinder_z(0.32, 0.0, (0.62, 0.97), 0.02, paint)
    parts.cylinder_y(0.34, 0.0, 0.98, 0.015, w / 2 - 0.02, 20.0)
    if rider:
        _add_rider(parts, -0.12, 0.9, h, w / 2, rng)


def _motorcycle(parts: _Parts, length: float, w: float, h: float, rider: bool,
                moving: bool, rng: np.random.Generator) -> None:
    paint = rng.uniform(15, 70)
    r = min(0.31, length / 6)
    for x in (length / 2 - r, -length / 2 + r):
        parts.cylinder_y(x, 0.0, r, r, 0.065, _TYRE)
    parts.ellipsoid((0.0, 0.0, 0.58), (0.5, 0.19, 0.24), paint)
    parts.box((-0.55, 0.05), (-0.15, 0.15), (0.75, 0.86), 8.0)
    parts.box((length / 2 - r - 0.05, length / 2 - r + 0.05), (-0.04, 0.04),
              (r, 1.0), 25.0)
    parts.cylinder_y(length / 2 - r - 0.1, 0.0, 1.02, 0.02, w / 2 - 0.02, 25.0)
    parts.box((-length / 2 + 0.02, -length / 2 + 0.04), (-0.1, 0.1),
              (0.62, 0.7), _RETRO)
    if rider:
        _add_rider(parts, -0.25, 0.88, h, w / 2, rng)


def _barrier(parts: _Parts, length: float, w: float, h: float, rider: bool,
             moving: bool, rng: np.random.Generator) -> None:
    # The barrier's long side is its width (local y), as in nuScenes.
    if rng.random() < 0.6:
        concrete = rng.uniform(25, 50)
        parts.box((-length / 2, length / 2), (-w / 2, w / 2), (0.0, 0.3 * h),
                  concrete)
        parts.box((-0.3 * length, 0.3 * length), (-w / 2, w / 2), (0.3 * h, h),
                  concrete)
        parts.box((-0.3 * length - 0.01, 0.3 * length + 0.01),
                  (-0.4 * w, 0.4 * w), (0.7 * h, 0.82 * h), _RETRO)
    else:
        for side in (-1, 1):
            parts.box((-length / 2, length / 2),
                      (side * 0.4 * w - 0.05, side * 0.4 * w + 0.05),
                      (0.0, 0.55 * h), 30.0)
        parts.box((-0.04, 0.04), (-w / 2, w / 2), (0.55 * h, h), _RETRO)


def _traffic_cone(parts: _Parts, length: float, w: float, h: float,
                  rider: bool, moving: bool, rng: np.random.Generator) -> None:
    parts.box((-length / 2, length / 2), (-w / 2, w / 2), (0.0, 0.04), 20.0)
    base_r = 0.4 * min(length, w)
    sections = 5
    edges = np.linspace(0.04, h, sections + 1)
    for i in range(sections):
        radius = base_r * (1 - 0.8 * (i + 0.5) / sections)
        parts.cylinder_z(0.0, 0.0, (edges[i], edges[i + 1]), radius,
                         _RETRO if i == 2 else 40.0)


_BUILDERS: Dict[str, Callable[..., None]] = {
    'car': _car,
    'truck': _truck,
    'bus': _bus,
    'trailer': _trailer,
    'construction_vehicle': _construction_vehicle,
    'pedestrian': _pedestrian,
    'bicycle': _bicycle,
    'motorcycle': _motorcycle,
    'barrier': _barrier,
    'traffic_cone': _traffic_cone,
}


def build_object_shape(class_name: str, wlh: Tuple[float, float,
                                                   float], rider: bool,
                       moving: bool, rng: np.random.Generator) -> PrimitiveSet:
    """Build the geometry of one object inside its annotation box.

    Args:
        class_name (str): nuScenes detection class, e.g. ``'car'``.
        wlh (tuple[float, float, float]): Annotation box (width, length,
            height) in metres.
        rider (bool): Whether a rider sits on a bicycle/motorcycle.
        moving (bool): Whether the object moves (pedestrians stride).
        rng (np.random.Generator): Source of the per-object paint colours.

    Returns:
        PrimitiveSet: The primitives (group 0) in the object frame (x
        forward, y left, z up, origin at the box bottom centre), labelled
        with the class's lidarseg category index.
    """
    if class_name not in _BUILDERS:
        raise ValueError(f'unknown detection class {class_name!r}; expected '
                         f'one of {sorted(_BUILDERS)}')
    w, length, h = wlh
    parts = _Parts(DETECTION_CLASS_BY_NAME[class_name].lidarseg_index)
    _BUILDERS[class_name](parts, length - 2 * BOX_MARGIN, w - 2 * BOX_MARGIN,
                          h - BOX_MARGIN, rider, moving, rng)
    return parts.to_set()


def build_ego_vehicle_shape() -> PrimitiveSet:
    """Body and roof of the nuScenes car, in the ego frame.

    The ego frame has its origin on the ground below the rear axle, x
    forward, z up; LIDAR_TOP sits 1.84 m high, 0.94 m ahead of the origin,
    so the lowest beams see the roof 0.35 m below the sensor (the
    ``vehicle.ego`` points close to the sensor in real sweeps).

    Returns:
        PrimitiveSet: Two boxes (group 0) labelled ``vehicle.ego``.
    """
    parts = _Parts(LIDARSEG_INDEX['vehicle.ego'])
    parts.box((-0.8, 3.3), (-0.88, 0.88), (0.25, 1.2), 14.0)
    parts.box((0.1, 1.8), (-0.55, 0.55), (1.2, 1.49), 14.0)
    return parts.to_set()
