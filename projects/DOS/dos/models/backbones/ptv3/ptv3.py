# Copyright (c) OpenMMLab. All rights reserved.
"""Point Transformer V3 backbone (PT-v3m2 style, LayerNorm throughout)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .block import PTv3Block
from .pooling import GridPooling, GridUnpooling
from .serialization import SERIALIZATION_ORDERS
from .sparse_conv import SubMConv3d
from .structure import PointLevel, offset_to_batch
from .upcast import UpcastFeature

IntOrSeq = Union[int, Sequence[int]]


def _per_stage(value: IntOrSeq, num_stages: int, name: str) -> Tuple[int, ...]:
    """Broadcast an int to every stage, or check a sequence's length."""
    if isinstance(value, int):
        return (value, ) * num_stages
    value = tuple(value)
    if len(value) != num_stages:
        raise ValueError(f'PTv3 {name} needs {num_stages} entries, got '
                         f'{len(value)}: {value}')
    return value


class PTv3Stage(nn.Module):
    """The blocks of one level, run in sequence.

    Args:
        blocks (list[PTv3Block]): the level's blocks; block i uses the
            level's serialization ``i % num_orders``.
        with_cp (bool): recompute each block's activations in backward
            (activation checkpointing) instead of storing them. Default:
            False.
    """

    def __init__(self, blocks: List[PTv3Block], with_cp: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.with_cp = with_cp

    def forward(self, feat: Tensor, level: PointLevel) -> Tensor:
        """Args: feat (N, C), level. Returns: (N, C)."""
        for index, block in enumerate(self.blocks):
            if self.with_cp and feat.requires_grad:
                feat = checkpoint(
                    block, feat, level, index, use_reentrant=False)
            else:
                feat = block(feat, level, index)
        return feat


@MODELS.register_module()
class PTv3(BaseModule):
    """Point Transformer V3 with LayerNorm (the encoder Sonata and DOS use).

    Stem ``Linear + LayerNorm + GELU``; stage 0 runs at the input grid, every
    later stage starts with :class:`GridPooling`. Each block is xCPE
    (submanifold conv), serialized patch attention and an MLP. The output is
    either the "up-cast" hypercolumn at level ``up_cast_level`` (deeper
    features mapped back and concatenated) or, with ``decoder=True``, the
    level-0 features of a light U-Net decoder (for segmentation fine-tuning).

    Input ``points`` dict (the data contract):

    - ``coord`` (N, 3) float32 metric coordinates (x, y, z), metres.
    - ``grid_coord`` (N, 3) int64 voxel coordinates (x, y, z) at the input
      grid, >= 0, one row per voxel within each sample.
    - ``feat`` (N, in_channels) float32.
    - ``offset`` (B,) int64 cumulative end row of each sample (no leading 0).
    - ``mask`` (N,) bool, optional, True = masked; only read when built with
      ``mask_token=True``.

    Output dict:

    - ``feat`` (M, out_channels) features at the output level.
    - ``coord`` (M, 3) mean coordinates (x, y, z) of each output voxel.
    - ``grid_coord`` (M, 3) int64 (x, y, z) at the output level's grid.
    - ``offset`` (B,) int64 cumulative ends; ``batch`` (M,) int64.
    - ``point2out`` (N,) int64 output row holding each input point.
    - ``stage_inverse`` list of (N_s,) int64: level s row -> level s+1 row.
    - ``upcast`` (encoder-only model) :class:`UpcastFeature`, the same rows
      as ``feat`` kept level by level, on which a Linear layer costs fewer
      multiply-adds (``UpcastFeature.linear``).

    Args:
        in_channels (int): C_in of ``feat``. Default: 4.
        order (Sequence[str]): serialization curves. Default: all four.
        stride (Sequence[int]): pooling stride before stages 1.. .
            Default: (2, 2, 2, 2).
        enc_depths (Sequence[int]): blocks per stage. Default: base preset.
        enc_channels (Sequence[int]): channels per stage.
        enc_num_head (Sequence[int]): attention heads per stage.
        enc_patch_size (int | Sequence[int]): patch size per stage.
            Default: 1024.
        mlp_ratio (float): MLP hidden width over C. Default: 4.
        qkv_bias (bool): bias of the qkv projections. Default: True.
        attn_drop (float): attention dropout. Default: 0.
        proj_drop (float): projection dropout. Default: 0.
        drop_path (float): final stochastic depth rate; the rate rises
            linearly from 0 over the encoder blocks (and again over the
            decoder blocks). Default: 0.3.
        shuffle_orders (bool): shuffle the curves of every level at every
            forward in training mode (never in eval mode). Default: True.
        enable_flash (bool): flash-attn varlen on CUDA when importable.
            Default: True.
        up_cast_level (int): output level of the encoder-only model.
            Default: 2 (stride 4).
        mask_token (bool): learn a token replacing the stem embedding of
            masked points (Sonata-style ablations). Default: False.
        with_cp (bool): activation checkpointing of every block: stores
            only block inputs for backward and recomputes the rest (about a
            third more compute for a fraction of the activation memory).
            Default: False.
        recompute_mlp (bool): recompute only the MLP branch of each block
            in backward (see :class:`PTv3Block`; about 40 % less activation
            memory for a few percent more compute, same results); implied
            by ``with_cp``. Default: True.
        decoder (bool): add the light decoder and output level 0.
            Default: False.
        dec_depths (Sequence[int]): decoder blocks per level 0..S-2.
        dec_channels (Sequence[int]): decoder channels per level 0..S-2.
        dec_num_head (Sequence[int]): decoder heads per level 0..S-2.
        dec_patch_size (int | Sequence[int]): decoder patch sizes.
        init_cfg (dict | list[dict], optional): mmengine init config (e.g.
            ``dict(type='Pretrained', checkpoint=...)``).
    """

    def __init__(self,
                 in_channels: int = 4,
                 order: Sequence[str] = SERIALIZATION_ORDERS,
                 stride: Sequence[int] = (2, 2, 2, 2),
                 enc_depths: Sequence[int] = (2, 2, 2, 6, 2),
                 enc_channels: Sequence[int] = (32, 64, 128, 256, 512),
                 enc_num_head: Sequence[int] = (2, 4, 8, 16, 32),
                 enc_patch_size: IntOrSeq = 1024,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 drop_path: float = 0.3,
                 shuffle_orders: bool = True,
                 enable_flash: bool = True,
                 up_cast_level: int = 2,
                 mask_token: bool = False,
                 with_cp: bool = False,
                 recompute_mlp: bool = True,
                 decoder: bool = False,
                 dec_depths: Sequence[int] = (2, 2, 2, 2),
                 dec_channels: Sequence[int] = (64, 64, 128, 256),
                 dec_num_head: Sequence[int] = (4, 4, 8, 16),
                 dec_patch_size: IntOrSeq = 1024,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_stages = len(enc_depths)
        order = (order, ) if isinstance(order, str) else tuple(order)
        for name in order:
            if name not in SERIALIZATION_ORDERS:
                raise ValueError(f'PTv3 order {name!r} is not one of '
                                 f'{SERIALIZATION_ORDERS}')
        enc_channels = _per_stage(enc_channels, num_stages, 'enc_channels')
        enc_num_head = _per_stage(enc_num_head, num_stages, 'enc_num_head')
        enc_patch_size = _per_stage(enc_patch_size, num_stages,
                                    'enc_patch_size')
        stride = _per_stage(stride, num_stages - 1, 'stride')
        if not 0 <= up_cast_level < num_stages:
            raise ValueError(f'up_cast_level must be in [0, {num_stages}), '
                             f'got {up_cast_level}')
        self.order = order
        self.shuffle_orders = shuffle_orders
        self.up_cast_level = up_cast_level
        self.num_stages = num_stages
        block_cfg = dict(
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            attn_drop=attn_drop,
            proj_drop=proj_drop,
            enable_flash=enable_flash,
            recompute_mlp=recompute_mlp and not with_cp)

        self.embedding = nn.Sequential(
            nn.Linear(in_channels, enc_channels[0]),
            nn.LayerNorm(enc_channels[0]), nn.GELU())
        self.mask_token = nn.Parameter(torch.zeros(
            1, enc_channels[0])) if mask_token else None

        enc_rates = torch.linspace(0, drop_path, sum(enc_depths)).tolist()
        self.pooling = nn.ModuleList()
        self.enc = nn.ModuleList()
        for s in range(num_stages):
            if s > 0:
                self.pooling.append(
                    GridPooling(enc_channels[s - 1], enc_channels[s],
                                stride[s - 1]))
            first = sum(enc_depths[:s])
            self.enc.append(
                PTv3Stage([
                    PTv3Block(
                        enc_channels[s],
                        enc_num_head[s],
                        enc_patch_size[s],
                        drop_path=enc_rates[first + i],
                        indice_key=f'stage{s}',
                        **block_cfg) for i in range(enc_depths[s])
                ], with_cp))

        self.decoder = decoder
        if decoder:
            dec_depths = _per_stage(dec_depths, num_stages - 1, 'dec_depths')
            dec_channels = _per_stage(dec_channels, num_stages - 1,
                                      'dec_channels')
            dec_num_head = _per_stage(dec_num_head, num_stages - 1,
                                      'dec_num_head')
            dec_patch_size = _per_stage(dec_patch_size, num_stages - 1,
                                        'dec_patch_size')
            dec_rates = torch.linspace(0, drop_path, sum(dec_depths)).tolist()
            self.unpooling = nn.ModuleList()
            self.dec = nn.ModuleList()
            for s in range(num_stages - 1):
                child = (
                    enc_channels[-1] if s == num_stages -
                    2 else dec_channels[s + 1])
                self.unpooling.append(
                    GridUnpooling(child, enc_channels[s], dec_channels[s]))
                first = sum(dec_depths[:s])
                self.dec.append(
                    PTv3Stage([
                        PTv3Block(
                            dec_channels[s],
                            dec_num_head[s],
                            dec_patch_size[s],
                            drop_path=dec_rates[first + dec_depths[s] - 1 - i],
                            indice_key=f'stage{s}',
                            **block_cfg) for i in range(dec_depths[s])
                    ], with_cp))
            self.out_channels = dec_channels[0]
        else:
            self.out_channels = sum(enc_channels[up_cast_level:])
        self.apply(self._init_module)
        if self.mask_token is not None:
            nn.init.trunc_normal_(self.mask_token, std=0.02)

    @staticmethod
    def _init_module(module: nn.Module) -> None:
        """Pointcept's default init: truncated normal (std 0.02), zero bias.

        ``init_cfg`` (e.g. a pretrained checkpoint) is applied on top by
        :meth:`init_weights`.
        """
        if isinstance(module, (nn.Linear, SubMConv3d)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def _order_names(self) -> Tuple[str, ...]:
        """Curves of one level: shuffled per call in training only."""
        if self.training and self.shuffle_orders and len(self.order) > 1:
            return tuple(self.order[i]
                         for i in torch.randperm(len(self.order)).tolist())
        return self.order

    @staticmethod
    def _check_inputs(points: Dict[str, Tensor]) -> None:
        """Validate the input dict against the data contract."""
        for key in ('coord', 'grid_coord', 'feat', 'offset'):
            if key not in points:
                raise ValueError(f'PTv3 input dict lacks {key!r}; got keys '
                                 f'{sorted(points)}')
        num_points = points['coord'].shape[0]
        for key in ('coord', 'grid_coord'):
            shape = tuple(points[key].shape)
            if shape != (num_points, 3):
                raise ValueError(f'PTv3 input {key!r} must be (N, 3) with '
                                 f'N={num_points}, got {shape}')
        if points['feat'].dim() != 2 or points['feat'].shape[0] != num_points:
            raise ValueError(f"PTv3 input 'feat' must be (N, C) with "
                             f"N={num_points}, got "
                             f"{tuple(points['feat'].shape)}")
        if points['grid_coord'].dtype.is_floating_point:
            raise TypeError("PTv3 input 'grid_coord' must be an integer "
                            f"tensor, got {points['grid_coord'].dtype}")
        offset = points['offset']
        if offset.dim() != 1 or offset.numel() == 0 or int(
                offset[-1]) != num_points:
            raise ValueError("PTv3 input 'offset' must be (B,) cumulative "
                             f'ends ending at N={num_points}, got {offset}')
        if 'mask' in points and tuple(points['mask'].shape) != (num_points, ):
            raise ValueError(f"PTv3 input 'mask' must be (N,) with "
                             f"N={num_points}, got "
                             f"{tuple(points['mask'].shape)}")

    def forward(self, points: Dict[str, Tensor]) -> Dict[str, object]:
        """Encode a batch of voxelised point clouds.

        Args:
            points (dict[str, Tensor]): see the class docstring.

        Returns:
            dict: ``feat``, ``coord``, ``grid_coord``, ``offset``, ``batch``,
            ``point2out``, ``stage_inverse`` and, without the decoder,
            ``upcast`` (see the class docstring).
        """
        self._check_inputs(points)
        offset = points['offset'].long()
        level = PointLevel(points['coord'], points['grid_coord'].long(),
                           offset_to_batch(offset), offset,
                           self._order_names())
        feat = self.embedding(points['feat'])
        if self.mask_token is not None and 'mask' in points:
            feat = torch.where(points['mask'].bool()[:, None],
                               self.mask_token.to(feat.dtype), feat)

        levels: List[PointLevel] = []
        feats: List[Tensor] = []
        inverses: List[Tensor] = []
        for s, stage in enumerate(self.enc):
            if s > 0:
                feat, level, inverse = self.pooling[s - 1](feat, level,
                                                           self._order_names())
                inverses.append(inverse)
            feat = stage(feat, level)
            levels.append(level)
            feats.append(feat)

        if self.decoder:
            for s in reversed(range(self.num_stages - 1)):
                feat = self.unpooling[s](feat, feats[s], inverses[s])
                feat = self.dec[s](feat, levels[s])
            out_level_index = 0
        else:
            upcast = UpcastFeature(feats[self.up_cast_level:],
                                   inverses[self.up_cast_level:])
            feat = upcast.dense()
            out_level_index = self.up_cast_level

        point2out = torch.arange(
            points['coord'].shape[0], device=offset.device)
        for inverse in inverses[:out_level_index]:
            point2out = inverse[point2out]
        out_level = levels[out_level_index]
        out = dict(
            feat=feat,
            coord=out_level.coord,
            grid_coord=out_level.grid_coord,
            offset=out_level.offset,
            batch=out_level.batch,
            point2out=point2out,
            stage_inverse=inverses)
        if not self.decoder:
            out['upcast'] = upcast
        return out
