# Copyright (c) OpenMMLab. All rights reserved.
"""Serialization codes against bit-by-bit reference curves."""
import pytest
import torch

from projects.DOS.dos.models.backbones.ptv3.serialization import (
    SERIALIZATION_ORDERS, encode, hilbert_encode, serialization_depth,
    serialize, z_order_encode)


def reference_z_order(x: int, y: int, z: int, depth: int) -> int:
    """Morton code, one bit at a time (x bit i -> 3i+2, y -> 3i+1, z -> 3i)."""
    code = 0
    for i in range(depth):
        code |= ((x >> i) & 1) << (3 * i + 2)
        code |= ((y >> i) & 1) << (3 * i + 1)
        code |= ((z >> i) & 1) << (3 * i)
    return code


def reference_hilbert(point, depth: int) -> int:
    """Textbook Hilbert index: Skilling (2004) AxestoTranspose, scalar.

    The transposed result is read bit plane by bit plane from the top, axis 0
    first, into one integer.
    """
    axes = list(point)
    n = len(axes)
    top = 1 << (depth - 1)
    q = top
    while q > 1:
        p = q - 1
        for i in range(n):
            if axes[i] & q:
                axes[0] ^= p
            else:
                t = (axes[0] ^ axes[i]) & p
                axes[0] ^= t
                axes[i] ^= t
        q >>= 1
    for i in range(1, n):
        axes[i] ^= axes[i - 1]
    t = 0
    q = top
    while q > 1:
        if axes[n - 1] & q:
            t ^= q - 1
        q >>= 1
    axes = [a ^ t for a in axes]
    index = 0
    for bit in reversed(range(depth)):
        for a in axes:
            index = (index << 1) | ((a >> bit) & 1)
    return index


@pytest.mark.parametrize('depth', [1, 3, 7, 16])
def test_z_order_matches_bitwise_reference(depth):
    gen = torch.Generator().manual_seed(depth)
    grid = torch.randint(0, 1 << depth, (300, 3), generator=gen)
    expected = [reference_z_order(*row, depth) for row in grid.tolist()]
    assert z_order_encode(grid).tolist() == expected


@pytest.mark.parametrize('depth', [1, 2, 5, 9, 16])
def test_hilbert_matches_textbook_reference(depth):
    gen = torch.Generator().manual_seed(100 + depth)
    grid = torch.randint(0, 1 << depth, (300, 3), generator=gen)
    expected = [reference_hilbert(row, depth) for row in grid.tolist()]
    assert hilbert_encode(grid, depth).tolist() == expected


@pytest.mark.parametrize('depth', [1, 2, 3, 4])
def test_hilbert_visits_a_full_cube_in_unit_steps(depth):
    side = 1 << depth
    axis = torch.arange(side)
    grid = torch.cartesian_prod(axis, axis, axis)
    code = hilbert_encode(grid, depth)
    assert torch.equal(code.sort().values, torch.arange(side**3))
    path = grid[code.argsort()]
    steps = (path[1:] - path[:-1]).abs().sum(1)
    assert bool((steps == 1).all())
    assert path[0].tolist() == [0, 0, 0]


def test_trans_orders_swap_x_and_y_and_batch_is_high_bits():
    gen = torch.Generator().manual_seed(0)
    grid = torch.randint(0, 50, (200, 3), generator=gen)
    batch = torch.randint(0, 3, (200, ), generator=gen)
    depth = serialization_depth(grid)
    assert depth == 6
    swapped = grid[:, [1, 0, 2]]
    for name in ('z', 'hilbert'):
        plain = encode(grid, batch, depth, name)
        trans = encode(grid, batch, depth, f'{name}-trans')
        assert torch.equal(trans, encode(swapped, batch, depth, name))
        assert torch.equal(plain >> (3 * depth), batch)
    curve = encode(grid, torch.zeros_like(batch), depth, 'z')
    assert torch.equal(encode(grid, batch, depth, 'z'), (batch << 18) | curve)
    expected = [reference_z_order(*row, depth) for row in grid.tolist()]
    assert curve.tolist() == expected


def test_each_order_is_a_permutation_with_inverse():
    gen = torch.Generator().manual_seed(1)
    grid = torch.randint(0, 300, (500, 3), generator=gen)
    batch = torch.sort(torch.randint(0, 4, (500, ), generator=gen)).values
    orders = serialize(grid, batch, SERIALIZATION_ORDERS)
    assert [o.name for o in orders] == list(SERIALIZATION_ORDERS)
    arange = torch.arange(500)
    for o in orders:
        assert torch.equal(o.order.sort().values, arange)
        assert torch.equal(o.order[o.inverse], arange)
        assert torch.equal(o.inverse[o.order], arange)
        assert bool((o.code[o.order].diff() >= 0).all())
        # Samples stay contiguous and in sample order along every curve.
        assert bool((batch[o.order].diff() >= 0).all())


def test_serialization_rejects_bad_grids():
    with pytest.raises(ValueError, match='>= 0'):
        serialization_depth(torch.tensor([[0, -1, 2]]))
    with pytest.raises(ValueError, match='bits per axis'):
        serialization_depth(torch.tensor([[0, 1 << 16, 2]]))
    with pytest.raises(ValueError, match='unknown serialization order'):
        encode(
            torch.zeros(2, 3, dtype=torch.long),
            torch.zeros(2).long(), 1, 'peano')
    with pytest.raises(ValueError, match='63 bits'):
        encode(
            torch.zeros(1, 3, dtype=torch.long), torch.tensor([1 << 20]), 16,
            'z')
