# Copyright (c) OpenMMLab. All rights reserved.
"""Collate packed DOS views into the batch of CONTRACT.md and mask them."""
from typing import Dict, List, Optional

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from ..utils import BlockMasking, DegenerateViewError

POINT_KEYS = ('coord', 'grid_coord', 'feat', 'point_id')


@MODELS.register_module()
class DOSDataPreprocessor(BaseDataPreprocessor):
    """Concatenate the views of a batch and draw their block masks on-device.

    mmdet3d's ``Det3DDataPreprocessor`` voxelises a single point tensor per
    sample; DOS instead needs two pre-voxelised views per scene in PTv3's
    flat ``(coord, grid_coord, feat, offset)`` form plus the block mask, so
    this preprocessor replaces it.

    Input (``data`` from mmengine's ``pseudo_collate`` of
    :class:`PackDOSInputs` outputs): ``inputs`` is a dict of per-scene lists;
    scene b contributes ``coord`` (n_b, 3), ``grid_coord`` (n_b, 3),
    ``feat`` (n_b, C), ``point_id`` (n_b,), ``view_size`` (V,) and
    ``mask_seed`` (V,), its views concatenated.

    Output ``inputs`` (segments ordered [scene0-view0, scene0-view1,
    scene1-view0, ...], i.e. segment g = V * b + v), on the model's device:

    - ``coord`` (N, 3) float32, augmented (x, y, z), metres;
    - ``grid_coord`` (N, 3) int64, (x, y, z) voxel index per view, >= 0;
    - ``feat`` (N, C) float32;
    - ``offset`` (B * V,) int64 cumulative segment ends (no leading zero);
    - ``point_id`` (N,) int64 row of the scene's grid-sampled cloud;
    - ``visible`` (N,) bool, True = visible to the student.

    ``mask_ratio`` and ``mask_block_size`` are plain attributes that a
    schedule hook may set between iterations; values are validated.

    Args:
        mask_ratio (float): Fraction of mask cubes per view, in [0, 1)
            (0.7 segmentation, 0.6 detection). Defaults to 0.7.
        mask_block_size (float): Mask cube edge in metres (1.0 outdoor,
            0.4 indoor). Defaults to 1.0.
        min_visible (int): Fewest visible points per view. Defaults to 2.
        non_blocking (bool): Non-blocking host-to-device copies.
            Defaults to False.
    """

    def __init__(self,
                 mask_ratio: float = 0.7,
                 mask_block_size: float = 1.0,
                 min_visible: int = 2,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.block_masking = BlockMasking(
            block_size=mask_block_size,
            mask_ratio=mask_ratio,
            min_visible=min_visible)

    @property
    def mask_ratio(self) -> float:
        """float: Fraction of mask cubes per view, in [0, 1)."""
        return self.block_masking.mask_ratio

    @mask_ratio.setter
    def mask_ratio(self, value: float) -> None:
        self.block_masking.mask_ratio = value

    @property
    def mask_block_size(self) -> float:
        """float: Mask cube edge in metres."""
        return self.block_masking.block_size

    @mask_block_size.setter
    def mask_block_size(self, value: float) -> None:
        self.block_masking.block_size = value

    @staticmethod
    def collate(inputs: Dict[str, List[Tensor]]) -> Dict[str, Tensor]:
        """Concatenate per-scene packed views (on the host).

        Args:
            inputs (dict[str, list[Tensor]]): Per-scene lists (see the class
                docstring).

        Returns:
            dict[str, Tensor]: ``coord``, ``grid_coord``, ``feat``,
            ``point_id`` concatenated, ``offset`` (B * V,) int64 and
            ``mask_seed`` (B * V,) int64.

        Raises:
            KeyError: A packed key is missing.
            ValueError: View sizes disagree with the point tensors.
        """
        missing = [
            key for key in POINT_KEYS + ('view_size', 'mask_seed')
            if key not in inputs
        ]
        if missing:
            raise KeyError(f'DOSDataPreprocessor: packed inputs lack '
                           f'{missing}; build them with PackDOSInputs')
        batch = {key: torch.cat(list(inputs[key])) for key in POINT_KEYS}
        view_size = torch.cat(list(inputs['view_size']))
        if int(view_size.sum()) != batch['coord'].shape[0]:
            raise ValueError(
                f'DOSDataPreprocessor: view sizes sum to '
                f'{int(view_size.sum())} but {batch["coord"].shape[0]} '
                'points were packed')
        batch['offset'] = torch.cumsum(view_size, 0)
        batch['mask_seed'] = torch.cat(list(inputs['mask_seed']))
        return batch

    def forward(self, data: dict, training: bool = False) -> dict:
        """Collate, move to the device and block-mask a batch.

        Args:
            data (dict): ``inputs`` (per-scene packed views) and
                ``data_samples`` (list of :obj:`Det3DDataSample`).
            training (bool): Unused; masks are drawn in every mode because
                DOS has no mask-free forward.

        Returns:
            dict: ``inputs`` (the DOS batch of the class docstring) and
            ``data_samples``.

        Raises:
            ValueError: A view cannot be block-masked; the message names the
                scene's file.
        """
        batch = self.cast_data(self.collate(data['inputs']))
        data_samples = data.get('data_samples')
        mask_seed = batch.pop('mask_seed')
        try:
            batch['visible'] = self.block_masking(
                batch['coord'], batch['offset'], seeds=mask_seed.cpu())
        except DegenerateViewError as error:
            raise ValueError(
                f'{self._describe_segment(error.segment, batch, data_samples)}'
                f': {error}') from error
        return dict(inputs=batch, data_samples=data_samples)

    @staticmethod
    def _describe_segment(segment: int, batch: Dict[str, Tensor],
                          data_samples: Optional[list]) -> str:
        """Name the file and view of a segment for error messages."""
        num_scenes = len(data_samples) if data_samples else 0
        if not num_scenes:
            return f'segment {segment}'
        views = batch['offset'].numel() // num_scenes
        scene, view = divmod(segment, views)
        path = data_samples[scene].metainfo.get('lidar_path')
        return f'{path} (view {view})'

    def extra_repr(self) -> str:
        """str: The masking settings, shown in the module's repr."""
        return repr(self.block_masking)
