# Copyright (c) OpenMMLab. All rights reserved.
"""Generate a synthetic LiDAR dataset in the exact nuScenes v1.0 layout.

``generate_synthetic_nuscenes(out_dir, SyntheticNuScenesConfig(...))``
writes, under ``out_dir``::

    v1.0-mini/{13 tables, lidarseg}.json
    maps/<token>.png                            driveable-area raster
    samples/LIDAR_TOP/<log>__LIDAR_TOP__<us>.pcd.bin   keyframes, float32 x5
    sweeps/LIDAR_TOP/<log>__LIDAR_TOP__<us>.pcd.bin    20 Hz sweeps between
    samples/CAM_*/<log>__CAM_*__<us>.jpg        small placeholder images
    lidarseg/v1.0-mini/<sample_data_token>_lidarseg.bin  uint8 per point

Scenes carry the names of nuScenes' ``mini_train``/``mini_val`` splits (in
sorted order, so two scenes already give one of each), so the devkit, its
detection evaluation and mmdet3d's converter treat the set as v1.0-mini.
Each scene is drawn from its own ``numpy`` generator seeded with
``(seed, scene_index)``: the output is a pure function of the config.
"""
import io
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from nuscenes.utils import splits
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box
from PIL import Image
from pyquaternion import Quaternion

from .actors import Actor, EgoTrajectory, place_actors
from .lidar import LidarConfig, LidarSimulator, LidarSweep
from .primitives import PrimitiveSet
from .scene_layout import RoadLayout, StaticScene, build_static_scene
from .sensor_rig import (LIDAR_ROTATION, LIDAR_TRANSLATION,
                         camera_calibrations, pose_matrix, yaw_quaternion)
from .shapes import build_ego_vehicle_shape
from .tables import NuScenesTables, make_token
from .taxonomy import (CAMERA_CHANNELS, DETECTION_CLASS_BY_NAME, LIDAR_CHANNEL,
                       VISIBILITY_LEVELS)

# Scene names of nuScenes v1.0-mini, sorted: scene-0061 (train),
# scene-0103 (val), scene-0553, ... scene-0916 (val), ... scene-1100.
MINI_SCENE_NAMES: Tuple[str, ...] = tuple(
    sorted(splits.mini_train + splits.mini_val))
_LOCATIONS = ('singapore-onenorth', 'boston-seaport', 'singapore-queenstown',
              'singapore-hollandvillage')
_KEYFRAME_PERIOD_US = 500_000  # 2 Hz samples
_SWEEP_PERIOD_US = 50_000  # 20 Hz lidar
_FIRST_TIMESTAMP_US = 1_533_151_603_547_590  # 2018-08-01 19:26:43 UTC
_MAP_RESOLUTION = 0.1  # m per pixel, the devkit's native map resolution


@dataclass
class SyntheticNuScenesConfig:
    """Size and content knobs of a synthetic nuScenes release.

    Args:
        seed (int): Master seed; equal configs give identical files.
        num_scenes (int): Scenes (1..10, named after v1.0-mini's scenes).
        samples_per_scene (int): 2 Hz keyframes per scene.
        sweeps_per_sample (int): 20 Hz lidar sweeps recorded before each
            keyframe after the first (0..9; nuScenes has 9).
        objects_per_scene (float): Mean number of annotated objects.
        zipf_exponent (float): s in the class law ``p(rank) ∝ rank**-s``.
        placement_radius (float): Objects lie within this distance (m) of
            the ego's mid-scene position along the roads.
        scene_extent (float): Half size (m) of each scene's square tile.
        camera_size (tuple[int, int]): (width, height) of the placeholder
            camera images.
        lidar (LidarConfig): The LIDAR_TOP model.
        version (str): Release name, the folder of the tables.
    """

    seed: int = 0
    num_scenes: int = 10
    samples_per_scene: int = 10
    sweeps_per_sample: int = 0
    objects_per_scene: float = 70.0
    zipf_exponent: float = 1.5
    placement_radius: float = 55.0
    scene_extent: float = 120.0
    camera_size: Tuple[int, int] = (160, 90)
    lidar: LidarConfig = field(default_factory=LidarConfig)
    version: str = 'v1.0-mini'

    def __post_init__(self) -> None:
        checks = [
            ('num_scenes', 1 <= self.num_scenes <= len(MINI_SCENE_NAMES),
             f'1..{len(MINI_SCENE_NAMES)} (the v1.0-mini scene names)'),
            ('samples_per_scene', self.samples_per_scene >= 1, '>= 1'),
            ('sweeps_per_sample', 0 <= self.sweeps_per_sample <= 9,
             '0..9 (20 Hz sweeps between 2 Hz keyframes)'),
            ('objects_per_scene', self.objects_per_scene >= 0, '>= 0'),
            ('placement_radius', 0 < self.placement_radius < self.scene_extent,
             f'in (0, scene_extent={self.scene_extent})'),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f'SyntheticNuScenesConfig.{name}='
                                 f'{getattr(self, name)!r}; expected '
                                 f'{expected}')


@dataclass
class GenerationSummary:
    """What :func:`generate_synthetic_nuscenes` wrote.

    Args:
        scenes (int): Number of scenes.
        samples (int): Number of keyframes (samples).
        sweeps (int): Number of non-keyframe lidar sweeps.
        annotations (int): Number of sample annotations.
        mean_points (float): Mean number of points per keyframe.
        seconds (float): Wall-clock generation time.
    """

    scenes: int
    samples: int
    sweeps: int
    annotations: int
    mean_points: float
    seconds: float


@dataclass
class SyntheticScene:
    """Everything drawn for one scene, in its scene frame.

    Args:
        index (int): Scene index (its name is ``MINI_SCENE_NAMES[index]``).
        static (StaticScene): Roads and static structures.
        ego (EgoTrajectory): The ego drive.
        actors (list[Actor]): The annotated objects; actor ``i`` is the
            instance with token ``make_token('instance', seed, index, i)``.
        scene_to_global (np.ndarray): (4, 4) pose of the scene frame in
            the global (map) frame.
        yaw (float): Rotation (radians) of the scene frame about +z.
    """

    index: int
    static: StaticScene
    ego: EgoTrajectory
    actors: List[Actor]
    scene_to_global: np.ndarray
    yaw: float


def build_scene(index: int, cfg: SyntheticNuScenesConfig) -> SyntheticScene:
    """Draw the layout, the ego drive and the objects of scene ``index``.

    Args:
        index (int): Scene index, 0..num_scenes-1.
        cfg (SyntheticNuScenesConfig): Generation settings.

    Returns:
        SyntheticScene: The scene; a pure function of (cfg, index).
    """
    rng = np.random.default_rng([cfg.seed, index])
    layout = RoadLayout.sample(rng, cfg.scene_extent)
    static = build_static_scene(layout, rng)
    duration = (cfg.samples_per_scene - 1) * _KEYFRAME_PERIOD_US / 1e6
    times = np.linspace(0.0, duration, 2 * cfg.samples_per_scene - 1)
    ego = EgoTrajectory.sample(static, duration, rng)
    actors = place_actors(static, ego, times, cfg.objects_per_scene,
                          cfg.zipf_exponent, cfg.placement_radius, rng)
    # Place the tile inside a positive global map frame, rotated.
    yaw = float(rng.uniform(-np.pi, np.pi))
    centre = cfg.scene_extent * np.sqrt(2) + 10 + rng.uniform(0, 20, 2)
    scene_to_global = pose_matrix([centre[0], centre[1], 0.0],
                                  yaw_quaternion(yaw))
    return SyntheticScene(index, static, ego, actors, scene_to_global, yaw)


def _render_map(scene: SyntheticScene,
                cfg: SyntheticNuScenesConfig) -> Image.Image:
    """Driveable-area raster of the scene in the global frame (the devkit's
    ``MapMask`` layout: 0.1 m pixels, row 0 at the largest y, 255 =
    driveable), rendered on a 1 m grid and upsampled."""
    size_m = int(np.ceil(2 * scene.scene_to_global[:2, 3].max()))
    cells = (np.arange(size_m) + 0.5)
    gx, gy = np.meshgrid(cells, cells[::-1])
    rel = np.stack([gx.ravel(), gy.ravel()], axis=1) - \
        scene.scene_to_global[:2, 3]
    local = rel @ scene.scene_to_global[:2, :2]  # inverse rotation
    inside = np.abs(local).max(axis=1) <= cfg.scene_extent
    road = inside & scene.static.layout.driveable(local[:, 0], local[:, 1])
    coarse = (road.reshape(size_m, size_m) * 255).astype(np.uint8)
    scale = int(round(1 / _MAP_RESOLUTION))
    return Image.fromarray(
        np.repeat(np.repeat(coarse, scale, axis=0), scale, axis=1))


class _SceneRecorder:
    """Simulates the sweeps of one scene and records it in the tables.

    Args:
        scene (SyntheticScene): The simulated scene.
        cfg (SyntheticNuScenesConfig): Generation settings.
        tables (NuScenesTables): Tables to append to.
        out_dir (str): Dataset root.
        simulator (LidarSimulator): The lidar model.
        camera_jpeg (bytes): Placeholder image written for every camera
            frame.
    """

    def __init__(self, scene: SyntheticScene, cfg: SyntheticNuScenesConfig,
                 tables: NuScenesTables, out_dir: str,
                 simulator: LidarSimulator, camera_jpeg: bytes) -> None:
        self.scene = scene
        self.cfg = cfg
        self.tables = tables
        self.out_dir = out_dir
        self.simulator = simulator
        self.camera_jpeg = camera_jpeg
        self.rng = np.random.default_rng([cfg.seed, scene.index, 1])
        self.key = (cfg.seed, scene.index)
        self.start_us = _FIRST_TIMESTAMP_US + scene.index * 3_600_000_000
        stamp = datetime.fromtimestamp(self.start_us / 1e6, timezone.utc)
        self.logfile = 'nsyn-' + stamp.strftime('%Y-%m-%d-%H-%M-%S') + \
            '+0000'
        self.num_static = scene.static.num_groups
        actors = scene.actors
        self.actor_shapes = PrimitiveSet.concatenate([
            PrimitiveSet(a.shape.kind, a.shape.center, a.shape.size,
                         a.shape.yaw, a.shape.reflectivity, a.shape.label,
                         a.shape.group + i) for i, a in enumerate(actors)
        ])
        self.ego_shape = build_ego_vehicle_shape()
        self.lidar_to_ego = pose_matrix(LIDAR_TRANSLATION, LIDAR_ROTATION)

    def _ego_pose(self,
                  t: float) -> Tuple[np.ndarray, List[float], List[float]]:
        """Ego pose at scene time ``t``: (4, 4) ego-to-scene matrix and the
        global translation and rotation quaternion written to ego_pose."""
        ego = self.scene.ego
        ego_to_scene = pose_matrix(ego.position_at(t), yaw_quaternion(ego.yaw))
        ego_to_global = self.scene.scene_to_global @ ego_to_scene
        translation = [float(v) for v in ego_to_global[:3, 3]]
        rotation = yaw_quaternion(self.scene.yaw + ego.yaw)
        return ego_to_scene, translation, rotation

    def _sweep(self, t: float, ego_to_scene: np.ndarray) -> LidarSweep:
        """Ray-cast the scene at time ``t`` from the ego pose."""
        actors = self.scene.actors
        parts = [self.scene.static.primitives]
        if actors:
            posed = self.actor_shapes.posed(
                np.array([a.yaw for a in actors]),
                np.stack([a.bottom_center_at(t) for a in actors]))
            posed.group = posed.group + self.num_static
            parts.append(posed)
        ego = self.ego_shape.posed(
            np.array([self.scene.ego.yaw]), ego_to_scene[None, :3, 3])
        ego.group = ego.group + self.num_static + len(actors)
        parts.append(ego)
        return self.simulator.scan(
            PrimitiveSet.concatenate(parts), self.num_static + len(actors) + 1,
            self.scene.static.layout, ego_to_scene @ self.lidar_to_ego,
            self.rng)

    def _write(self, relpath: str, data: bytes) -> None:
        """Write ``data`` to ``relpath`` under the dataset root."""
        path = osp.join(self.out_dir, relpath)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)

    def _timeline(self) -> List[Tuple[int, int, bool]]:
        """(time offset in us, sample index, is keyframe) of every lidar
        sweep; a sweep belongs to the next keyframe, as in nuScenes."""
        entries = []
        for k in range(self.cfg.samples_per_scene):
            key_us = k * _KEYFRAME_PERIOD_US
            if k > 0:
                for j in range(self.cfg.sweeps_per_sample, 0, -1):
                    entries.append((key_us - j * _SWEEP_PERIOD_US, k, False))
            entries.append((key_us, k, True))
        return entries

    def record(self) -> Tuple[int, int, List[int]]:
        """Simulate the scene and add all its records.

        Returns:
            tuple[int, int, list[int]]: Number of sweeps (non-keyframes),
            of annotations, and the point count of every keyframe.
        """
        key = self.key
        log_token = self._add_log_and_map()
        lidar_cs, camera_cs = self._add_calibrations()
        scene_token = make_token('scene', *key)
        samples = [
            dict(
                token=make_token('sample', *key, k),
                timestamp=self.start_us + k * _KEYFRAME_PERIOD_US,
                scene_token=scene_token)
            for k in range(self.cfg.samples_per_scene)
        ]
        NuScenesTables.link_chain(samples)
        for sample in samples:
            self.tables.add('sample', sample)
        annotations: List[List[dict]] = [[] for _ in self.scene.actors]
        lidar_chain: List[dict] = []
        camera_chains = {channel: [] for channel in CAMERA_CHANNELS}
        keyframe_points = []
        for offset_us, k, is_key in self._timeline():
            t = offset_us / 1e6
            ego_to_scene, ego_t, ego_r = self._ego_pose(t)
            sweep = self._sweep(t, ego_to_scene)
            record = self._add_sample_data(LIDAR_CHANNEL, lidar_cs,
                                           samples[k]['token'], offset_us,
                                           is_key, ego_t, ego_r,
                                           sweep.points.tobytes())
            lidar_chain.append(record)
            if not is_key:
                continue
            keyframe_points.append(len(sweep.points))
            seg_file = (f'lidarseg/{self.cfg.version}/{record["token"]}'
                        '_lidarseg.bin')
            self._write(seg_file, sweep.labels.tobytes())
            self.tables.add(
                'lidarseg',
                dict(
                    token=record['token'],
                    sample_data_token=record['token'],
                    filename=seg_file))
            for channel, chain in camera_chains.items():
                chain.append(
                    self._add_sample_data(channel, camera_cs[channel],
                                          samples[k]['token'], offset_us, True,
                                          ego_t, ego_r, self.camera_jpeg))
            self._annotate(k, samples[k]['token'], sweep, ego_t, ego_r,
                           annotations)
        for chain in [lidar_chain, *camera_chains.values(), *annotations]:
            NuScenesTables.link_chain(chain)
        self._add_instances(annotations)
        self.tables.add(
            'scene',
            dict(
                token=scene_token,
                log_token=log_token,
                nbr_samples=len(samples),
                first_sample_token=samples[0]['token'],
                last_sample_token=samples[-1]['token'],
                name=MINI_SCENE_NAMES[self.scene.index],
                description=self._description()))
        return (len(lidar_chain) - len(samples), sum(map(len, annotations)),
                keyframe_points)

    def _add_log_and_map(self) -> str:
        """Add the scene's log and its map (raster written); returns the
        log token."""
        log_token = make_token('log', *self.key)
        map_token = make_token('map', *self.key)
        self.tables.add(
            'log',
            dict(
                token=log_token,
                logfile=self.logfile,
                vehicle='nsyn',
                date_captured=self.logfile[5:15],
                location=_LOCATIONS[self.scene.index % len(_LOCATIONS)]))
        map_file = f'maps/{map_token}.png'
        buffer = io.BytesIO()
        _render_map(self.scene, self.cfg).save(
            buffer, format='PNG', compress_level=1)
        self._write(map_file, buffer.getvalue())
        self.tables.add(
            'map',
            dict(
                token=map_token,
                log_tokens=[log_token],
                category='semantic_prior',
                filename=map_file))
        return log_token

    def _add_calibrations(self) -> Tuple[str, Dict[str, str]]:
        """Add the calibrated_sensor records of the scene; returns the
        LIDAR_TOP token and the token of each camera channel."""
        lidar_cs = self.tables.add(
            'calibrated_sensor',
            dict(
                token=make_token('calibrated_sensor', *self.key,
                                 LIDAR_CHANNEL),
                sensor_token=self.tables.sensor_token(LIDAR_CHANNEL),
                translation=list(LIDAR_TRANSLATION),
                rotation=list(LIDAR_ROTATION),
                camera_intrinsic=[]))
        camera_cs = {}
        calibrations = camera_calibrations(*self.cfg.camera_size)
        for channel, (translation, rotation, intrinsic) in \
                calibrations.items():
            camera_cs[channel] = self.tables.add(
                'calibrated_sensor',
                dict(
                    token=make_token('calibrated_sensor', *self.key, channel),
                    sensor_token=self.tables.sensor_token(channel),
                    translation=translation,
                    rotation=rotation,
                    camera_intrinsic=intrinsic))
        return lidar_cs, camera_cs

    def _add_sample_data(self, channel: str, calibration: str,
                         sample_token: str, offset_us: int, is_key: bool,
                         ego_t: List[float], ego_r: List[float],
                         content: bytes) -> dict:
        """Write one sensor frame and add its sample_data and ego_pose.

        Args:
            channel (str): Sensor channel, e.g. ``'LIDAR_TOP'``.
            calibration (str): Its calibrated_sensor token.
            sample_token (str): The sample the frame belongs to.
            offset_us (int): Time since the scene start (microseconds).
            is_key (bool): Whether the frame is the sample's keyframe.
            ego_t (list[float]): Global ego translation (x, y, z).
            ego_r (list[float]): Global ego rotation (w, x, y, z).
            content (bytes): File content (``.pcd.bin`` or JPEG).

        Returns:
            dict: The sample_data record (``prev``/``next`` linked later).
        """
        timestamp = self.start_us + offset_us
        token = make_token('sample_data', *self.key, channel, offset_us)
        is_lidar = channel == LIDAR_CHANNEL
        folder = 'samples' if is_key else 'sweeps'
        suffix = 'pcd.bin' if is_lidar else 'jpg'
        filename = (f'{folder}/{channel}/{self.logfile}__{channel}__'
                    f'{timestamp}.{suffix}')
        self._write(filename, content)
        self.tables.add(
            'ego_pose',
            dict(
                token=token,
                timestamp=timestamp,
                rotation=ego_r,
                translation=ego_t))
        width, height = (0, 0) if is_lidar else self.cfg.camera_size
        record = dict(
            token=token,
            sample_token=sample_token,
            ego_pose_token=token,
            calibrated_sensor_token=calibration,
            timestamp=timestamp,
            fileformat='pcd' if is_lidar else 'jpg',
            is_key_frame=is_key,
            height=height,
            width=width,
            filename=filename)
        self.tables.add('sample_data', record)
        return record

    def _add_instances(self, annotations: List[List[dict]]) -> None:
        """Add one instance per object, over its annotation chain."""
        for i, (actor,
                chain) in enumerate(zip(self.scene.actors, annotations)):
            spec = DETECTION_CLASS_BY_NAME[actor.class_name]
            self.tables.add(
                'instance',
                dict(
                    token=make_token('instance', *self.key, i),
                    category_token=self.tables.category_token(spec.category),
                    nbr_annotations=len(chain),
                    first_annotation_token=chain[0]['token'],
                    last_annotation_token=chain[-1]['token']))

    def _description(self) -> str:
        """Scene description: road, object count and ego speed."""
        lanes = self.scene.static.layout.lanes_per_direction
        return (f'Synthetic: {2 * lanes}-lane road with a crossing, '
                f'{len(self.scene.actors)} objects, ego at '
                f'{self.scene.ego.speed:.1f} m/s')

    def _annotate(self, k: int, sample_token: str, sweep: LidarSweep,
                  ego_t: List[float], ego_r: List[float],
                  annotations: List[List[dict]]) -> None:
        """Add the sample_annotation of every object at keyframe ``k``.

        ``num_lidar_pts`` counts the sweep's points inside the box exactly
        as the devkit does (``Box`` moved to the sensor frame,
        ``points_in_box``); visibility is the fraction of the rays reaching
        the object that are not occluded, binned like nuScenes' levels.
        """
        t = k * _KEYFRAME_PERIOD_US / 1e6
        points = sweep.points[:, :3].T
        ego_q, lidar_q = Quaternion(ego_r), Quaternion(list(LIDAR_ROTATION))
        for i, actor in enumerate(self.scene.actors):
            centre = self.scene.scene_to_global @ np.append(
                actor.box_center_at(t), 1.0)
            translation = [float(v) for v in centre[:3]]
            rotation = yaw_quaternion(self.scene.yaw + actor.yaw)
            size = list(actor.wlh)
            box = Box(translation, size, Quaternion(rotation))
            box.translate(-np.array(ego_t))
            box.rotate(ego_q.inverse)
            box.translate(-np.array(LIDAR_TRANSLATION))
            box.rotate(lidar_q.inverse)
            num_pts = int(points_in_box(box, points).sum())
            group = self.num_static + i
            reaching = sweep.rays_reaching[group]
            seen = sweep.rays_visible[group] / reaching if reaching else 0.0
            level = int(np.searchsorted([0.4, 0.6, 0.8], seen))
            attributes = [] if actor.attribute is None else \
                [self.tables.attribute_token(actor.attribute)]
            record = dict(
                token=make_token('sample_annotation', *self.key, i, k),
                sample_token=sample_token,
                instance_token=make_token('instance', *self.key, i),
                visibility_token=VISIBILITY_LEVELS[level][0],
                attribute_tokens=attributes,
                translation=translation,
                size=size,
                rotation=rotation,
                num_lidar_pts=num_pts,
                num_radar_pts=0)
            self.tables.add('sample_annotation', record)
            annotations[i].append(record)


def _placeholder_jpeg(size: Tuple[int, int]) -> bytes:
    """A small valid grey JPEG of ``size`` (width, height)."""
    buffer = io.BytesIO()
    Image.new('RGB', size, (110, 110, 110)).save(buffer, format='JPEG')
    return buffer.getvalue()


def generate_synthetic_nuscenes(
        out_dir: str,
        config: Optional[SyntheticNuScenesConfig] = None,
        progress: Optional[Callable[[str], None]] = None) -> GenerationSummary:
    """Write a synthetic nuScenes-format release to ``out_dir``.

    Args:
        out_dir (str): Dataset root (created if missing). Existing files of
            the same names are overwritten.
        config (SyntheticNuScenesConfig, optional): Size and content; the
            default is the demo set (10 scenes x 10 samples, 32 beams).
        progress (callable, optional): Called with one line of text per
            finished scene.

    Returns:
        GenerationSummary: Counts and the elapsed time.
    """
    cfg = config or SyntheticNuScenesConfig()
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    tables = NuScenesTables()
    simulator = LidarSimulator(cfg.lidar)
    jpeg = _placeholder_jpeg(cfg.camera_size)
    num_sweeps = num_annotations = 0
    keyframe_points: List[int] = []
    for index in range(cfg.num_scenes):
        scene_start = time.perf_counter()
        scene = build_scene(index, cfg)
        sweeps, anns, points = _SceneRecorder(scene, cfg, tables, out_dir,
                                              simulator, jpeg).record()
        num_sweeps += sweeps
        num_annotations += anns
        keyframe_points += points
        if progress is not None:
            progress(f'[{index + 1}/{cfg.num_scenes}] '
                     f'{MINI_SCENE_NAMES[index]}: {len(points)} samples, '
                     f'{sweeps} sweeps, {len(scene.actors)} objects, '
                     f'{np.mean(points):.0f} points/sample '
                     f'({time.perf_counter() - scene_start:.1f} s)')
    tables.write(out_dir, cfg.version)
    return GenerationSummary(
        scenes=cfg.num_scenes,
        samples=len(keyframe_points),
        sweeps=num_sweeps,
        annotations=num_annotations,
        mean_points=float(np.mean(keyframe_points)),
        seconds=time.perf_counter() - start)
