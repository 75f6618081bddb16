# Copyright (c) OpenMMLab. All rights reserved.
"""Create info pkls (and GT databases) with mmdet3d's own converters.

This script does not copy mmdet3d's converters: it runs the
``tools/create_data.py`` that the mmdet3d wheel ships under
``mmdet3d/.mim/tools/`` with the same arguments, e.g.::

    python tools/create_data.py nuscenes --root-path data/nuscenes \
        --out-dir data/nuscenes --extra-tag nuscenes [--version v1.0-mini]
    python tools/create_data.py semantickitti --root-path data/semantickitti \
        --out-dir data/semantickitti --extra-tag semantickitti
    python tools/create_data.py scannet --root-path data/scannet \
        --out-dir data/scannet --extra-tag scannet

One fix is applied before delegating: mmdet3d 1.4.0's
``update_infos_to_v2.update_nuscenes_infos`` opens the devkit at the
hard-coded ``./data/nuscenes``; it is pointed at ``--root-path`` instead, so
a dataset anywhere on disk (e.g. the synthetic one) converts correctly.
"""
import functools
import os.path as osp
import runpy
import sys

import _bootstrap  # noqa: F401  (repository root first on sys.path)


def shipped_tools_dir() -> str:
    """Return ``mmdet3d/.mim/tools`` of the installed mmdet3d wheel."""
    import mmdet3d
    tools_dir = osp.join(osp.dirname(mmdet3d.__file__), '.mim', 'tools')
    if not osp.isfile(osp.join(tools_dir, 'create_data.py')):
        raise FileNotFoundError(
            f'mmdet3d at {osp.dirname(mmdet3d.__file__)} ships no '
            f'{tools_dir}/create_data.py; reinstall mmdet3d==1.4.0 from PyPI')
    return tools_dir


def root_path_from_argv(argv: list) -> str:
    """Return the value of ``--root-path`` in ``argv`` (mmdet3d's default)."""
    for i, arg in enumerate(argv):
        if arg == '--root-path' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--root-path='):
            return arg.split('=', 1)[1]
    return './data/kitti'


def main() -> None:
    """Run mmdet3d's shipped ``create_data.py`` with this process's args."""
    tools_dir = shipped_tools_dir()
    # `tools` is a namespace package in both this repository and the wheel,
    # so `tools.dataset_converters` resolves to the wheel's converters.
    sys.path.insert(1, osp.dirname(tools_dir))
    from nuscenes import NuScenes

    from tools.dataset_converters import update_infos_to_v2

    root_path = root_path_from_argv(sys.argv[1:])

    @functools.wraps(NuScenes)
    def nuscenes_at_root_path(*args, dataroot=None, **kwargs):
        return NuScenes(*args, dataroot=root_path, **kwargs)

    update_infos_to_v2.NuScenes = nuscenes_at_root_path
    sys.argv[0] = osp.join(tools_dir, 'create_data.py')
    runpy.run_path(sys.argv[0], run_name='__main__')


if __name__ == '__main__':
    main()
