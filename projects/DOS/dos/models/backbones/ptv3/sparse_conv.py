# Copyright (c) OpenMMLab. All rights reserved.
"""Submanifold 3x3x3 sparse convolution: pure PyTorch, spconv on CUDA.

The output voxels are the input voxels, and each output sums the 27
neighbouring input voxels that exist (cross-correlation, like
:func:`torch.nn.functional.conv3d`)::

    out[i] = bias + sum_k W[:, k] @ feat[j(i, k)],  grid(j) = grid(i) + d_k

with ``d_k = (kx - 1, ky - 1, kz - 1)`` in (x, y, z) order. The weight
layout is spconv 2.x's KRSC, ``(C_out, 3, 3, 3, C_in)`` indexed
``[o, kx, ky, kz, i]`` for grid coordinates (and spconv indices) in
(x, y, z) order, so checkpoints move between the two implementations.

The pure-PyTorch path is written here because spconv's CPU build has no
bias and no backward without CUDA; it uses a rulebook built once per level
from sorted int64 voxel keys with :func:`torch.searchsorted`, and per kernel
offset one gather, one GEMM and one ``index_add_``; its autograd function
saves only the inputs (no (pairs, C) gathers), keeping training memory low.
"""
import math
from typing import TYPE_CHECKING, Any, Iterator, Optional, Tuple

import torch
from torch import Tensor, nn

try:
    import spconv.pytorch as spconv
except ImportError:  # spconv is optional: the PyTorch path covers CPU.
    spconv = None

if TYPE_CHECKING:
    from .structure import PointLevel

KERNEL_VOLUME = 27
CENTER = KERNEL_VOLUME // 2
_AXIS_BITS = 17  # 16-bit coordinates shifted by one, so +-1 never borrows.


def kernel_offsets(device: Optional[torch.device] = None) -> Tensor:
    """The 27 neighbour offsets in weight order.

    Args:
        device (torch.device, optional): device of the result.

    Returns:
        Tensor: (27, 3) int64 (dx, dy, dz); row ``k = 9 * (dx + 1) +
        3 * (dy + 1) + (dz + 1)``, so row ``26 - k`` is ``-d_k``.
    """
    grid = torch.arange(-1, 2, device=device)
    return torch.cartesian_prod(grid, grid, grid)


class SubMRulebook:
    """Neighbour pairs of a 3x3x3 submanifold conv on one voxel set.

    Built once per level and shared by every conv of that level (the
    equivalent of spconv's ``indice_key``).

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates (x, y, z), in
            ``[0, 2**16)``, unique within each sample.
        batch (Tensor): (N,) int64 sample index, < 2**12.

    Attributes:
        out_index (Tensor): (M,) int64 output row of each neighbour pair,
            pairs grouped by kernel offset (centre excluded).
        in_index (Tensor): (M,) int64 input row of each pair.
        offset_ids (list[int]): kernel offset index of each group.
        counts (list[int]): number of pairs of each group.
    """

    def __init__(self, grid_coord: Tensor, batch: Tensor) -> None:
        if grid_coord.numel() and int(grid_coord.max()) >= 1 << 16:
            raise ValueError('SubMRulebook supports grid coordinates below '
                             f'2**16, got max {int(grid_coord.max())}')
        shifted = grid_coord.long() + 1
        keys = ((batch.long() << (3 * _AXIS_BITS))
                | (shifted[:, 0] << (2 * _AXIS_BITS))
                | (shifted[:, 1] << _AXIS_BITS) | shifted[:, 2])
        sorted_keys, sorted_rows = torch.sort(keys)
        if bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
            raise ValueError(
                'grid_coord has duplicate voxels within a sample; the '
                'submanifold conv needs one row per voxel (grid-sample the '
                'points first)')
        offsets = kernel_offsets(grid_coord.device)[:CENTER]
        deltas = ((offsets[:, 0] << (2 * _AXIS_BITS)) +
                  (offsets[:, 1] << _AXIS_BITS) + offsets[:, 2])
        # Search only the 13 offsets before the centre: a pair (i, j) at
        # offset d is also the pair (j, i) at offset -d.
        query = keys[None, :] + deltas[:, None]
        position = torch.searchsorted(
            sorted_keys, query).clamp_(max=max(keys.numel() - 1, 0))
        found = sorted_keys[position] == query
        offset_of_pair, row = found.nonzero(as_tuple=True)
        neighbour = sorted_rows[position[offset_of_pair, row]]
        counts = torch.bincount(offset_of_pair, minlength=CENTER).tolist()
        rows = row.split(counts)
        neighbours = neighbour.split(counts)
        self.offset_ids = list(
            range(CENTER)) + [KERNEL_VOLUME - 1 - k for k in range(CENTER)]
        self.counts = counts + counts
        self.out_index = torch.cat(list(rows) + list(neighbours))
        self.in_index = torch.cat(list(neighbours) + list(rows))

    def groups(self) -> Iterator[Tuple[int, Tensor, Tensor]]:
        """The non-empty pair groups, one per kernel offset.

        Yields:
            tuple: offset index ``k`` (its weight is ``weight[:, k]`` of
            the flattened ``(C_out, 27, C_in)`` weight), then the (m,) int64
            output rows and input rows of its pairs (views).
        """
        for k, out_rows, in_rows in zip(self.offset_ids,
                                        self.out_index.split(self.counts),
                                        self.in_index.split(self.counts)):
            if out_rows.numel():
                yield k, out_rows, in_rows


class SubMConv3dFunction(torch.autograd.Function):
    """Autograd function of the rulebook conv.

    Saves only ``feat`` and ``weight``; the bias starts the output (one
    ``addmm``, no separate sum). Forward and backward run one kernel
    offset at a time (gather that offset's pairs, one GEMM, ``index_add_``),
    so the transient buffers are one offset's pairs, not all ``M`` of them:
    ``M`` is about ten times ``N`` on LiDAR voxels, and buffers of that size
    (``(M, C)`` gathers and products, rebuilt in backward) were the peak of
    a training step's memory. The work is the same either way.
    """

    @staticmethod
    def forward(ctx: Any, feat: Tensor, weight: Tensor, bias: Optional[Tensor],
                rulebook: SubMRulebook) -> Tensor:
        """Args: feat (N, C_in), weight (C_out, 3, 3, 3, C_in), bias
        (C_out,) or None.

        Returns: (N, C_out) conv output.
        """
        ctx.save_for_backward(feat, weight)
        ctx.rulebook = rulebook
        flat = weight.reshape(weight.shape[0], KERNEL_VOLUME, -1)
        center = flat[:, CENTER].t()
        out = feat @ center if bias is None else torch.addmm(
            bias, feat, center)
        for k, out_rows, in_rows in rulebook.groups():
            out.index_add_(0, out_rows,
                           feat.index_select(0, in_rows) @ flat[:, k].t())
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tuple[Optional[Tensor], ...]:
        """Gradients for ``feat``, ``weight`` and ``bias`` (none for the
        rulebook)."""
        feat, weight = ctx.saved_tensors
        rulebook: SubMRulebook = ctx.rulebook
        grad_out = grad_out.contiguous()
        flat = weight.reshape(weight.shape[0], KERNEL_VOLUME, -1)
        need_feat, need_weight = ctx.needs_input_grad[:2]
        grad_feat = grad_out @ flat[:, CENTER] if need_feat else None
        grad_flat = None
        if need_weight:
            grad_flat = torch.zeros_like(flat)
            grad_flat[:, CENTER] = grad_out.t() @ feat
        for k, out_rows, in_rows in rulebook.groups():
            grad_rows = grad_out.index_select(0, out_rows)
            if need_feat:
                grad_feat.index_add_(0, in_rows, grad_rows @ flat[:, k])
            if need_weight:
                grad_flat[:, k] = grad_rows.t() @ feat.index_select(0, in_rows)
        grad_weight = grad_flat.view_as(weight) if need_weight else None
        grad_bias = grad_out.sum(0) if ctx.needs_input_grad[2] else None
        return grad_feat, grad_weight, grad_bias, None


class SubMConv3d(nn.Module):
    """3x3x3 submanifold sparse convolution with spconv's weight layout.

    Uses spconv's ``SubMConv3d`` for CUDA inputs when spconv is importable,
    and the pure-PyTorch rulebook conv otherwise.

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        bias (bool): learnable bias. Default: True.
        indice_key (str, optional): spconv rulebook key shared by the convs
            of one level. Default: None.

    Attributes:
        weight (nn.Parameter): (C_out, 3, 3, 3, C_in), indexed
            ``[o, kx, ky, kz, i]`` for (x, y, z) grid coordinates.
        bias (nn.Parameter | None): (C_out,).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 bias: bool = True,
                 indice_key: Optional[str] = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.indice_key = indice_key
        self.weight = nn.Parameter(
            torch.empty(out_channels, 3, 3, 3, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight and uniform bias, as ``nn.Conv3d``."""
        fan_in = KERNEL_VOLUME * self.in_channels
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -math.sqrt(3.0) * bound,
                         math.sqrt(3.0) * bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, feat: Tensor, level: 'PointLevel') -> Tensor:
        """Convolve the features of a level's voxels.

        Args:
            feat (Tensor): (N, C_in) features of the level's rows.
            level (PointLevel): the level (voxel coordinates and caches).

        Returns:
            Tensor: (N, C_out) features.
        """
        if feat.is_cuda and spconv is not None:
            return self._forward_spconv(feat, level)
        # Cast the weights to the features' dtype (mixed precision).
        bias = None if self.bias is None else self.bias.to(feat.dtype)
        return SubMConv3dFunction.apply(feat, self.weight.to(feat.dtype), bias,
                                        level.rulebook())

    def _forward_spconv(self, feat: Tensor, level: 'PointLevel') -> Tensor:
        """spconv's implicit-GEMM conv sharing this module's parameters."""
        template = self.__dict__.get('_spconv_template')
        if template is None:
            # Parameter-free stand-in (meta tensors) kept out of the module
            # tree: it only lends spconv's forward to this module's weights.
            with torch.device('meta'):
                template = spconv.SubMConv3d(
                    self.in_channels,
                    self.out_channels,
                    3,
                    bias=self.bias is not None,
                    indice_key=self.indice_key)
            self.__dict__['_spconv_template'] = template
        template.train(self.training)
        params = {'weight': self.weight}
        if self.bias is not None:
            params['bias'] = self.bias
        sparse = level.sparse_tensor()
        out = torch.func.functional_call(template, params,
                                         (sparse.replace_feature(feat), ))
        # spconv returns its rulebook in a copy of the input's indice_dict;
        # keep it on the level so the level's other convs reuse it.
        sparse.indice_dict.update(out.indice_dict)
        return out.features

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size=3, '
                f'bias={self.bias is not None}')
