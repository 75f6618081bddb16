# Copyright (c) OpenMMLab. All rights reserved.
"""Extrinsics and intrinsics of the nuScenes car's LIDAR_TOP and cameras.

The LIDAR_TOP calibration is the real one of nuScenes log
n015-2018-07-24-11-22-45+0800 (the lidar's x axis points to the car's
right, y forward). Camera poses follow the nuScenes rig (six cameras at
0, +-55, +-110 and 180 degrees); their intrinsics are those of a 1600 x 900
nuScenes camera scaled to the small placeholder images the generator
writes (the mmdet3d converter needs camera records, not camera content).
"""
from typing import Dict, List, Tuple

import numpy as np
from pyquaternion import Quaternion

from .taxonomy import CAMERA_CHANNELS

LIDAR_TRANSLATION: Tuple[float, float, float] = (0.943713, 0.0, 1.84023)
LIDAR_ROTATION: Tuple[float, float, float,
                      float] = (0.7077955119163518, -0.006492242056004365,
                                0.010646214713995808, -0.7063073142877817)

# channel: (translation (x, y, z) in the ego frame, yaw of the optical axis)
_CAMERA_POSES: Dict[str, Tuple[Tuple[float, float, float], float]] = {
    'CAM_FRONT': ((1.70, 0.016, 1.51), 0.0),
    'CAM_FRONT_RIGHT': ((1.55, -0.49, 1.50), -55.0),
    'CAM_FRONT_LEFT': ((1.52, 0.49, 1.51), 55.0),
    'CAM_BACK': ((0.03, 0.0, 1.57), 180.0),
    'CAM_BACK_LEFT': ((1.04, 0.48, 1.57), 110.0),
    'CAM_BACK_RIGHT': ((1.04, -0.48, 1.56), -110.0),
}
_FOCAL_1600 = 1266.4  # pixels, for nuScenes' 1600 x 900 images

# Columns: the optical frame's x (right), y (down), z (forward) in a
# camera-aligned ego frame.
_OPTICAL_TO_FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0],
                                [0.0, -1.0, 0.0]])


def pose_matrix(translation: List[float], rotation: List[float]) -> \
        np.ndarray:
    """(4, 4) homogeneous transform from a nuScenes translation and a
    (w, x, y, z) rotation quaternion."""
    matrix = np.eye(4)
    matrix[:3, :3] = Quaternion(rotation).rotation_matrix
    matrix[:3, 3] = translation
    return matrix


def yaw_quaternion(yaw: float) -> List[float]:
    """(w, x, y, z) quaternion of a rotation by ``yaw`` radians about +z."""
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]


def camera_calibrations(width: int, height: int) -> \
        Dict[str, Tuple[List[float], List[float], List[List[float]]]]:
    """Calibration of the six cameras for images of ``width x height``.

    Returns:
        dict[str, tuple]: Per channel, (translation, rotation quaternion
        (w, x, y, z), 3x3 intrinsic matrix), camera-to-ego.
    """
    focal = _FOCAL_1600 * width / 1600
    intrinsic = [[focal, 0.0, width / 2], [0.0, focal, height / 2],
                 [0.0, 0.0, 1.0]]
    result = {}
    for channel in CAMERA_CHANNELS:
        translation, yaw_deg = _CAMERA_POSES[channel]
        yaw = np.radians(yaw_deg)
        rot_z = np.array([[np.cos(yaw), -np.sin(yaw), 0],
                          [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        rotation = Quaternion(matrix=rot_z @ _OPTICAL_TO_FORWARD)
        result[channel] = (list(translation),
                           [float(v) for v in rotation.elements], intrinsic)
    return result
