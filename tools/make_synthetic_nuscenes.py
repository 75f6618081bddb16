# Copyright (c) OpenMMLab. All rights reserved.
"""Write a synthetic LiDAR dataset in the exact nuScenes v1.0-mini format.

Examples::

    # the demo set: 10 scenes x 10 samples, full 32-beam sweeps
    python tools/make_synthetic_nuscenes.py --out data/nuscenes
    # a tiny set for tests
    python tools/make_synthetic_nuscenes.py --out /tmp/nus --scenes 2 \
        --samples-per-scene 2 --beams 8 --azimuth-steps 256
    # then, unchanged nuScenes tooling:
    python tools/create_data.py nuscenes --root-path data/nuscenes \
        --out-dir data/nuscenes --extra-tag nuscenes --version v1.0-mini
"""
import argparse
import time

import _bootstrap  # noqa: F401  (repository root first on sys.path)

from projects.DOS.dos.datasets.synthetic_nuscenes import (
    LidarConfig, SyntheticNuScenesConfig, generate_synthetic_nuscenes)


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    defaults = SyntheticNuScenesConfig()
    lidar = defaults.lidar
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out',
        required=True,
        help='dataset root to write (e.g. data/nuscenes)')
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument(
        '--scenes',
        type=int,
        default=defaults.num_scenes,
        help='number of scenes, 1..10 (v1.0-mini names)')
    parser.add_argument(
        '--samples-per-scene',
        type=int,
        default=defaults.samples_per_scene,
        help='2 Hz keyframes per scene')
    parser.add_argument(
        '--sweeps',
        type=int,
        default=defaults.sweeps_per_sample,
        help='20 Hz lidar sweeps before each keyframe '
        '(0..9; real nuScenes has 9)')
    parser.add_argument(
        '--beams',
        type=int,
        default=lidar.num_beams,
        help='lidar rings (nuScenes: 32)')
    parser.add_argument(
        '--azimuth-steps',
        type=int,
        default=lidar.azimuth_steps,
        help='columns per turn; points per sweep <= beams x '
        'steps (nuScenes: 1084)')
    parser.add_argument(
        '--objects',
        type=float,
        default=defaults.objects_per_scene,
        help='mean number of annotated objects per scene')
    return parser.parse_args()


def main() -> None:
    """Generate the dataset and report its size and the elapsed time."""
    args = parse_args()
    config = SyntheticNuScenesConfig(
        seed=args.seed,
        num_scenes=args.scenes,
        samples_per_scene=args.samples_per_scene,
        sweeps_per_sample=args.sweeps,
        objects_per_scene=args.objects,
        lidar=LidarConfig(
            num_beams=args.beams, azimuth_steps=args.azimuth_steps))
    start, cpu_start = time.perf_counter(), time.process_time()
    summary = generate_synthetic_nuscenes(
        args.out, config, progress=lambda line: print(line, flush=True))
    print(f'Wrote {summary.scenes} scenes, {summary.samples} samples, '
          f'{summary.sweeps} sweeps, {summary.annotations} annotations '
          f'({summary.mean_points:.0f} points/sample) to {args.out} in '
          f'{time.perf_counter() - start:.1f} s '
          f'(CPU {time.process_time() - cpu_start:.1f} s)')


if __name__ == '__main__':
    main()
