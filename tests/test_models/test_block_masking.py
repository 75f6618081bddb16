# Copyright (c) OpenMMLab. All rights reserved.
import pytest
import torch

from projects.DOS.dos.models.utils import BlockMasking, DegenerateViewError


def _scene_views(num_segments: int = 4,
                 points: int = 3000,
                 extent: float = 12.) -> tuple:
    """Random clouds of several segments, (N, 3) coords and (S,) offsets."""
    generator = torch.Generator().manual_seed(0)
    coord = torch.rand(num_segments * points, 3, generator=generator)
    coord = coord * torch.tensor([extent, extent, 3.]) - 5.
    # shift segments apart so that a batch-wide anchor would differ
    shift = torch.arange(num_segments).repeat_interleave(points) * 100.
    coord[:, 0] += shift
    offset = torch.arange(1, num_segments + 1) * points
    return coord, offset


def _block_keys(coord: torch.Tensor, offset: torch.Tensor,
                block_size: float) -> torch.Tensor:
    """(segment, cube) keys computed independently of BlockMasking."""
    keys = []
    start = 0
    for seg, end in enumerate(offset.tolist()):
        part = coord[start:end]
        cube = torch.floor((part - part.min(0).values) / block_size).long()
        seg_col = torch.full((end - start, 1), seg, dtype=torch.long)
        keys.append(torch.cat([seg_col, cube], dim=1))
        start = end
    return torch.cat(keys)


@pytest.mark.parametrize('ratio', [0.6, 0.7])
def test_ratio_per_segment_and_strict_subset(ratio):
    coord, offset = _scene_views()
    masking = BlockMasking(block_size=1.0, mask_ratio=ratio)
    visible = masking(coord, offset, seeds=torch.arange(4))
    keys = _block_keys(coord, offset, 1.0)
    start = 0
    for seg, end in enumerate(offset.tolist()):
        seg_keys, inverse = torch.unique(
            keys[start:end], dim=0, return_inverse=True)
        seg_visible = visible[start:end]
        masked_blocks = torch.zeros(len(seg_keys), dtype=torch.bool)
        masked_blocks[inverse[~seg_visible]] = True
        num_blocks = len(seg_keys)
        assert int(masked_blocks.sum()) == round(ratio * num_blocks)
        assert 0 < int(seg_visible.sum()) < end - start
        start = end


def test_blocks_are_whole_cubes():
    coord, offset = _scene_views()
    visible = BlockMasking(1.0, 0.7)(coord, offset, seeds=torch.arange(4))
    keys = _block_keys(coord, offset, 1.0)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    per_cube_min = torch.full((int(inverse.max()) + 1, ), 2).scatter_reduce(
        0, inverse, visible.long(), reduce='amin')
    per_cube_max = torch.full((int(inverse.max()) + 1, ), -1).scatter_reduce(
        0, inverse, visible.long(), reduce='amax')
    assert torch.equal(per_cube_min, per_cube_max)


def test_deterministic_and_independent_of_batch():
    coord, offset = _scene_views()
    masking = BlockMasking(0.4, 0.7)
    seeds = torch.tensor([11, 12, 13, 14])
    first = masking(coord, offset, seeds=seeds)
    assert torch.equal(first, masking(coord, offset, seeds=seeds))
    # the same view in a different batch gets the same mask
    alone = masking(coord[:3000], offset[:1], seeds=seeds[:1])
    assert torch.equal(first[:3000], alone)
    # another seed gives another mask
    assert not torch.equal(first, masking(coord, offset, seeds=seeds + 1))
    # generator-drawn seeds are reproducible
    a = masking(coord, offset, generator=torch.Generator().manual_seed(3))
    b = masking(coord, offset, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_views_of_one_scene_masked_independently():
    coord, offset = _scene_views(num_segments=1)
    two_views = torch.cat([coord, coord])
    visible = BlockMasking(1.0, 0.7)(
        two_views, torch.tensor([3000, 6000]), seeds=torch.tensor([1, 2]))
    assert not torch.equal(visible[:3000], visible[3000:])


def test_releases_blocks_to_keep_min_visible():
    # two blocks: a dense one and a single far point; at ratio 0.5 either may
    # be masked, but the lonely point alone is too few to stay visible
    dense = torch.rand(50, 3, generator=torch.Generator().manual_seed(0))
    coord = torch.cat([dense * 0.5, torch.tensor([[5., 5., 5.]])])
    masking = BlockMasking(1.0, 0.5, min_visible=2)
    for seed in range(8):
        visible = masking(
            coord, torch.tensor([51]), seeds=torch.tensor([seed]))
        assert int(visible.sum()) >= 2
        assert not bool(visible.all())


@pytest.mark.parametrize('coord, match', [
    (torch.rand(40, 3) * 0.5, 'block'),
    (torch.tensor([[0., 0., 0.], [3., 3., 3.]]), 'points'),
    (torch.zeros(0, 3), '0 points'),
])
def test_degenerate_views_raise(coord, match):
    masking = BlockMasking(1.0, 0.7)
    with pytest.raises(DegenerateViewError, match=match) as info:
        masking(coord, torch.tensor([coord.shape[0]]), seeds=torch.tensor([0]))
    assert info.value.segment == 0


@pytest.mark.parametrize('field, value', [('mask_ratio', 1.0),
                                          ('mask_ratio', -0.1),
                                          ('block_size', 0.)])
def test_invalid_settings_rejected(field, value):
    masking = BlockMasking(1.0, 0.7)
    with pytest.raises(ValueError, match=field):
        setattr(masking, field, value)
