# Copyright (c) OpenMMLab. All rights reserved.
"""The up-cast features kept level by level, and Linear layers on them."""
import pytest
import torch
from torch import nn

from projects.DOS.dos.models.backbones.ptv3 import UpcastFeature


def make_upcast(sizes=(50, 20, 7), channels=(4, 6, 8), seed=0):
    """Random level features and pooling parents (every parent has a child).
    """
    gen = torch.Generator().manual_seed(seed)
    feats = [
        torch.randn(n, c, generator=gen, dtype=torch.float64)
        for n, c in zip(sizes, channels)
    ]
    parents = []
    for fine, coarse in zip(sizes[:-1], sizes[1:]):
        parent = torch.cat([
            torch.arange(coarse),
            torch.randint(0, coarse, (fine - coarse, ), generator=gen)
        ])
        parents.append(parent[torch.randperm(fine, generator=gen)])
    return UpcastFeature(feats, parents)


def concatenated(upcast):
    """The up-cast feature as PTv3 defines it (parents composed)."""
    feats, parents = upcast.feats, upcast.parents
    return torch.cat(
        [feats[0], feats[1][parents[0]], feats[2][parents[1][parents[0]]]], 1)


def test_dense_and_row_selection():
    upcast = make_upcast()
    dense = concatenated(upcast)
    assert upcast.channels == 18 and len(upcast) == 50
    assert torch.equal(upcast.dense(), dense)
    rows = torch.tensor([3, 3, 49, 0, 17])
    assert len(upcast[rows]) == 5
    assert torch.equal(upcast[rows].dense(), dense[rows])
    inner = torch.tensor([4, 1])
    assert torch.equal(upcast[rows][inner].dense(), dense[rows][inner])


@pytest.mark.parametrize('rows', [None, [3, 3, 49, 0, 17, 8]])
def test_linear_equals_linear_on_the_concatenation(rows):
    torch.manual_seed(0)
    upcast = make_upcast()
    for feat in upcast.feats:
        feat.requires_grad_()
    layer = nn.Linear(18, 5).double()
    if rows is not None:
        upcast = upcast[torch.tensor(rows)]
    grad = torch.randn(len(upcast), 5, dtype=torch.float64)

    (upcast.linear(layer) * grad).sum().backward()
    got = [p.grad.clone() for p in [*upcast.feats, *layer.parameters()]]
    for p in [*upcast.feats, *layer.parameters()]:
        p.grad = None
    expected_out = layer(upcast.dense())
    (expected_out * grad).sum().backward()
    expected = [p.grad for p in [*upcast.feats, *layer.parameters()]]

    torch.testing.assert_close(upcast.linear(layer), expected_out)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_mismatched_sizes_are_rejected():
    upcast = make_upcast()
    with pytest.raises(ValueError, match='18-channel up-cast'):
        upcast.linear(nn.Linear(17, 4))
    with pytest.raises(ValueError, match='3 levels need 2 parent maps'):
        UpcastFeature(upcast.feats, upcast.parents[:1])
