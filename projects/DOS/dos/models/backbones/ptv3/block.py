# Copyright (c) OpenMMLab. All rights reserved.
"""The PTv3 transformer block: CPE, serialized attention and MLP."""
from typing import Optional

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .attention import SerializedAttention
from .sparse_conv import SubMConv3d
from .structure import PointLevel


class DropPath(nn.Module):
    """Stochastic depth on per-point residual branches.

    Each row (point) of the residual is zeroed with probability ``drop_prob``
    in training and the survivors are rescaled by ``1 / (1 - drop_prob)``.
    Written here to avoid a dependency on timm for ten lines.

    Args:
        drop_prob (float): probability of dropping a row. Default: 0.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """Drop rows of ``x``, and add them to ``residual`` if given.

        With ``residual`` the sum is one fused op (``torch.addcmul``), which
        allocates only the result and saves only the (N, 1) mask: no (N, C)
        temporaries, which matter in a training step's memory.

        Args:
            x (Tensor): (N, C) residual branch.
            residual (Tensor, optional): (N, C) identity path.

        Returns:
            Tensor: (N, C) ``drop(x)`` or ``residual + drop(x)``.
        """
        if not self.training or self.drop_prob == 0.0:
            return x if residual is None else residual + x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty(x.shape[0], 1).bernoulli_(keep)
        if residual is None:
            return x * mask / keep
        return torch.addcmul(residual, x, mask, value=1.0 / keep)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class ConditionalPositionalEncoding(nn.Module):
    """xCPE: submanifold 3x3x3 conv + Linear + LayerNorm.

    Args:
        channels (int): C.
        indice_key (str, optional): spconv rulebook key of the level.
    """

    def __init__(self,
                 channels: int,
                 indice_key: Optional[str] = None) -> None:
        super().__init__()
        self.conv = SubMConv3d(channels, channels, indice_key=indice_key)
        self.linear = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels)

    def forward(self, feat: Tensor, level: PointLevel) -> Tensor:
        """Args: feat (N, C), level. Returns: (N, C) encoding."""
        return self.norm(self.linear(self.conv(feat, level)))


class PTv3Block(nn.Module):
    """Pre-norm PTv3 block with LayerNorm.

    ``x = x + CPE(x)``, ``x = x + DropPath(Attn(LN(x)))``,
    ``x = x + DropPath(MLP(LN(x)))``.

    Args:
        channels (int): C.
        num_heads (int): attention heads.
        patch_size (int): serialized patch size K.
        mlp_ratio (float): hidden width of the MLP over C. Default: 4.
        qkv_bias (bool): bias of the qkv projection. Default: True.
        attn_drop (float): attention dropout. Default: 0.
        proj_drop (float): dropout after projections. Default: 0.
        drop_path (float): stochastic depth rate. Default: 0.
        enable_flash (bool): flash-attn on CUDA when available.
            Default: True.
        indice_key (str, optional): spconv rulebook key of the level.
        recompute_mlp (bool): in training, keep only the MLP branch's input
            for backward and recompute ``MLP(LN(x))`` there
            (:func:`torch.utils.checkpoint.checkpoint`): the branch's
            ``(1 + 2 * mlp_ratio) * C`` saved floats per point (LN output,
            hidden pre- and post-GELU) are the largest share of a block's
            activations, and the MLP is a small share of its compute.
            Same results. Default: True.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int,
                 patch_size: int,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 drop_path: float = 0.0,
                 enable_flash: bool = True,
                 indice_key: Optional[str] = None,
                 recompute_mlp: bool = True) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.cpe = ConditionalPositionalEncoding(channels, indice_key)
        self.norm1 = nn.LayerNorm(channels)
        self.attn = SerializedAttention(
            channels,
            num_heads,
            patch_size=patch_size,
            qkv_bias=qkv_bias,
            attn_drop=attn_drop,
            proj_drop=proj_drop,
            enable_flash=enable_flash)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Dropout(proj_drop),
            nn.Linear(hidden, channels), nn.Dropout(proj_drop))
        self.drop_path = DropPath(drop_path)
        self.recompute_mlp = recompute_mlp

    def _mlp_branch(self, feat: Tensor) -> Tensor:
        """Args: feat (N, C). Returns: (N, C) ``MLP(LN(feat))``."""
        return self.mlp(self.norm2(feat))

    def forward(self, feat: Tensor, level: PointLevel,
                order_index: int) -> Tensor:
        """Run the block.

        Args:
            feat (Tensor): (N, C) features of the level's rows.
            level (PointLevel): the level (serializations and caches).
            order_index (int): serialization used by the attention.

        Returns:
            Tensor: (N, C) features.
        """
        feat = feat + self.cpe(feat, level)
        feat = self.drop_path(
            self.attn(self.norm1(feat), level, order_index), feat)
        if self.recompute_mlp and feat.requires_grad:
            branch = checkpoint(self._mlp_branch, feat, use_reentrant=False)
        else:
            branch = self._mlp_branch(feat)
        return self.drop_path(branch, feat)
