# Copyright (c) OpenMMLab. All rights reserved.
"""Installs the repository root so ``projects.DOS.dos`` is importable.

The dependencies are not declared here on purpose: mmcv must be compiled from
source with its ops and mmdet3d must be installed without its open3d
requirement; ``tools/setup_env.sh`` does both (see README).
"""
from setuptools import find_packages, setup

setup(
    name='dos-openmmlab',
    version='0.1.0',
    description='DOS: Distilling Observable Softmaps of Zipfian Prototypes '
    'for self-supervised point representation (OpenMMLab project)',
    packages=find_packages(
        include=['projects', 'projects.DOS', 'projects.DOS.dos*']),
    python_requires='>=3.9',
    license='Apache-2.0',
)
