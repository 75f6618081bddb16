# Copyright (c) OpenMMLab. All rights reserved.
"""Pack the views of one scene into the tensors DOSDataPreprocessor batches."""
from typing import Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import Det3DDataSample


@TRANSFORMS.register_module()
class PackDOSInputs(BaseTransform):
    """Pack the augmented views of a scene for PTv3.

    mmdet3d's ``Pack3DDetInputs`` packs a single ``points`` tensor, so DOS
    needs its own packer. For every view it builds the PTv3 input:
    ``coord``, the view's ``grid_coord`` (computed on the full view by
    :class:`DOSMultiViewAug`) and ``feat = [x, y, z, attributes *
    attribute_scale + attribute_shift]``, where the attributes are the point
    columns after (x, y, z): intensity outdoors (4 channels in all), RGB
    (+ normals) indoors.

    The views are concatenated view after view, so a batch collated scene
    after scene is ordered [scene0-view0, scene0-view1, scene1-view0, ...].

    Required Keys:

    - views (list[dict]): from :class:`DOSMultiViewAug`.

    Added Keys:

    - inputs (dict): with

      - coord (Tensor): (N, 3) float32 augmented (x, y, z), metres, N the
        total over the views.
      - grid_coord (Tensor): (N, 3) int64 (x, y, z) voxel index per view,
        >= 0, unique within a view.
      - feat (Tensor): (N, C) float32.
      - point_id (Tensor): (N,) int64 row of the grid-sampled scan.
      - view_size (Tensor): (V,) int64 points per view.
      - mask_seed (Tensor): (V,) int64 block-mask seed per view.

    - data_samples (:obj:`Det3DDataSample`): metainfo ``lidar_path``,
      ``sample_idx``, ``num_points`` (grid-sampled scan size) and
      ``view_meta`` (per view: the keys in ``meta_keys`` that the view
      augmentation recorded).

    Args:
        attribute_scale (float | Sequence[float]): Multiplier of the
            attribute columns (1/255 for nuScenes intensity, 1 for
            SemanticKITTI reflectance, 1/127.5 for RGB). Defaults to 1.
        attribute_shift (float | Sequence[float]): Added after scaling
            (-1 for RGB to [-1, 1]). Defaults to 0.
        meta_keys (Sequence[str]): Per-view keys copied into ``view_meta``.
    """

    def __init__(
        self,
        attribute_scale: Union[float, Sequence[float]] = 1.,
        attribute_shift: Union[float, Sequence[float]] = 0.,
        meta_keys: Sequence[str] = ('pcd_rotation', 'pcd_rotation_angle',
                                    'pcd_scale_factor', 'pcd_trans',
                                    'pcd_horizontal_flip', 'pcd_vertical_flip',
                                    'transformation_3d_flow')
    ) -> None:
        self.attribute_scale = attribute_scale
        self.attribute_shift = attribute_shift
        self.meta_keys = tuple(meta_keys)

    def pack_view(self, view: dict) -> dict:
        """PTv3 input tensors of one view.

        Args:
            view (dict): View dict with ``points``, ``grid_coord`` and
                ``point_id``.

        Returns:
            dict: ``coord`` (n, 3) float32, ``grid_coord`` (n, 3) int64,
            ``feat`` (n, C) float32, ``point_id`` (n,) int64.
        """
        data = view['points'].tensor.float()
        coord = data[:, :3].contiguous()
        attributes = data[:, 3:] * data.new_tensor(
            self.attribute_scale) + data.new_tensor(self.attribute_shift)
        return dict(
            coord=coord,
            grid_coord=torch.from_numpy(
                np.asarray(view['grid_coord'], dtype=np.int64)),
            feat=torch.cat([coord, attributes], dim=1),
            point_id=torch.from_numpy(
                np.asarray(view['point_id'], dtype=np.int64)))

    def transform(self, results: dict) -> dict:
        """Pack ``results['views']``.

        Args:
            results (dict): Result dict with ``views``.

        Returns:
            dict: ``inputs`` and ``data_samples`` (see the class docstring).
        """
        packed = [self.pack_view(view) for view in results['views']]
        inputs = {
            key: torch.cat([view[key] for view in packed])
            for key in ('coord', 'grid_coord', 'feat', 'point_id')
        }
        inputs['view_size'] = torch.tensor(
            [view['coord'].shape[0] for view in packed], dtype=torch.int64)
        inputs['mask_seed'] = torch.tensor(
            [view['mask_seed'] for view in results['views']],
            dtype=torch.int64)
        data_sample = Det3DDataSample()
        data_sample.set_metainfo(
            dict(
                lidar_path=results.get('lidar_points', {}).get('lidar_path'),
                sample_idx=results.get('sample_idx'),
                num_points=len(results['points']),
                view_meta=[{
                    key: view[key]
                    for key in self.meta_keys if key in view
                } for view in results['views']]))
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{self.__class__.__name__}('
                f'attribute_scale={self.attribute_scale}, '
                f'attribute_shift={self.attribute_shift})')
