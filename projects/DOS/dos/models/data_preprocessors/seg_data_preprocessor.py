# Copyright (c) OpenMMLab. All rights reserved.
"""Voxelise raw point clouds into the PTv3 input for semantic segmentation."""
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from ...datasets.transforms.grid_sample import (compute_grid_coord,
                                                one_point_per_voxel,
                                                voxel_keys)


def voxelize_points(
        coord: np.ndarray, voxel_size: float,
        randomize: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep one point per occupied voxel and map every point to its voxel.

    Args:
        coord (np.ndarray): (n, 3) float (x, y, z) coordinates, metres.
        voxel_size (float): Voxel edge in metres.
        randomize (bool): Keep a random point of each voxel (training)
            instead of the first one in file order.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]:

        - kept (m,) int64 sorted rows of ``coord``, one per voxel;
        - grid_coord (m, 3) int64 (x, y, z) voxel index of the kept rows,
          >= 0, anchored at the cloud's minimum;
        - point2voxel (n,) int64: for each point, the index in ``kept`` of
          its voxel's representative.
    """
    grid_coord = compute_grid_coord(coord, voxel_size)
    kept = one_point_per_voxel(grid_coord, randomize=randomize)
    keys = voxel_keys(grid_coord)
    kept_keys = keys[kept]
    by_key = np.argsort(kept_keys)
    point2voxel = by_key[np.searchsorted(kept_keys, keys, sorter=by_key)]
    return kept, grid_coord[kept], point2voxel.astype(np.int64)


@MODELS.register_module()
class PTv3SegDataPreprocessor(BaseDataPreprocessor):
    """Voxelise each point cloud at the PTv3 input grid, on any device.

    mmdet3d's ``Det3DDataPreprocessor(voxel_type='minkunet')`` moves its
    quantisation results to CUDA unconditionally, so it cannot run on a
    CPU; this preprocessor does the same sparse quantisation (one point per
    occupied voxel, its label the voxel's label) with the grid functions of
    the DOS pipeline on the collated CPU tensors, then moves the batch to
    the model's device. Every original point keeps the row of its voxel, so
    predictions are made for all points, as evaluation needs.

    Input ``data`` (mmengine ``pseudo_collate`` of ``Pack3DDetInputs``):
    ``inputs['points']`` a list of B (n_b, 3 + A) float tensors
    (x, y, z, attributes...) and ``data_samples`` a list of
    :class:`Det3DDataSample`, optionally with ``gt_pts_seg.pts_semantic_mask``
    (n_b,).

    Output ``inputs`` (the PTv3 contract of CONTRACT.md), N = sum of m_b:

    - ``coord`` (N, 3) float32 (x, y, z) of the kept points, metres;
    - ``grid_coord`` (N, 3) int64 (x, y, z) voxel index per sample, >= 0;
    - ``feat`` (N, 3 + A) float32 ``[x, y, z, attributes * attribute_scale
      + attribute_shift]`` (the features DOS pretraining packs);
    - ``offset`` (B,) int64 cumulative voxel counts (no leading zero).

    Each data sample gains ``point2voxel_map`` (n_b,) int64: the batch-level
    row in ``coord`` of every original point's voxel, and, when it has a
    point mask, ``gt_pts_seg.voxel_semantic_mask`` (m_b,) int64, the label
    of each voxel's kept point (mmdet3d's MinkUNet convention).

    Args:
        voxel_size (float): Voxel edge in metres (0.05 outdoor, the DOS
            pretraining grid). Defaults to 0.05.
        attribute_scale (float | Sequence[float]): Multiplier of the columns
            after (x, y, z) (1/255 for nuScenes intensity, 1 for
            SemanticKITTI reflectance). Defaults to 1.
        attribute_shift (float | Sequence[float]): Added after scaling.
            Defaults to 0.
        non_blocking (bool): Non-blocking host-to-device copies.
            Defaults to False.
    """

    def __init__(self,
                 voxel_size: float = 0.05,
                 attribute_scale: Union[float, Sequence[float]] = 1.,
                 attribute_shift: Union[float, Sequence[float]] = 0.,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if not voxel_size > 0:
            raise ValueError('PTv3SegDataPreprocessor: voxel_size must be '
                             f'> 0, got {voxel_size}')
        self.voxel_size = float(voxel_size)
        self.attribute_scale = attribute_scale
        self.attribute_shift = attribute_shift

    def forward(self, data: dict, training: bool = False) -> dict:
        """Voxelise the batch and move it to the model's device.

        Args:
            data (dict): ``inputs`` (dict with ``points``) and
                ``data_samples`` from the dataloader.
            training (bool): Pick a random point per voxel if True, else the
                first one. Defaults to False.

        Returns:
            dict: ``inputs`` (PTv3 dict, see the class docstring) and
            ``data_samples`` (with ``point2voxel_map`` and
            ``gt_pts_seg.voxel_semantic_mask``).
        """
        points: List[Tensor] = data['inputs']['points']
        data_samples: List[Det3DDataSample] = data['data_samples']
        if len(points) != len(data_samples):
            raise ValueError(f'PTv3SegDataPreprocessor: {len(points)} point '
                             f'clouds but {len(data_samples)} data samples')
        coords, grid_coords, feats, counts = [], [], [], []
        num_voxels = 0
        for index, (cloud, sample) in enumerate(zip(points, data_samples)):
            if cloud.dim() != 2 or cloud.shape[1] < 3 or cloud.shape[0] == 0:
                raise ValueError(
                    'PTv3SegDataPreprocessor: point cloud '
                    f'{index} ({sample.metainfo.get("lidar_path")}) must be '
                    f'a non-empty (n, >=3) tensor, got {tuple(cloud.shape)}')
            cloud = cloud.detach().float().cpu()
            kept, grid_coord, point2voxel = voxelize_points(
                cloud[:, :3].numpy(), self.voxel_size, randomize=training)
            kept = torch.from_numpy(kept)
            voxels = cloud[kept]
            attributes = voxels[:, 3:] * voxels.new_tensor(
                self.attribute_scale) + voxels.new_tensor(self.attribute_shift)
            coords.append(voxels[:, :3])
            feats.append(torch.cat([voxels[:, :3], attributes], dim=1))
            grid_coords.append(torch.from_numpy(grid_coord))
            counts.append(kept.shape[0])
            sample.point2voxel_map = self.cast_data(
                torch.from_numpy(point2voxel) + num_voxels)
            num_voxels += kept.shape[0]
            gt_pts_seg = sample.get('gt_pts_seg')
            if gt_pts_seg is not None and 'pts_semantic_mask' in gt_pts_seg:
                mask = torch.as_tensor(gt_pts_seg.pts_semantic_mask)
                if mask.shape[0] != cloud.shape[0]:
                    raise ValueError(
                        'PTv3SegDataPreprocessor: sample '
                        f'{sample.metainfo.get("lidar_path")} has '
                        f'{cloud.shape[0]} points but a semantic mask of '
                        f'{mask.shape[0]}')
                gt_pts_seg.voxel_semantic_mask = self.cast_data(
                    mask.long()[kept])
        inputs = dict(
            coord=torch.cat(coords),
            grid_coord=torch.cat(grid_coords),
            feat=torch.cat(feats),
            offset=torch.tensor(counts, dtype=torch.int64).cumsum(0))
        return dict(inputs=self.cast_data(inputs), data_samples=data_samples)
