# Copyright (c) OpenMMLab. All rights reserved.
"""Traffic participants and the ego vehicle: classes, sizes and motion.

Objects of the 10 nuScenes detection classes are drawn with a Zipf law
over class ranks (``p(rank) ∝ rank ** -exponent``: many cars and
pedestrians, few trailers and construction vehicles), given a size around
the nuScenes class mean, a state (moving, stopped, parked, with or without
a rider, walking or standing) that fixes their nuScenes attribute and
velocity, and placed where their class belongs (lanes, curbs, sidewalks,
lane lines) without overlapping each other, street furniture or the ego
car at any time of the scene. Every object moves at a constant velocity
along its heading, so the annotation-based velocities the devkit derives
(finite differences) are the simulated ones.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .primitives import PrimitiveSet
from .scene_layout import LANE_WIDTH, SIDEWALK_HEIGHT, StaticScene
from .shapes import build_object_shape
from .taxonomy import DETECTION_CLASS_BY_NAME, DETECTION_CLASSES


@dataclass
class Actor:
    """One annotated object of a scene.

    Args:
        class_name (str): nuScenes detection class.
        wlh (tuple[float, float, float]): Box (width, length, height), m.
        bottom_center (np.ndarray): (3,) centre (x, y, z) of the box's
            bottom face at scene time 0, scene frame.
        yaw (float): Heading (box length axis) about +z, radians.
        velocity (np.ndarray): (2,) constant ground velocity (vx, vy), m/s.
        attribute (str, optional): nuScenes attribute name, None for
            barriers and cones.
        shape (PrimitiveSet): Geometry in the object frame (group 0).
    """

    class_name: str
    wlh: Tuple[float, float, float]
    bottom_center: np.ndarray
    yaw: float
    velocity: np.ndarray
    attribute: Optional[str]
    shape: PrimitiveSet = field(repr=False)

    def bottom_center_at(self, t: float) -> np.ndarray:
        """(3,) bottom-face centre (x, y, z) at scene time ``t`` (s)."""
        return self.bottom_center + np.array(
            [self.velocity[0] * t, self.velocity[1] * t, 0.0])

    def box_center_at(self, t: float) -> np.ndarray:
        """(3,) box centre (x, y, z) at scene time ``t`` (s)."""
        return self.bottom_center_at(t) + np.array([0, 0, self.wlh[2] / 2])


@dataclass
class EgoTrajectory:
    """Constant-velocity drive of the ego car along the main road.

    Args:
        start (np.ndarray): (2,) ego-frame origin (x, y) at time 0, scene
            frame (the origin is on the ground below the rear axle).
        yaw (float): Heading about +z, radians.
        speed (float): Speed along the heading, m/s.
    """

    start: np.ndarray
    yaw: float
    speed: float

    def position_at(self, t: float) -> np.ndarray:
        """(3,) ego origin (x, y, 0) at scene time ``t`` (s)."""
        step = self.speed * t
        return np.array([
            self.start[0] + step * np.cos(self.yaw),
            self.start[1] + step * np.sin(self.yaw), 0.0
        ])

    @classmethod
    def sample(cls, static: StaticScene, duration: float,
               rng: np.random.Generator) -> 'EgoTrajectory':
        """Drive in a +x lane of the main road, centred on x = 0."""
        lane = int(rng.integers(static.layout.lanes_per_direction))
        speed = 0.0 if rng.random() < 0.15 else float(rng.uniform(3, 11))
        x0 = -speed * duration / 2 + float(rng.uniform(-5, 5))
        return cls(np.array([x0, -(lane + 0.5) * LANE_WIDTH]), 0.0, speed)


def _discs(center: np.ndarray, yaw: float, length: float,
           width: float) -> np.ndarray:
    """Cover a (length x width) footprint with discs along its axis.

    Args:
        center (np.ndarray): (T, 2) footprint centres at T times.
        yaw (float): Heading of the length axis.
        length (float): Footprint length (m).
        width (float): Footprint width (m).

    Returns:
        np.ndarray: (T, D, 3) discs (x, y, radius) at each time.
    """
    if width > length:
        yaw, length, width = yaw + np.pi / 2, width, length
    count = max(1, int(np.ceil(length / max(width, 1e-3))))
    offsets = np.linspace(-(length - width) / 2, (length - width) /
                          2, count) if count > 1 else np.zeros(1)
    axis = np.array([np.cos(yaw), np.sin(yaw)])
    xy = center[:, None, :] + offsets[None, :, None] * axis
    radius = np.hypot(min(length, width) / 2, length / count / 2)
    return np.concatenate([xy, np.full(xy.shape[:2] + (1, ), radius)], axis=2)


class _Occupancy:
    """Discs taken over time; rejects placements that would overlap.

    Args:
        times (np.ndarray): (T,) scene times at which overlap is checked.
    """

    def __init__(self, times: np.ndarray) -> None:
        self.times = times
        self.discs = np.zeros((len(times), 0, 3))

    def add(self, discs: np.ndarray) -> None:
        """Take (T, D, 3) discs."""
        self.discs = np.concatenate([self.discs, discs], axis=1)

    def is_free(self, discs: np.ndarray, clearance: float) -> bool:
        """Whether (T, D, 3) discs keep ``clearance`` metres from all."""
        if self.discs.shape[1] == 0:
            return True
        gap = np.linalg.norm(
            discs[:, :, None, :2] - self.discs[:, None, :, :2], axis=-1)
        reach = discs[:, :, None, 2] + self.discs[:, None, :, 2] + clearance
        return bool((gap >= reach).all())


@dataclass
class _Slot:
    """A candidate placement: position, heading, velocity, ground height."""

    xy: np.ndarray
    yaw: float
    speed: float
    base_z: float


class ActorPlacer:
    """Draws and places the objects of one scene.

    Args:
        static (StaticScene): Roads and static structures.
        ego (EgoTrajectory): The ego drive (kept clear of objects).
        times (np.ndarray): (T,) scene times (s) at which objects must not
            overlap (keyframes and the instants between them).
        radius (float): Objects are placed within this distance (m) of the
            ego's mid-scene position, along the roads.
        rng (np.random.Generator): Source of all random choices.
    """

    _TRIES = 40

    def __init__(self, static: StaticScene, ego: EgoTrajectory,
                 times: np.ndarray, radius: float,
                 rng: np.random.Generator) -> None:
        self.layout = static.layout
        self.ego = ego
        self.times = times
        self.radius = radius
        self.rng = rng
        self.centre = ego.position_at(float(times[-1]) / 2)[:2]
        self.occupancy = _Occupancy(times)
        footprints = np.broadcast_to(static.footprints[None],
                                     (len(times), ) + static.footprints.shape)
        self.occupancy.add(np.array(footprints))
        ego_xy = np.stack([ego.position_at(t)[:2] for t in times])
        ego_axis = np.array([np.cos(ego.yaw), np.sin(ego.yaw)])
        self.occupancy.add(_discs(ego_xy + 1.3 * ego_axis, ego.yaw, 4.6, 1.9))

    def _size(self, class_name: str,
              rider: bool) -> Tuple[float, float, float]:
        """Draw (w, l, h): the class mean, scaled by a shared and a
        per-dimension log-normal factor; cycles with a rider are taller."""
        mean = np.array(DETECTION_CLASS_BY_NAME[class_name].mean_wlh)
        if class_name in ('bicycle', 'motorcycle'):
            mean[2] = 1.7 if rider else 1.15
        scale = np.exp(
            self.rng.normal(0, 0.08) + self.rng.normal(0, 0.05, size=3))
        return tuple(float(v) for v in np.round(mean * scale, 3))

    def _road_point(self, lateral: float, direction: int,
                    on_main: bool) -> Tuple[np.ndarray, float]:
        """Point ``lateral`` m right of the centre line for traffic going
        ``direction`` (+1/-1) along the main or the side road, at a random
        distance along it; returns (xy, heading)."""
        along = self.rng.uniform(-self.radius, self.radius)
        if on_main:
            xy = np.array([self.centre[0] + along, -direction * lateral])
            return xy, 0.0 if direction > 0 else np.pi
        xy = np.array([
            self.layout.cross_x + direction * lateral, self.centre[1] + along
        ])
        return xy, np.pi / 2 if direction > 0 else -np.pi / 2

    def _slot(self, where: str, width: float) -> _Slot:
        """Draw a slot of kind ``where``: ``lane``, ``curb``, ``sidewalk``
        or ``cycle_lane``; headings follow right-hand traffic."""
        hw, lanes = self.layout.half_width, self.layout.lanes_per_direction
        direction = 1 if self.rng.random() < 0.5 else -1
        on_main = self.rng.random() < 0.7
        if where == 'lane':
            lateral = (self.rng.integers(lanes) + 0.5) * LANE_WIDTH
            base_z = 0.0
        elif where == 'curb':
            lateral = hw - width / 2 - 0.25
            base_z = 0.0
        elif where == 'cycle_lane':
            lateral = hw - 0.8
            base_z = 0.0
        else:
            sw = self.layout.sidewalk_width
            lateral = hw + self.rng.uniform(
                0.3 + width / 2, max(0.3 + width / 2, sw - 0.3 - width / 2))
            base_z = SIDEWALK_HEIGHT
        xy, yaw = self._road_point(lateral, direction, on_main)
        return _Slot(xy, yaw + self.rng.normal(0, 0.03), 0.0, base_z)

    def _on_sidewalk(self, xy: np.ndarray, length: float) -> np.ndarray:
        """(T,) bool: (T, 2) points are on a raised sidewalk, ``length``/2
        clear of its ends at the crossing."""
        hw, sw = self.layout.half_width, self.layout.sidewalk_width
        dx = np.abs(xy[:, 0] - self.layout.cross_x)
        dy = np.abs(xy[:, 1])
        main = (dy > hw) & (dy < hw + sw) & (dx > hw + sw + length / 2)
        cross = (dx > hw) & (dx < hw + sw) & (dy > hw + sw + length / 2)
        return main | cross

    def _fits(self, slot: _Slot, wlh: Tuple[float, float, float],
              clearance: float) -> Optional[np.ndarray]:
        """Discs of the placement if it overlaps nothing, else None."""
        axis = np.array([np.cos(slot.yaw), np.sin(slot.yaw)])
        xy = slot.xy[None] + slot.speed * self.times[:, None] * axis
        if slot.base_z > 0 and not self._on_sidewalk(xy, wlh[1]).all():
            return None
        discs = _discs(xy, slot.yaw, wlh[1], wlh[0])
        return discs if self.occupancy.is_free(discs, clearance) else None

    def _commit(self, class_name: str, wlh: Tuple[float, float, float],
                slot: _Slot, discs: np.ndarray, attribute: Optional[str],
                rider: bool) -> Actor:
        self.occupancy.add(discs)
        velocity = slot.speed * np.array([np.cos(slot.yaw), np.sin(slot.yaw)])
        shape = build_object_shape(class_name, wlh, rider, slot.speed > 0,
                                   self.rng)
        return Actor(class_name, wlh,
                     np.array([slot.xy[0], slot.xy[1], slot.base_z]),
                     float(slot.yaw), velocity, attribute, shape)

    def _state(self,
               class_name: str) -> Tuple[str, float, Optional[str], bool]:
        """Draw (slot kind, speed, attribute, rider) for one object."""
        u = self.rng.random()
        if class_name in ('car', 'truck', 'bus', 'construction_vehicle'):
            p_move, p_stop, top = {
                'car': (0.45, 0.15, 13.0),
                'truck': (0.5, 0.15, 11.0),
                'bus': (0.6, 0.4, 10.0),
                'construction_vehicle': (0.3, 0.0, 4.0),
            }[class_name]
            if u < p_move:
                return ('lane', self.rng.uniform(top / 3,
                                                 top), 'vehicle.moving', False)
            if u < p_move + p_stop:
                return 'lane', 0.0, 'vehicle.stopped', False
            return 'curb', 0.0, 'vehicle.parked', False
        if class_name == 'trailer':
            return 'curb', 0.0, 'vehicle.parked', False
        if class_name == 'pedestrian':
            if u < 0.6:
                return ('sidewalk', self.rng.uniform(0.8, 1.8),
                        'pedestrian.moving', False)
            return 'sidewalk', 0.0, 'pedestrian.standing', False
        if class_name in ('bicycle', 'motorcycle'):
            if u < 0.55:
                top = 6.0 if class_name == 'bicycle' else 12.0
                where = 'cycle_lane' if class_name == 'bicycle' else 'lane'
                return where, self.rng.uniform(top / 3, top), \
                    'cycle.with_rider', True
            return 'sidewalk', 0.0, 'cycle.without_rider', False
        raise ValueError(f'{class_name!r} is placed in rows, not alone')

    def place_single(self, class_name: str) -> Optional[Actor]:
        """Place one vehicle, cycle or pedestrian; None if no room."""
        where, speed, attribute, rider = self._state(class_name)
        wlh = self._size(class_name, rider)
        clearance = 0.3 if class_name != 'pedestrian' else 0.15
        for _ in range(self._TRIES):
            slot = self._slot(where, wlh[0])
            slot.speed = speed
            if class_name == 'pedestrian' and speed == 0.0:
                slot.yaw = self.rng.uniform(-np.pi, np.pi)
            discs = self._fits(slot, wlh, clearance)
            if discs is not None:
                return self._commit(class_name, wlh, slot, discs, attribute,
                                    rider)
        return None

    def place_row(self, class_name: str, count: int) -> List[Actor]:
        """Place ``count`` barriers or cones in a row; members that would
        overlap something are left out.

        Barriers line the verge (on the sidewalk's outer edge where the
        verge is too narrow), cones stand on a lane line.
        """
        direction = 1 if self.rng.random() < 0.5 else -1
        on_main = self.rng.random() < 0.7
        hw, sw = self.layout.half_width, self.layout.sidewalk_width
        base_z = 0.0
        if class_name == 'barrier':
            if self.layout.verge_width > 1.2:
                lateral = hw + sw + 0.5
            else:
                lateral, base_z = hw + sw - 0.35, SIDEWALK_HEIGHT
        else:
            line = int(self.rng.integers(self.layout.lanes_per_direction + 1))
            lateral = line * LANE_WIDTH
        start, heading = self._road_point(lateral, direction, on_main)
        axis = np.array([np.cos(heading), np.sin(heading)])
        actors = []
        along = 0.0
        for _ in range(count):
            wlh = self._size(class_name, False)
            if class_name == 'barrier':
                # The long side (box width) runs along the road.
                yaw = heading + np.pi / 2
                along += wlh[0] + 0.3
            else:
                yaw = self.rng.uniform(-np.pi, np.pi)
                along += self.rng.uniform(2.0, 4.0)
            slot = _Slot(start + along * axis, float(yaw), 0.0, base_z)
            discs = self._fits(slot, wlh, 0.1)
            if discs is not None:
                actors.append(
                    self._commit(class_name, wlh, slot, discs, None, False))
        return actors


def class_counts(num_objects: int, exponent: float,
                 rng: np.random.Generator) -> dict:
    """Split ``num_objects`` over the 10 classes by a Zipf law.

    When there are at least as many objects as classes, every class gets
    one object first (so each scene shows all classes) and the rest are
    drawn from the law.

    Args:
        num_objects (int): Total number of objects to draw.
        exponent (float): Zipf exponent s in ``p(rank) ∝ rank ** -s``.
        rng (np.random.Generator): Source of the multinomial draw.

    Returns:
        dict[str, int]: Object count per detection class.
    """
    ranks = np.array([spec.zipf_rank for spec in DETECTION_CLASSES], float)
    prob = ranks**-exponent
    base = 1 if num_objects >= len(ranks) else 0
    counts = base + rng.multinomial(num_objects - base * len(ranks),
                                    prob / prob.sum())
    return {spec.name: int(c) for spec, c in zip(DETECTION_CLASSES, counts)}


def place_actors(static: StaticScene, ego: EgoTrajectory, times: np.ndarray,
                 mean_objects: float, zipf_exponent: float, radius: float,
                 rng: np.random.Generator) -> List[Actor]:
    """Draw the objects of a scene and place them.

    Args:
        static (StaticScene): Roads and static structures.
        ego (EgoTrajectory): The ego drive.
        times (np.ndarray): (T,) scene times (s) checked for overlaps.
        mean_objects (float): Mean object count (Poisson).
        zipf_exponent (float): Exponent of the class frequency law.
        radius (float): Placement radius around the ego (m).
        rng (np.random.Generator): Source of all random choices.

    Returns:
        list[Actor]: The placed objects (some draws are dropped when no
        room is left).
    """
    placer = ActorPlacer(static, ego, times, radius, rng)
    counts = class_counts(int(rng.poisson(mean_objects)), zipf_exponent, rng)
    actors: List[Actor] = []
    # Large vehicles first (the hardest to fit), then the rows of barriers
    # and cones (they need free curb and lane-line stretches).
    for name in ('bus', 'trailer', 'truck', 'construction_vehicle'):
        actors.extend(
            filter(None,
                   (placer.place_single(name) for _ in range(counts[name]))))
    for name, (low, high) in (('barrier', (2, 7)), ('traffic_cone', (3, 9))):
        remaining = counts[name]
        while remaining > 0:
            size = min(remaining, int(rng.integers(low, high)))
            actors.extend(placer.place_row(name, size))
            remaining -= size
    for name in ('car', 'motorcycle', 'bicycle', 'pedestrian'):
        actors.extend(
            filter(None,
                   (placer.place_single(name) for _ in range(counts[name]))))
    return actors
