# Copyright (c) OpenMMLab. All rights reserved.
"""Softmap loss and the Table 5 target variants (clustering, regression)."""
import pytest
import torch

from projects.DOS.dos.models.losses import (ClusteringLoss,
                                            CosineRegressionLoss, SoftmapLoss,
                                            ZipfSinkhorn, segment_log_softmax)


def make_scores(n=70, k=12, num_segments=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    segment = torch.randint(0, num_segments, (n, ), generator=gen)
    cos = torch.rand(n, k, generator=gen) * 2 - 1
    return cos, segment


def test_segment_log_softmax_normalises_each_segment_over_points():
    cos, segment = make_scores()
    log_s = segment_log_softmax(cos / 0.1, segment, 3)
    for s in range(3):
        torch.testing.assert_close(log_s[segment == s].exp().sum(0),
                                   torch.ones(12))
        torch.testing.assert_close(
            log_s[segment == s],
            torch.log_softmax(cos[segment == s] / 0.1, dim=0))


def test_softmap_loss_is_zero_at_the_target_and_positive_otherwise():
    cos, segment = make_scores()
    log_target = ZipfSinkhorn(12, 1.3, 3)(cos / 0.07, segment, 3)
    loss_fn = SoftmapLoss()
    # The student's softmap equals the target when its scores are the
    # target's log (any per-column shift within a segment cancels).
    student = (log_target + 5.0).requires_grad_()
    zero = loss_fn(student, log_target, segment, 3)
    assert abs(zero.item()) < 1e-6
    zero.backward()
    assert student.grad.abs().max() < 1e-6
    other = loss_fn(cos / 0.1, log_target, segment, 3)
    assert other.item() > 1e-3


def test_softmap_loss_matches_per_segment_kl_definition():
    cos, segment = make_scores(seed=1)
    log_target = ZipfSinkhorn(12, 1.3, 3)(cos.flip(0) / 0.07, segment, 3)
    loss = SoftmapLoss()(cos / 0.1, log_target, segment, 3)
    per_segment = []
    for s in range(3):
        t = log_target[segment == s].double()
        q = torch.log_softmax(cos[segment == s].double() / 0.1, dim=0)
        # (1/K) sum_k KL(S_T(:, k) || S_S(:, k))
        per_segment.append((t.exp() * (t - q)).sum(0).mean())
    torch.testing.assert_close(
        loss.double(), torch.stack(per_segment).mean(), rtol=1e-5, atol=1e-6)


def test_segments_never_mix_in_the_loss():
    cos, segment = make_scores(seed=2)
    log_target = ZipfSinkhorn(12, 1.3, 3)(cos / 0.07, segment, 3)
    student = (cos.flip(1) / 0.1).requires_grad_()
    SoftmapLoss()(student, log_target, segment, 3).backward()
    grad = student.grad.clone()
    # Perturbing segment 0 leaves the gradient of the other segments.
    perturbed = student.detach().clone()
    perturbed[segment == 0] += torch.randn(int((segment == 0).sum()), 12)
    perturbed.requires_grad_()
    SoftmapLoss()(perturbed, log_target, segment, 3).backward()
    torch.testing.assert_close(perturbed.grad[segment != 0],
                               grad[segment != 0])
    assert not torch.allclose(perturbed.grad[segment == 0], grad[segment == 0])


def test_small_segments_are_skipped_and_all_skipped_gives_a_zero_with_grad():
    cos = torch.rand(5, 4)
    segment = torch.tensor([0, 0, 0, 1, 2])  # segments 1 and 2: 1 voxel
    target = ZipfSinkhorn(4, 1.3)(cos / 0.07, segment, 3)
    student = torch.rand(5, 4, requires_grad=True)
    only_first = SoftmapLoss()(student, target, segment, 3)
    alone = SoftmapLoss()(student[:3], target[:3], segment[:3], 1)
    torch.testing.assert_close(only_first, alone)
    single = torch.rand(1, 4, requires_grad=True)
    zero = SoftmapLoss()(single, ZipfSinkhorn(4)(single.detach()),
                         torch.zeros(1, dtype=torch.long), 1)
    assert zero.item() == 0.0 and zero.grad_fn is not None
    zero.backward()
    empty = torch.zeros(0, 4, requires_grad=True)
    zero = SoftmapLoss()(empty, empty.detach(),
                         torch.zeros(0, dtype=torch.long), 2)
    assert zero.item() == 0.0 and zero.grad_fn is not None


@pytest.mark.parametrize('n, k', [(200_000, 4), (300, 4096), (1, 4096)])
def test_loss_and_gradient_finite_at_extreme_settings(n, k):
    gen = torch.Generator().manual_seed(5)
    segment = torch.zeros(n, dtype=torch.long)
    teacher = torch.rand(n, k, generator=gen) * 2 - 1
    target = ZipfSinkhorn(k, 3.0, 3)(teacher / 0.01, segment, 1)
    student = ((torch.rand(n, k, generator=gen) * 2 - 1) /
               0.1).requires_grad_()
    loss = SoftmapLoss()(student, target, segment, 1)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()


def test_clustering_loss_normalises_over_prototypes():
    cos, segment = make_scores(seed=3)
    target = ZipfSinkhorn(12, 0.0, 3, 'prototypes')(cos / 0.07, segment, 3)
    torch.testing.assert_close(target.exp().sum(1), torch.ones(70))
    loss_fn = ClusteringLoss()
    assert abs(float(loss_fn(target + 3.0, target, segment, 3))) < 1e-6
    loss = loss_fn(cos / 0.1, target, segment, 3)
    per_segment = []
    for s in range(3):
        t = target[segment == s]
        q = torch.log_softmax(cos[segment == s] / 0.1, dim=1)
        per_segment.append((t.exp() * (t - q)).sum(1).mean())
    torch.testing.assert_close(loss, torch.stack(per_segment).mean())


def test_cosine_regression_loss():
    gen = torch.Generator().manual_seed(6)
    embed = torch.randn(30, 8, generator=gen)
    segment = torch.tensor([0] * 10 + [1] * 20)
    loss_fn = CosineRegressionLoss()
    assert abs(float(loss_fn(embed * 2.0, embed, segment, 2))) < 1e-6
    opposite = loss_fn(-embed, embed, segment, 2)
    torch.testing.assert_close(opposite, torch.tensor(2.0))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match='shapes differ'):
        SoftmapLoss()(torch.zeros(3, 4), torch.zeros(3, 5),
                      torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match='int64'):
        SoftmapLoss()(torch.zeros(3, 4), torch.zeros(3, 4),
                      torch.zeros(3, dtype=torch.int32), 1)
