# Copyright (c) OpenMMLab. All rights reserved.
"""KoLeo spreading regulariser of the head embeddings."""
import math

import pytest
import torch
import torch.nn.functional as F

from projects.DOS.dos.models.losses import KoLeoLoss


def _nearest_neighbour_loss(x: torch.Tensor) -> torch.Tensor:
    """The definition, by brute force: -mean log of the distance to the
    nearest other row, on L2-normalised rows."""
    x = F.normalize(x, dim=1)
    dist = torch.cdist(x, x)
    dist.fill_diagonal_(float('inf'))
    return -torch.log(dist.min(dim=1).values).mean()


def test_koleo_matches_its_definition_per_segment():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=gen)
    segment = torch.tensor([1] * 20 + [0] * 30)[torch.randperm(
        50, generator=gen)]
    loss = KoLeoLoss(loss_weight=2.0, eps=1e-12)(x, segment, 3)
    expected = 2.0 * torch.stack(
        [_nearest_neighbour_loss(x[segment == s])
         for s in (0, 1)]).mean()  # segment 2 is empty and skipped
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)


def test_koleo_is_lower_for_spread_embeddings_than_for_collapsed_ones():
    gen = torch.Generator().manual_seed(0)
    segment = torch.zeros(256, dtype=torch.long)
    spread = torch.randn(256, 64, generator=gen)
    # the same number of rows confined to 2 of the 64 directions
    collapsed = spread.clone()
    collapsed[:, 2:] = 0.0
    loss = KoLeoLoss(loss_weight=1.0)
    assert loss(spread, segment, 1) < loss(collapsed, segment, 1) - 1.0
    # identical rows: large but finite, with a finite gradient
    same = torch.ones(16, 4, requires_grad=True)
    value = loss(same, segment[:16], 1)
    value.backward()
    assert math.isfinite(value.item()) and value.item() > 5.0
    assert torch.isfinite(same.grad).all()


def test_koleo_samples_at_most_max_points_rows_per_segment():
    x = torch.randn(300, 8, requires_grad=True)
    segment = torch.zeros(300, dtype=torch.long)
    KoLeoLoss(max_points=40)(x, segment, 1).backward()
    # only sampled rows (and their nearest neighbours, also sampled) get a
    # gradient
    assert 2 <= int((x.grad.abs().sum(1) > 0).sum()) <= 40


def test_koleo_without_a_pair_is_a_differentiable_zero():
    x = torch.randn(2, 8, requires_grad=True)
    loss = KoLeoLoss()(x, torch.tensor([0, 1]), 2)
    loss.backward()
    assert loss.item() == 0.0 and x.grad is not None


@pytest.mark.parametrize('kwargs, match', [
    (dict(max_points=1), 'max_points'),
    (dict(max_points=True), 'max_points'),
    (dict(eps=0.0), 'eps'),
])
def test_koleo_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KoLeoLoss(**kwargs)
