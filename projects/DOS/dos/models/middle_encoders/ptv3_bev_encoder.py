# Copyright (c) OpenMMLab. All rights reserved.
"""PTv3 on CenterPoint's voxels, pooled to the bird's-eye-view map."""
import copy
import math
import os.path as osp
from typing import List, Optional, Sequence, Union

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from .backbone_checkpoint import (check_grid_matches, load_checkpoint_file,
                                  pretraining_grid, state_dict_of,
                                  strip_prefix, verify_backbone_weights)

BEV_REDUCTIONS = ('amax', 'mean')


@MODELS.register_module()
class PTv3BEVEncoder(BaseModule):
    """Run a PTv3 encoder on hard voxels and pool its features to a BEV map.

    A ``pts_middle_encoder`` for mmdet3d's stock ``CenterPoint``: it takes
    the per-voxel features of ``HardSimpleVFE`` and returns the dense map
    that ``SECOND`` -> ``SECONDFPN`` -> ``CenterHead`` expect, in place of
    ``SparseEncoder``.

    1. PTv3 input (CONTRACT.md): voxels sorted by sample;
       ``grid_coord = coors[:, [3, 2, 1]]`` (x, y, z), ``coord`` = voxel
       centres ``point_cloud_range[:3] + (grid_coord + 0.5) * voxel_size``
       (x, y, z, metres), ``feat = voxel_features * feat_scale`` and
       ``offset`` the cumulative voxel counts of the samples.
    2. The PTv3 encoder returns features at its output level (the up-cast
       level, stride ``s`` input voxels; Sonata-style concatenation of the
       deeper stages, as in DOS pretraining).
    3. Every output voxel goes to BEV cell
       ``(b, y // (out_size_factor / s), x // (out_size_factor / s))`` of its
       level grid coordinates, and the cell takes the ``reduce`` (max or
       mean) over its voxels with :meth:`torch.Tensor.scatter_reduce`, so
       any number of voxels stacked in z (or neighbours) in one cell
       contribute. (mmdet3d's ``PointPillarsScatter`` writes one voxel per
       cell and silently drops the others, which is only right for pillars.)
       Empty cells are 0.

    Grids: ``grid_size`` (x, y, z) must equal
    ``(point_cloud_range[3:] - point_cloud_range[:3]) / voxel_size``, and the
    output is (B, C, grid_size[1] // out_size_factor,
    grid_size[0] // out_size_factor), i.e. (B, C, H=y, W=x), the heatmap size
    ``CenterHead`` derives from ``train_cfg.pts.grid_size`` and
    ``out_size_factor``; both must divide exactly.

    Pretrained weights go in the backbone's ``init_cfg``
    (``dict(type='Pretrained', checkpoint=..., prefix=None)``, a file from
    ``tools/convert_dos_ckpt.py``). At build time a local checkpoint's
    recorded pretraining grid is compared with ``voxel_size``; after
    :meth:`init_weights` every backbone tensor must equal the checkpoint's
    (mmengine alone only logs missing keys).

    Args:
        backbone (dict): PTv3 config (``type='PTv3'``), encoder only
            (``decoder=False``).
        point_cloud_range (Sequence[float]): (x_min, y_min, z_min, x_max,
            y_max, z_max) in metres, as in the voxelization layer.
        voxel_size (Sequence[float]): (x, y, z) voxel edge in metres, as in
            the voxelization layer; must be the pretraining grid when
            loading DOS weights.
        grid_size (Sequence[int]): (x, y, z) number of voxels
            (``train_cfg.pts.grid_size``).
        out_size_factor (int): BEV cell size in input voxels
            (``train_cfg.pts.out_size_factor``); a multiple of the backbone
            output stride.
        feat_scale (Sequence[float], optional): per-channel multiplier of
            ``voxel_features`` before PTv3 (e.g. ``(1, 1, 1, 1 / 255)`` to
            give intensity the [0, 1] range of DOS pretraining). Defaults to
            None (unchanged).
        reduce (str): BEV pooling, ``'amax'`` or ``'mean'``. Defaults to
            ``'amax'``.
        init_cfg (dict | list[dict], optional): Initialisation config of
            this module (the backbone's weights go in ``backbone.init_cfg``).
    """

    def __init__(self,
                 backbone: dict,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 grid_size: Sequence[int],
                 out_size_factor: int,
                 feat_scale: Optional[Sequence[float]] = None,
                 reduce: str = 'amax',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(point_cloud_range) != 6 or len(voxel_size) != 3 or len(
                grid_size) != 3:
            raise ValueError(
                'PTv3BEVEncoder needs point_cloud_range (6,), voxel_size (3,) '
                f'and grid_size (3,), got {list(point_cloud_range)}, '
                f'{list(voxel_size)}, {list(grid_size)}')
        expected_grid = [
            round((point_cloud_range[i + 3] - point_cloud_range[i]) /
                  voxel_size[i]) for i in range(3)
        ]
        if list(grid_size) != expected_grid:
            raise ValueError(
                f'PTv3BEVEncoder grid_size {list(grid_size)} (x, y, z) does '
                f'not match point_cloud_range {list(point_cloud_range)} / '
                f'voxel_size {list(voxel_size)} = {expected_grid}')
        if reduce not in BEV_REDUCTIONS:
            raise ValueError(f'PTv3BEVEncoder reduce must be one of '
                             f'{BEV_REDUCTIONS}, got {reduce!r}')
        if grid_size[0] % out_size_factor or grid_size[1] % out_size_factor:
            raise ValueError(
                f'PTv3BEVEncoder out_size_factor {out_size_factor} must '
                f'divide grid_size x and y {list(grid_size[:2])}')
        backbone = copy.deepcopy(backbone)
        if backbone.get('decoder', False):
            raise ValueError('PTv3BEVEncoder uses the PTv3 encoder only; '
                             'build the backbone with decoder=False')
        self.backbone_init_cfg = backbone.get('init_cfg')
        self._check_pretrained_grid(voxel_size)
        self.backbone = MODELS.build(backbone)
        up_cast_level = self.backbone.up_cast_level
        backbone_stride = math.prod(
            pool.stride for pool in self.backbone.pooling[:up_cast_level])
        if out_size_factor % backbone_stride:
            raise ValueError(
                f'PTv3BEVEncoder out_size_factor {out_size_factor} must be a '
                f'multiple of the backbone output stride {backbone_stride} '
                f'(up_cast_level {up_cast_level}), or output voxels would '
                'straddle BEV cells')

        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.voxel_size = [float(v) for v in voxel_size]
        self.grid_size = [int(v) for v in grid_size]
        self.out_size_factor = int(out_size_factor)
        self.cell_in_output_voxels = self.out_size_factor // backbone_stride
        self.bev_shape = (self.grid_size[1] // self.out_size_factor,
                          self.grid_size[0] // self.out_size_factor)
        self.out_channels = self.backbone.out_channels
        self.reduce = reduce
        self.feat_scale = (None if feat_scale is None else torch.tensor(
            feat_scale, dtype=torch.float32))

    def _pretrained_checkpoint(self) -> Optional[dict]:
        """The backbone's ``Pretrained`` init config, if it has one."""
        cfgs = self.backbone_init_cfg
        if not isinstance(cfgs, list):
            cfgs = [cfgs]
        for cfg in cfgs:
            if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
                return cfg
        return None

    def _check_pretrained_grid(self, voxel_size: Sequence[float]) -> None:
        """Build-time check of a local checkpoint's pretraining grid."""
        cfg = self._pretrained_checkpoint()
        if cfg is None or not osp.isfile(str(cfg.get('checkpoint'))):
            return  # checked again after loading, in init_weights()
        checkpoint = load_checkpoint_file(cfg['checkpoint'])
        check_grid_matches(
            pretraining_grid(checkpoint.get('meta') or {}), voxel_size,
            cfg['checkpoint'])

    def init_weights(self) -> None:
        """Initialise, then verify that the pretrained backbone is complete.

        Raises:
            KeyError | ValueError: The checkpoint misses backbone keys, has
                unexpected or mis-shaped ones, some backbone tensor does not
                hold the checkpoint's value, or its pretraining grid differs
                from ``voxel_size``.
        """
        super().init_weights()
        cfg = self._pretrained_checkpoint()
        if cfg is None:
            return
        source = cfg['checkpoint']
        checkpoint = load_checkpoint_file(source)
        check_grid_matches(
            pretraining_grid(checkpoint.get('meta') or {}), self.voxel_size,
            source)
        state_dict = state_dict_of(checkpoint, source)
        if cfg.get('prefix'):
            state_dict = strip_prefix(state_dict, cfg['prefix'], source)
        verify_backbone_weights(self.backbone, state_dict, source)

    def _check_inputs(self, voxel_features: Tensor, coors: Tensor,
                      batch_size: int) -> None:
        """Validate shapes, dtype and coordinate ranges of the voxels."""
        if voxel_features.dim() != 2 or coors.shape != (
                voxel_features.shape[0], 4):
            raise ValueError(
                'PTv3BEVEncoder expects voxel_features (M, C) and coors (M, 4)'
                f' (b, z, y, x), got {tuple(voxel_features.shape)} and '
                f'{tuple(coors.shape)}')
        if coors.dtype.is_floating_point:
            raise TypeError('PTv3BEVEncoder coors must be integer (b, z, y, '
                            f'x), got {coors.dtype}')
        if self.feat_scale is not None and (self.feat_scale.numel()
                                            != voxel_features.shape[1]):
            raise ValueError(
                f'PTv3BEVEncoder feat_scale has {self.feat_scale.numel()} '
                f'entries but voxel_features has {voxel_features.shape[1]} '
                'channels')
        if coors.shape[0] == 0:
            raise ValueError('PTv3BEVEncoder got no voxels in the batch')
        # exclusive upper bounds of (b, z, y, x)
        upper = coors.new_tensor([batch_size, *self.grid_size[::-1]])
        if bool((coors < 0).any()) or bool((coors >= upper).any()):
            raise ValueError(
                'PTv3BEVEncoder coors must be (b, z, y, x) with b < '
                f'batch_size={batch_size} and (z, y, x) inside grid_size '
                f'(x, y, z)={self.grid_size}; got min '
                f'{coors.min(0).values.tolist()} and max '
                f'{coors.max(0).values.tolist()} (wrong coordinate order or '
                'voxel layer / grid mismatch?)')

    def forward(self, voxel_features: Tensor, coors: Tensor,
                batch_size: int) -> Tensor:
        """Encode the voxels with PTv3 and pool them to the BEV map.

        Args:
            voxel_features (Tensor): (M, C) per-voxel features from the voxel
                encoder (``HardSimpleVFE``: mean of the points' (x, y, z,
                intensity, ...)).
            coors (Tensor): (M, 4) int voxel indices (batch, z, y, x), as
                produced by mmdet3d's hard voxelization.
            batch_size (int): B.

        Returns:
            Tensor: (B, C_bev, H, W) BEV features, H = grid_size[1] //
            out_size_factor (y), W = grid_size[0] // out_size_factor (x),
            C_bev = ``self.out_channels``.
        """
        self._check_inputs(voxel_features, coors, batch_size)
        coors = coors.long()
        order = torch.argsort(coors[:, 0], stable=True)
        coors = coors[order]
        feat = voxel_features[order]
        if self.feat_scale is not None:
            feat = feat * self.feat_scale.to(feat)
        grid_coord = coors[:, [3, 2, 1]].contiguous()
        coord = (grid_coord.to(feat.dtype) + 0.5) * feat.new_tensor(
            self.voxel_size) + feat.new_tensor(self.point_cloud_range[:3])
        offset = torch.cumsum(
            torch.bincount(coors[:, 0], minlength=batch_size), 0)
        out = self.backbone(
            dict(coord=coord, grid_coord=grid_coord, feat=feat, offset=offset))
        return self.scatter_to_bev(out['feat'], out['grid_coord'],
                                   out['batch'], batch_size)

    def scatter_to_bev(self, feat: Tensor, grid_coord: Tensor, batch: Tensor,
                       batch_size: int) -> Tensor:
        """Pool backbone output voxels into the dense BEV map.

        Args:
            feat (Tensor): (M, C) features of the backbone output voxels.
            grid_coord (Tensor): (M, 3) int64 (x, y, z) voxel coordinates at
                the backbone output level.
            batch (Tensor): (M,) int64 sample index.
            batch_size (int): B.

        Returns:
            Tensor: (B, C, H, W); cell (b, h, w) holds the ``reduce`` over
            the voxels with ``y // r == h`` and ``x // r == w``
            (r = ``cell_in_output_voxels``), 0 where there are none.
        """
        height, width = self.bev_shape
        cell = grid_coord[:, :2] // self.cell_in_output_voxels  # (x, y)
        index = (batch * height + cell[:, 1]) * width + cell[:, 0]
        canvas = feat.new_zeros(batch_size * height * width, feat.shape[1])
        canvas = canvas.scatter_reduce(
            0,
            index[:, None].expand_as(feat),
            feat,
            self.reduce,
            include_self=False)
        return canvas.view(batch_size, height, width,
                           -1).permute(0, 3, 1, 2).contiguous()
