# Copyright (c) OpenMMLab. All rights reserved.
"""Projection MLP + K prototypes producing cosine scores (DOS / Sonata)."""
from typing import List, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ..backbones.ptv3 import UpcastFeature


class PrototypeScores(NamedTuple):
    """Output of :class:`PrototypeHead`.

    Attributes:
        embed (Tensor): (M, D) fp32 L2-normalised projections.
        cos (Tensor): (M, K) fp32 cosine similarity of each projection to
            each prototype, in [-1, 1].
    """
    embed: Tensor
    cos: Tensor


@MODELS.register_module()
class PrototypeHead(BaseModule):
    """Projection MLP followed by K L2-normalised prototypes.

    ``Linear(in, hidden) -> GELU -> Linear(hidden, embed) -> L2-normalise ->
    weight_norm(Linear(embed, K, bias=False))`` with the weight-norm
    magnitude ``g`` fixed to 1 and frozen, so that each output is the cosine
    similarity between a voxel's projection and a prototype direction
    (Sonata's ``OnlineCluster`` head; DOS gives only K). The parameter names
    (``prototypes.parametrizations.weight.original0/1``) follow
    ``torch.nn.utils.parametrizations.weight_norm``.

    The cosine scores are computed in fp32 with autocast disabled: they are
    divided by temperatures down to 0.01 and fed to Zipf-Sinkhorn, where
    bf16 rounding (8 bits of mantissa) would be amplified 100 times.

    Args:
        in_channels (int): Channels of the backbone's up-cast features
            (1088 for the Sonata-size encoder).
        hidden_channels (int): MLP hidden width. Defaults to 4096 (Sonata).
        embed_channels (int): Projection (prototype) dimension D.
            Defaults to 256 (Sonata).
        num_prototypes (int): K, >= 1. Defaults to 1024 (DOS).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to truncated normal (std 0.02) on the Linear layers, as
            in Sonata.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 4096,
        embed_channels: int = 256,
        num_prototypes: int = 1024,
        init_cfg: Optional[Union[dict, List[dict]]] = dict(
            type='TruncNormal', layer='Linear', std=0.02, bias=0.0)
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('hidden_channels',
                                                           hidden_channels),
                            ('embed_channels', embed_channels),
                            ('num_prototypes', num_prototypes)):
            if isinstance(value,
                          bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'PrototypeHead: {name} must be an int >= 1, got '
                    f'{value!r}')
        self.num_prototypes = num_prototypes
        self.projector = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.GELU(),
            nn.Linear(hidden_channels, embed_channels))
        self.prototypes = weight_norm(
            nn.Linear(embed_channels, num_prototypes, bias=False))
        magnitude = self.prototypes.parametrizations.weight.original0
        magnitude.data.fill_(1.0)
        magnitude.requires_grad_(False)

    def forward(self, feat: Union[Tensor, UpcastFeature]) -> PrototypeScores:
        """Project features and score them against the prototypes.

        Args:
            feat (Tensor | UpcastFeature): (M, in_channels) voxel features,
                or PTv3's up-cast features kept level by level, whose first
                projection is computed per level (fewer multiply-adds, same
                result up to float summation order).

        Returns:
            PrototypeScores: ``embed`` (M, D) and ``cos`` (M, K), fp32.
        """
        first, rest = self.projector[0], self.projector[1:]
        embed = rest(
            feat.linear(first) if isinstance(feat, UpcastFeature
                                             ) else first(feat))
        with torch.autocast(device_type=embed.device.type, enabled=False):
            embed = F.normalize(embed.float(), dim=1, eps=1e-12)
            cos = F.linear(embed, self.prototypes.weight.float())
        return PrototypeScores(embed=embed, cos=cos)
