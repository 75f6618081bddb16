# Copyright (c) OpenMMLab. All rights reserved.
"""The nuScenes vocabularies the synthetic generator writes.

Everything here is nuScenes' own fixed vocabulary (v1.0 + lidarseg), so that
the tables it produces are interchangeable with the real ones:

* the 32 lidarseg categories with their label indices (``category.json``
  ``index`` field, and the uint8 values of ``*_lidarseg.bin`` files),
* the 8 attributes and 4 visibility levels,
* the sensor channels of the nuScenes car,
* for the 10 detection classes: the category each one is annotated as, the
  mean box size (w, l, h) in metres, and the class's rank in the long-tailed
  (Zipf) frequency law used to populate scenes.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

# (index, name, description) of the 32 nuScenes-lidarseg categories; the
# index is the value stored per point in lidarseg/<version>/*_lidarseg.bin.
LIDARSEG_CATEGORIES: Tuple[Tuple[int, str, str], ...] = (
    (0, 'noise', 'Any lidar return that does not correspond to a physical '
     'object, such as dust, vapor, noise, fog, raindrops, smoke and '
     'reflections.'),
    (1, 'animal', 'All animals, e.g. cats, rats, dogs, deer, birds.'),
    (2, 'human.pedestrian.adult', 'Adult subcategory.'),
    (3, 'human.pedestrian.child', 'Child subcategory.'),
    (4, 'human.pedestrian.construction_worker', 'Construction worker'),
    (5, 'human.pedestrian.personal_mobility',
     'A small electric or self-propelled vehicle, e.g. skateboard, segway, '
     'or scooters, on which the person typically travels in a upright '
     'position.'),
    (6, 'human.pedestrian.police_officer', 'Police officer.'),
    (7, 'human.pedestrian.stroller',
     'Strollers. If a person is in the stroller, include in the annotation.'),
    (8, 'human.pedestrian.wheelchair',
     'Wheelchairs. If a person is in the wheelchair, include in the '
     'annotation.'),
    (9, 'movable_object.barrier',
     'Temporary road barrier placed in the scene in order to redirect '
     'traffic.'),
    (10, 'movable_object.debris',
     'Movable object that is left on the driveable surface.'),
    (11, 'movable_object.pushable_pullable',
     'Objects that a pedestrian may push or pull.'),
    (12, 'movable_object.trafficcone', 'All types of traffic cone.'),
    (13, 'static_object.bicycle_rack', 'Area or device intended to park or '
     'secure the bicycles in a row.'),
    (14, 'vehicle.bicycle', 'Human or electric powered 2-wheeled vehicle '
     'designed to travel at lower speeds.'),
    (15, 'vehicle.bus.bendy', 'Bendy bus subcategory.'),
    (16, 'vehicle.bus.rigid', 'Rigid bus subcategory.'),
    (17, 'vehicle.car', 'Vehicle designed primarily for personal use, e.g. '
     'sedans, hatch-backs, wagons, vans, mini-vans, SUVs and jeeps.'),
    (18, 'vehicle.construction',
     'Vehicles primarily designed for construction.'),
    (19, 'vehicle.emergency.ambulance', 'All types of ambulances.'),
    (20, 'vehicle.emergency.police', 'All types of police vehicles.'),
    (21, 'vehicle.motorcycle', 'Gasoline or electric powered 2-wheeled '
     'vehicle designed to move rapidly (at the speed of standard cars).'),
    (22, 'vehicle.trailer', 'Any vehicle trailer, both for trucks, cars and '
     'bikes.'),
    (23, 'vehicle.truck', 'Vehicles primarily designed to haul cargo.'),
    (24, 'flat.driveable_surface', 'All paved or unpaved surfaces that a '
     'car can drive on with no concern of traffic rules.'),
    (25, 'flat.other', 'All other forms of horizontal ground-level '
     'structures that do not belong to any of driveable_surface, curb, '
     'sidewalk and terrain.'),
    (26, 'flat.sidewalk', 'Sidewalk, pedestrian walkways, bike paths, etc.'),
    (27, 'flat.terrain', 'Natural horizontal surfaces such as ground level '
     'horizontal vegetation (< 20 cm tall), grass, rolling hills, soil, '
     'sand and gravel.'),
    (28, 'static.manmade', 'Includes man-made structures but not limited '
     'to: buildings, walls, guard rails, fences, poles, drainages, '
     'hydrants, flags, banners, street signs, electric circuit boxes, '
     'traffic lights, parking meters and stairs.'),
    (29, 'static.other', 'Points in the background that are not '
     'distinguishable, or objects that do not match any of the above '
     'labels.'),
    (30, 'static.vegetation', 'Any vegetation in the frame that is higher '
     'than the ground, including bushes, plants, potted plants, trees, '
     'etc.'),
    (31, 'vehicle.ego', 'The vehicle on which the cameras, radar and lidar '
     'are mounted, that is sometimes visible at the bottom of the image.'),
)

LIDARSEG_INDEX: Dict[str, int] = {
    name: index
    for index, name, _ in LIDARSEG_CATEGORIES
}

# (name, description) of the nuScenes attributes.
ATTRIBUTES: Tuple[Tuple[str, str], ...] = (
    ('vehicle.moving', 'Vehicle is moving.'),
    ('vehicle.stopped', 'Vehicle, with a driver/rider in/on it, is currently '
     'stationary but has an intent to move.'),
    ('vehicle.parked', 'Vehicle is stationary (usually for longer duration) '
     'with no immediate intent to move.'),
    ('cycle.with_rider', 'There is a rider on the bicycle or motorcycle.'),
    ('cycle.without_rider', 'There is NO rider on the bicycle or motorcycle.'),
    ('pedestrian.sitting_lying_down', 'The human is sitting or lying down.'),
    ('pedestrian.standing', 'The human is standing.'),
    ('pedestrian.moving', 'The human is moving.'),
)

# (token, level, description) of the nuScenes visibility table; nuScenes
# uses the strings '1'..'4' as tokens, not 32-hex tokens.
VISIBILITY_LEVELS: Tuple[Tuple[str, str, str], ...] = (
    ('1', 'v0-40', 'visibility of whole object is between 0 and 40%'),
    ('2', 'v40-60', 'visibility of whole object is between 40 and 60%'),
    ('3', 'v60-80', 'visibility of whole object is between 60 and 80%'),
    ('4', 'v80-100', 'visibility of whole object is between 80 and 100%'),
)

LIDAR_CHANNEL = 'LIDAR_TOP'
CAMERA_CHANNELS: Tuple[str, ...] = ('CAM_FRONT', 'CAM_FRONT_RIGHT',
                                    'CAM_FRONT_LEFT', 'CAM_BACK',
                                    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')


@dataclass(frozen=True)
class DetectionClassSpec:
    """What the generator needs to know about one nuScenes detection class.

    Args:
        name (str): nuScenes detection name, e.g. ``'car'``.
        category (str): nuScenes category the objects are annotated as,
            e.g. ``'vehicle.car'`` (its lidarseg index labels their points).
        mean_wlh (tuple[float, float, float]): Mean annotation box size
            (width, length, height) in metres, as in nuScenes.
        zipf_rank (int): 1-based rank in the class frequency law
            ``p(rank) ∝ rank ** -exponent``.
    """

    name: str
    category: str
    mean_wlh: Tuple[float, float, float]
    zipf_rank: int

    @property
    def lidarseg_index(self) -> int:
        """int: lidarseg label index of the class's category."""
        return LIDARSEG_INDEX[self.category]


# Mean sizes are the nuScenes train-set means (w, l, h); ranks roughly
# follow the nuScenes annotation counts (cars most, construction vehicles
# least).
DETECTION_CLASSES: Tuple[DetectionClassSpec, ...] = (
    DetectionClassSpec('car', 'vehicle.car', (1.95, 4.60, 1.73), 1),
    DetectionClassSpec('pedestrian', 'human.pedestrian.adult',
                       (0.67, 0.73, 1.77), 2),
    DetectionClassSpec('traffic_cone', 'movable_object.trafficcone',
                       (0.41, 0.41, 1.07), 3),
    DetectionClassSpec('barrier', 'movable_object.barrier', (2.49, 0.48, 0.98),
                       4),
    DetectionClassSpec('truck', 'vehicle.truck', (2.51, 6.93, 2.84), 5),
    DetectionClassSpec('motorcycle', 'vehicle.motorcycle', (0.77, 2.11, 1.47),
                       6),
    DetectionClassSpec('bicycle', 'vehicle.bicycle', (0.60, 1.70, 1.28), 7),
    DetectionClassSpec('bus', 'vehicle.bus.rigid', (2.94, 10.50, 3.47), 8),
    DetectionClassSpec('trailer', 'vehicle.trailer', (2.90, 12.29, 3.87), 9),
    DetectionClassSpec('construction_vehicle', 'vehicle.construction',
                       (2.73, 6.37, 3.19), 10),
)

DETECTION_CLASS_BY_NAME: Dict[str, DetectionClassSpec] = {
    spec.name: spec
    for spec in DETECTION_CLASSES
}
