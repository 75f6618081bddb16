# Copyright (c) OpenMMLab. All rights reserved.
"""Synthetic LiDAR driving scenes written in the exact nuScenes format.

Entry point: :func:`generate_synthetic_nuscenes` with a
:class:`SyntheticNuScenesConfig` (CLI: ``tools/make_synthetic_nuscenes.py``).
The building blocks (primitives and their ray intersection, object shapes,
road layout, lidar model) are exported for users who compose their own
scenes.
"""
from .generator import (MINI_SCENE_NAMES, GenerationSummary,
                        SyntheticNuScenesConfig, SyntheticScene, build_scene,
                        generate_synthetic_nuscenes)
from .lidar import LidarConfig, LidarSimulator, LidarSweep
from .primitives import PrimitiveSet, intersect_pairs
from .scene_layout import RoadLayout, StaticScene, build_static_scene
from .shapes import build_ego_vehicle_shape, build_object_shape
from .taxonomy import (DETECTION_CLASSES, LIDARSEG_CATEGORIES, LIDARSEG_INDEX,
                       DetectionClassSpec)

__all__ = [
    'MINI_SCENE_NAMES', 'GenerationSummary', 'SyntheticNuScenesConfig',
    'SyntheticScene', 'build_scene', 'generate_synthetic_nuscenes',
    'LidarConfig', 'LidarSimulator', 'LidarSweep', 'PrimitiveSet',
    'intersect_pairs', 'RoadLayout', 'StaticScene', 'build_static_scene',
    'build_ego_vehicle_shape', 'build_object_shape', 'DETECTION_CLASSES',
    'LIDARSEG_CATEGORIES', 'LIDARSEG_INDEX', 'DetectionClassSpec'
]
