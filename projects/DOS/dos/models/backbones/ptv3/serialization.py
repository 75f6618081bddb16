# Copyright (c) OpenMMLab. All rights reserved.
"""Space-filling-curve serialization of voxelised point clouds.

PTv3 orders the voxels of a batch along space-filling curves and attends
inside consecutive windows ("patches") of that order. Four curves are used:
``'z'`` (Morton order), ``'hilbert'``, and their ``'-trans'`` variants, which
swap the x and y axes before encoding. The sample index is folded into the
bits above the curve code, so sorting the codes sorts by sample first and
along the curve second.

Bit conventions (the same as Pointcept's, so that patches of pretrained
checkpoints are reproduced):

* z-order: bit ``i`` of x goes to code bit ``3i + 2``, of y to ``3i + 1`` and
  of z to ``3i``.
* Hilbert: Skilling's transpose algorithm ("Programming the Hilbert curve",
  AIP Conf. Proc. 707, 2004) on ``depth`` bits per axis with x as the most
  significant axis of every bit triple.
"""
from typing import List, NamedTuple, Sequence

import torch
from torch import Tensor

SERIALIZATION_ORDERS = ('z', 'z-trans', 'hilbert', 'hilbert-trans')
MAX_DEPTH = 16


class SerializedOrder(NamedTuple):
    """One serialization of the voxels of a batch.

    Attributes:
        name (str): curve name, one of :data:`SERIALIZATION_ORDERS`.
        code (Tensor): (N,) int64 curve code with the sample index folded
            into the high bits.
        order (Tensor): (N,) int64 permutation sorting ``code`` ascending:
            ``order[k]`` is the row holding the k-th voxel along the curve.
        inverse (Tensor): (N,) int64 inverse permutation:
            ``order[inverse[i]] == i``.
    """

    name: str
    code: Tensor
    order: Tensor
    inverse: Tensor


def _spread_bits(value: Tensor) -> Tensor:
    """Insert two zero bits between each of the low 21 bits of ``value``.

    Args:
        value (Tensor): (N,) int64, entries in ``[0, 2**21)``.

    Returns:
        Tensor: (N,) int64 with bit ``i`` of ``value`` moved to bit ``3i``.
    """
    value = value & 0x1FFFFF
    value = (value | (value << 32)) & 0x1F00000000FFFF
    value = (value | (value << 16)) & 0x1F0000FF0000FF
    value = (value | (value << 8)) & 0x100F00F00F00F00F
    value = (value | (value << 4)) & 0x10C30C30C30C30C3
    value = (value | (value << 2)) & 0x1249249249249249
    return value


def z_order_encode(grid_coord: Tensor) -> Tensor:
    """Morton (z-order) code of integer voxel coordinates.

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates in (x, y, z)
            order, each in ``[0, 2**16)``.

    Returns:
        Tensor: (N,) int64 code; bit ``i`` of x, y, z lands at bits
        ``3i + 2``, ``3i + 1``, ``3i``.
    """
    grid_coord = grid_coord.long()
    return ((_spread_bits(grid_coord[:, 0]) << 2)
            | (_spread_bits(grid_coord[:, 1]) << 1)
            | _spread_bits(grid_coord[:, 2]))


def hilbert_encode(grid_coord: Tensor, depth: int) -> Tensor:
    """Hilbert-curve index of integer voxel coordinates.

    Vectorised over points (the loops run over the ``depth`` bits and the 3
    axes only): Skilling's ``AxestoTranspose`` followed by interleaving the
    transposed bits, x first within each bit triple.

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates in (x, y, z)
            order, each in ``[0, 2**depth)``.
        depth (int): bits per axis of the curve (its order), 1 to 16.

    Returns:
        Tensor: (N,) int64 Hilbert index in ``[0, 2**(3 * depth))``.
    """
    axes = [grid_coord[:, dim].long().clone() for dim in range(3)]
    # Undo the excess work: rotate/reflect sub-cubes from the top bit down.
    bit = 1 << (depth - 1)
    while bit > 1:
        low_mask = bit - 1
        for dim in range(3):
            is_set = (axes[dim] & bit) != 0
            if dim == 0:
                axes[0] = torch.where(is_set, axes[0] ^ low_mask, axes[0])
                continue
            swap = torch.where(is_set, 0, (axes[0] ^ axes[dim]) & low_mask)
            axes[0] = axes[0] ^ swap ^ torch.where(is_set, low_mask, 0)
            axes[dim] = axes[dim] ^ swap
        bit >>= 1
    # Gray encode.
    axes[1] = axes[1] ^ axes[0]
    axes[2] = axes[2] ^ axes[1]
    flip = torch.zeros_like(axes[2])
    bit = 1 << (depth - 1)
    while bit > 1:
        flip = torch.where((axes[2] & bit) != 0, flip ^ (bit - 1), flip)
        bit >>= 1
    axes = [axis ^ flip for axis in axes]
    # Interleave: axis 0 is the most significant of each bit triple.
    return ((_spread_bits(axes[0]) << 2) | (_spread_bits(axes[1]) << 1)
            | _spread_bits(axes[2]))


def serialization_depth(grid_coord: Tensor) -> int:
    """Bits per axis needed to encode ``grid_coord``.

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates (x, y, z), >= 0.

    Returns:
        int: ``bit_length(max(grid_coord) + 1)``, at least 1.

    Raises:
        ValueError: if a coordinate is negative or needs more than
            :data:`MAX_DEPTH` bits.
    """
    if grid_coord.numel() == 0:
        return 1
    low, high = grid_coord.aminmax()
    low, high = int(low), int(high)
    if low < 0:
        raise ValueError(
            f'grid_coord must be >= 0 for serialization, got min {low}')
    depth = max(int(high + 1).bit_length(), 1)
    if depth > MAX_DEPTH:
        raise ValueError(
            f'grid_coord max {high} needs {depth} bits per axis; at most '
            f'{MAX_DEPTH} are supported (use a coarser grid or crop)')
    return depth


def encode(grid_coord: Tensor, batch: Tensor, depth: int, name: str) -> Tensor:
    """Curve code of one order with the sample index folded in.

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates (x, y, z).
        batch (Tensor): (N,) int64 sample index of every voxel.
        depth (int): bits per axis (see :func:`serialization_depth`).
        name (str): one of :data:`SERIALIZATION_ORDERS`.

    Returns:
        Tensor: (N,) int64 ``batch << (3 * depth) | curve_code``.

    Raises:
        ValueError: for an unknown order name or when the batch index does
            not fit in the 63 bits left of a signed int64.
    """
    if name not in SERIALIZATION_ORDERS:
        raise ValueError(f'unknown serialization order {name!r}; expected '
                         f'one of {SERIALIZATION_ORDERS}')
    if name.endswith('-trans'):
        grid_coord = grid_coord[:, [1, 0, 2]]
    if name.startswith('hilbert'):
        code = hilbert_encode(grid_coord, depth)
    else:
        code = z_order_encode(grid_coord)
    if batch.numel() > 0:
        batch_bits = int(batch.max()).bit_length()
        if 3 * depth + batch_bits > 63:
            raise ValueError(
                f'{batch_bits} batch bits + 3 x {depth} curve bits exceed '
                'the 63 bits of an int64 serialization code')
    return (batch.long() << (3 * depth)) | code


def serialize(grid_coord: Tensor, batch: Tensor,
              names: Sequence[str]) -> List[SerializedOrder]:
    """Serialize a batch of voxels along the requested curves.

    Args:
        grid_coord (Tensor): (N, 3) int64 voxel coordinates (x, y, z), >= 0.
        batch (Tensor): (N,) int64 sample index (non-decreasing not needed).
        names (Sequence[str]): curve names, each in
            :data:`SERIALIZATION_ORDERS`.

    Returns:
        list[SerializedOrder]: one entry per name, in the given order.
    """
    depth = serialization_depth(grid_coord)
    arange = torch.arange(grid_coord.shape[0], device=grid_coord.device)
    orders = []
    for name in names:
        code = encode(grid_coord, batch, depth, name)
        order = torch.argsort(code, stable=True)
        inverse = torch.empty_like(order).scatter_(0, order, arange)
        orders.append(SerializedOrder(name, code, order, inverse))
    return orders
