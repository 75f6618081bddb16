# Copyright (c) OpenMMLab. All rights reserved.
"""Road layout and static surroundings of a synthetic driving scene.

A scene lives in its own *scene frame*: x along the main road, y to its
left, z up, ground plane z = 0. The layout is a straight main road crossed
by a side road; both are bordered by raised sidewalks (curbs), a strip of
terrain or paved ground, and blocks of buildings with trees, bushes,
street lights, signs and street furniture in between. The ground's
lidarseg label at (x, y) comes from :meth:`RoadLayout.ground_label`; the
raised and standing structures are primitives (:mod:`.primitives`).
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .primitives import BOX, CYLINDER_Z, ELLIPSOID, PrimitiveSet
from .taxonomy import LIDARSEG_INDEX

SIDEWALK_HEIGHT = 0.15
LANE_WIDTH = 3.5

_DRIVEABLE = LIDARSEG_INDEX['flat.driveable_surface']
_SIDEWALK = LIDARSEG_INDEX['flat.sidewalk']
_TERRAIN = LIDARSEG_INDEX['flat.terrain']
_FLAT_OTHER = LIDARSEG_INDEX['flat.other']
_MANMADE = LIDARSEG_INDEX['static.manmade']
_VEGETATION = LIDARSEG_INDEX['static.vegetation']
_STATIC_OTHER = LIDARSEG_INDEX['static.other']

# Ground reflectivities (0..255 intensity scale at normal incidence).
_GROUND_REFLECTIVITY = {
    _DRIVEABLE: 12.0,
    _SIDEWALK: 24.0,
    _TERRAIN: 18.0,
    _FLAT_OTHER: 28.0,
}
_LANE_PAINT_REFLECTIVITY = 75.0


@dataclass
class RoadLayout:
    """Geometry of the two roads of a scene, in the scene frame.

    Args:
        lanes_per_direction (int): Lanes each way on both roads.
        cross_x (float): x of the side road's centre line (m).
        sidewalk_width (float): Width of the raised sidewalks (m).
        verge_width (float): Ground strip between sidewalk and buildings.
        paved_segments (np.ndarray): (S,) bool, whether each 25 m segment
            of verge is paved (``flat.other``) instead of terrain.
        extent (float): Half size of the square scene tile (m).
    """

    lanes_per_direction: int
    cross_x: float
    sidewalk_width: float
    verge_width: float
    paved_segments: np.ndarray
    extent: float

    @property
    def half_width(self) -> float:
        """float: Half width of each road's driveable surface (m)."""
        return self.lanes_per_direction * LANE_WIDTH

    @classmethod
    def sample(cls, rng: np.random.Generator, extent: float) -> 'RoadLayout':
        """Draw a random layout for a tile of half size ``extent``."""
        return cls(
            lanes_per_direction=int(rng.integers(1, 3)),
            cross_x=float(rng.uniform(-35, 35)),
            sidewalk_width=float(rng.uniform(2.5, 5.0)),
            verge_width=float(rng.uniform(1.0, 7.0)),
            paved_segments=rng.random(int(np.ceil(2 * extent / 25)) + 1)
            < 0.35,
            extent=extent)

    def driveable(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(N,) bool: whether ground points (x, y) are on a road."""
        return (np.abs(y) < self.half_width) | (
            np.abs(x - self.cross_x) < self.half_width)

    def ground_label(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """lidarseg label of the ground at scene-frame points (x, y).

        Args:
            x (np.ndarray): (N,) x coordinates (m).
            y (np.ndarray): (N,) y coordinates (m).

        Returns:
            np.ndarray: (N,) uint8 labels: driveable surface, sidewalk,
            terrain or (paved verge) flat.other.
        """
        road = self.driveable(x, y)
        walk_edge = self.half_width + self.sidewalk_width
        sidewalk = (np.abs(y) < walk_edge) | (
            np.abs(x - self.cross_x) < walk_edge)
        segment = np.clip(((x + self.extent) // 25).astype(np.int64), 0,
                          len(self.paved_segments) - 1)
        label = np.where(self.paved_segments[segment], _FLAT_OTHER, _TERRAIN)
        label = np.where(sidewalk, _SIDEWALK, label)
        return np.where(road, _DRIVEABLE, label).astype(np.uint8)

    def ground_reflectivity(self, x: np.ndarray, y: np.ndarray,
                            label: np.ndarray) -> np.ndarray:
        """Reflectivity of ground hits; painted lane lines are brighter.

        Args:
            x (np.ndarray): (N,) x coordinates (m).
            y (np.ndarray): (N,) y coordinates (m).
            label (np.ndarray): (N,) ground labels from
                :meth:`ground_label`.

        Returns:
            np.ndarray: (N,) float64 reflectivities (0..255 scale).
        """
        refl = np.zeros(len(x))
        for label_id, value in _GROUND_REFLECTIVITY.items():
            refl[label == label_id] = value
        # Dashed lines between lanes (3 m paint every 9 m), solid edges.
        lateral = np.abs(y) / LANE_WIDTH
        near_line = np.abs(lateral - np.round(lateral)) * LANE_WIDTH < 0.075
        dashed = ((x % 9.0) < 3.0) | (np.round(lateral) == 0) | (
            np.round(lateral) == self.lanes_per_direction)
        on_main = (np.abs(y) < self.half_width + 0.1) & (
            np.abs(x - self.cross_x) > self.half_width)
        paint = on_main & near_line & dashed
        refl[paint] = _LANE_PAINT_REFLECTIVITY
        return refl


class _StaticBuilder:
    """Accumulates static primitives, one group per structure."""

    def __init__(self) -> None:
        self.rows: List[tuple] = []
        self.num_groups = 0
        self.footprints: List[Tuple[float, float, float]] = []

    def add(self,
            parts: List[tuple],
            label: int,
            footprint: Optional[Tuple[float, float, float]] = None) -> None:
        """Add one structure made of (kind, center, size, yaw, refl) parts.

        Args:
            parts (list[tuple]): Primitive rows in the scene frame.
            label (int): lidarseg label of the structure.
            footprint (tuple, optional): (x, y, radius) disc the structure
                occupies on the ground, to keep objects off it.
        """
        for kind, center, size, yaw, refl in parts:
            self.rows.append(
                (kind, center, size, yaw, refl, label, self.num_groups))
        self.num_groups += 1
        if footprint is not None:
            self.footprints.append(footprint)

    def to_set(self) -> PrimitiveSet:
        return PrimitiveSet(
            kind=np.array([r[0] for r in self.rows], np.int8),
            center=np.array([r[1] for r in self.rows], np.float64),
            size=np.array([r[2] for r in self.rows], np.float64),
            yaw=np.array([r[3] for r in self.rows], np.float64),
            reflectivity=np.array([r[4] for r in self.rows], np.float64),
            label=np.array([r[5] for r in self.rows], np.uint8),
            group=np.array([r[6] for r in self.rows], np.int64))


@dataclass
class StaticScene:
    """Static structures of a scene.

    Args:
        layout (RoadLayout): The road geometry.
        primitives (PrimitiveSet): All static primitives, scene frame.
        num_groups (int): Number of static groups (indices 0..G-1).
        footprints (np.ndarray): (F, 3) discs (x, y, radius) that street
            furniture occupies on sidewalks and verges.
    """

    layout: RoadLayout
    primitives: PrimitiveSet
    num_groups: int
    footprints: np.ndarray


# (yaw of the road axis, side) of the four road sides: a structure at
# ``along`` the road and ``lateral`` metres from its centre line sits at
# :func:`_side_to_scene` (along, lateral); yaw 0 is the main road (along x),
# yaw pi/2 the side road (along y).
_ROAD_SIDES = ((0.0, 1.0), (0.0, -1.0), (np.pi / 2, 1.0), (np.pi / 2, -1.0))


def _side_to_scene(layout: RoadLayout, along: float, lateral: float,
                   yaw: float, side: float) -> Tuple[float, float]:
    """Scene (x, y) of a point ``along`` a road side, ``lateral`` off it."""
    if yaw == 0.0:
        return along, side * lateral
    return layout.cross_x + side * lateral, along


def _free_intervals(layout: RoadLayout, yaw: float, margin: float) -> \
        List[Tuple[float, float]]:
    """Stretches (along the road) of a road side not cut by the other
    road, ``margin`` metres clear of the other road's sidewalks."""
    e = layout.extent
    cut = layout.half_width + layout.sidewalk_width + margin
    centre = layout.cross_x if yaw == 0.0 else 0.0
    return [(-e, centre - cut), (centre + cut, e)]


def build_static_scene(layout: RoadLayout,
                       rng: np.random.Generator) -> StaticScene:
    """Populate the road sides with sidewalks, buildings and furniture.

    Args:
        layout (RoadLayout): The scene's roads.
        rng (np.random.Generator): Source of all random choices.

    Returns:
        StaticScene: The static primitives (scene frame) and footprints.
    """
    builder = _StaticBuilder()
    hw, sw = layout.half_width, layout.sidewalk_width
    for yaw, side in _ROAD_SIDES:
        for lo, hi in _free_intervals(layout, yaw, 0.0):
            # Raised sidewalk slabs in 20 m pieces (tighter ray culling).
            edges = np.arange(lo, hi, 20.0).tolist() + [hi]
            for a, b in zip(edges[:-1], edges[1:]):
                if b - a < 0.5:
                    continue
                x, y = _side_to_scene(layout, (a + b) / 2, hw + sw / 2, yaw,
                                      side)
                builder.add([(BOX, (x, y, SIDEWALK_HEIGHT / 2),
                              ((b - a) / 2, sw / 2, SIDEWALK_HEIGHT / 2), yaw,
                              _GROUND_REFLECTIVITY[_SIDEWALK])], _SIDEWALK)
        for lo, hi in _free_intervals(layout, yaw, 2.0):
            _add_buildings(builder, layout, lo, hi, yaw, side, rng)
            _add_street_furniture(builder, layout, lo, hi, yaw, side, rng)
    return StaticScene(layout, builder.to_set(), builder.num_groups,
                       np.array(builder.footprints).reshape(-1, 3))


def _add_buildings(builder: _StaticBuilder, layout: RoadLayout, lo: float,
                   hi: float, yaw: float, side: float,
                   rng: np.random.Generator) -> None:
    """Line one road side with building blocks, trees and walls in the
    gaps."""
    front = layout.half_width + layout.sidewalk_width + layout.verge_width
    pos = lo + rng.uniform(0, 6)
    while pos < hi - 4:
        frontage = min(rng.uniform(8, 32), hi - pos)
        depth = rng.uniform(8, 20)
        height = rng.uniform(4, 24)
        setback = rng.uniform(0, 3)
        x, y = _side_to_scene(layout, pos + frontage / 2,
                              front + setback + depth / 2, yaw, side)
        parts = [(BOX, (x, y, height / 2), (frontage / 2, depth / 2,
                                            height / 2), yaw,
                  rng.uniform(20, 90))]
        if rng.random() < 0.5:
            # Ground-floor shop windows: dark glass 2 cm proud of the wall.
            parts.append((BOX, (x, y, 1.6), (frontage / 2 - 0.5,
                                             depth / 2 + 0.02, 1.2), yaw, 6.0))
        builder.add(parts, _MANMADE)
        pos += frontage
        gap = rng.uniform(0, 10)
        if gap > 3:
            _add_tree(builder, layout, pos + gap / 2,
                      front + rng.uniform(1, 4), yaw, side, rng)
        elif gap > 1 and rng.random() < 0.5:
            x, y = _side_to_scene(layout, pos + gap / 2, front + 0.2, yaw,
                                  side)
            builder.add([(BOX, (x, y, 1.0),
                          (gap / 2, 0.1, 1.0), yaw, rng.uniform(20, 50))],
                        _MANMADE)
        pos += gap


def _add_tree(builder: _StaticBuilder, layout: RoadLayout, along: float,
              lateral: float, yaw: float, side: float,
              rng: np.random.Generator) -> None:
    """A trunk and an ellipsoidal crown (both ``static.vegetation``)."""
    x, y = _side_to_scene(layout, along, lateral, yaw, side)
    trunk_h = rng.uniform(1.8, 4.0)
    crown = rng.uniform(1.5, 3.5)
    r_trunk = rng.uniform(0.12, 0.3)
    builder.add([
        (CYLINDER_Z, (x, y, trunk_h / 2),
         (r_trunk, r_trunk, trunk_h / 2), 0.0, 25.0),
        (ELLIPSOID, (x, y, trunk_h + crown * 0.8),
         (crown, crown, crown * rng.uniform(0.8, 1.3)), 0.0, rng.uniform(
             20, 50)),
    ],
                _VEGETATION,
                footprint=(x, y, r_trunk + 0.3))


def _add_street_furniture(builder: _StaticBuilder, layout: RoadLayout,
                          lo: float, hi: float, yaw: float, side: float,
                          rng: np.random.Generator) -> None:
    """Street lights, signs and bins on the sidewalk; bushes on the
    verge."""
    hw, sw, verge = layout.half_width, layout.sidewalk_width, \
        layout.verge_width
    top = SIDEWALK_HEIGHT
    for along in np.arange(lo + rng.uniform(2, 15), hi - 1,
                           rng.uniform(22, 35)):
        x, y = _side_to_scene(layout, along, hw + 0.5, yaw, side)
        height = rng.uniform(6, 9)
        ax, ay = _side_to_scene(layout, along, hw - 0.05, yaw, side)
        builder.add([
            (CYLINDER_Z, (x, y, top + height / 2),
             (0.1, 0.1, height / 2), 0.0, 30.0),
            (BOX, (ax, ay, top + height - 0.1), (0.06, 0.55, 0.06), yaw, 30.0),
        ],
                    _MANMADE,
                    footprint=(x, y, 0.4))
    for along in rng.uniform(lo, hi, size=int((hi - lo) / 40) + 1):
        x, y = _side_to_scene(layout, along, hw + 0.6, yaw, side)
        builder.add([
            (CYLINDER_Z, (x, y, top + 1.2), (0.04, 0.04, 1.2), 0.0, 30.0),
            (BOX, (x, y, top + 2.2), (0.03, 0.35, 0.35), yaw, 200.0),
        ],
                    _MANMADE,
                    footprint=(x, y, 0.5))
    for along in rng.uniform(lo, hi, size=int((hi - lo) / 30) + 1):
        x, y = _side_to_scene(layout, along, hw + sw - 0.5, yaw, side)
        builder.add([(BOX, (x, y, top + 0.45),
                      (0.3, 0.3, 0.45), yaw, rng.uniform(10, 40))],
                    _STATIC_OTHER,
                    footprint=(x, y, 0.6))
    if verge < 1.5:
        return
    for along in rng.uniform(lo, hi, size=int((hi - lo) / 12) + 1):
        x, y = _side_to_scene(layout, along,
                              hw + sw + rng.uniform(0.5, verge - 0.5), yaw,
                              side)
        r = rng.uniform(0.4, 1.2)
        builder.add(
            [(ELLIPSOID, (x, y, r * 0.6),
              (r * rng.uniform(1, 2), r, r * 0.8), yaw, rng.uniform(15, 35))],
            _VEGETATION,
            footprint=(x, y, r * 2))
