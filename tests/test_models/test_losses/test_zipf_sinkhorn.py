# Copyright (c) OpenMMLab. All rights reserved.
"""Zipf-Sinkhorn: agreement with Algorithm 1, marginals, segments, extremes."""
import pytest
import torch

from projects.DOS.dos.models.losses import ZipfSinkhorn, zipf_log_prior


def literal_algorithm_1(logits: torch.Tensor, alpha: float,
                        num_iters: int) -> torch.Tensor:
    """Algorithm 1 of the paper, line by line, in fp64 (reference)."""
    F = torch.exp(logits.double())
    K = F.shape[1]
    w = 1.0 / torch.arange(1, K + 1, dtype=torch.float64)**alpha
    w = w / w.sum()
    F = F / F.sum()
    for _ in range(num_iters):
        F = F / F.sum(dim=1, keepdim=True)
        F = F * w / F.sum(dim=0, keepdim=True)
    return F / F.sum(dim=0, keepdim=True)


@pytest.mark.parametrize('alpha', [0.0, 1.3, 3.0])
@pytest.mark.parametrize('num_iters', [1, 3, 10])
def test_log_domain_equals_literal_algorithm(alpha, num_iters):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(60, 32, generator=gen) * 4
    target = ZipfSinkhorn(32, alpha, num_iters)(logits)
    reference = literal_algorithm_1(logits, alpha, num_iters)
    torch.testing.assert_close(
        target.exp().double(), reference, rtol=0, atol=1e-5)


def test_zipf_prior_is_normalised_power_law():
    w = zipf_log_prior(5, 1.3).double().exp()
    expected = torch.arange(1, 6, dtype=torch.float64)**-1.3
    torch.testing.assert_close(w, expected / expected.sum(), atol=1e-7, rtol=0)
    assert torch.allclose(
        zipf_log_prior(7, 0.0).exp(), torch.full((7, ), 1 / 7))
    sinkhorn = ZipfSinkhorn(5, 1.3)
    assert 'log_prior' not in sinkhorn.state_dict()  # derived from config
    torch.testing.assert_close(sinkhorn.log_prior, zipf_log_prior(5, 1.3))


def test_marginals_converge_to_zipf_columns_and_uniform_rows():
    gen = torch.Generator().manual_seed(1)
    n, k = 64, 8
    logits = torch.randn(n, k, generator=gen) * 2
    w = zipf_log_prior(k, 1.3).exp()
    # Row-normalised plan P = N F: its mean over points is F's column sum.
    plan = ZipfSinkhorn(k, 1.3, 200, 'prototypes')(logits).exp()
    torch.testing.assert_close(plan.mean(0), w, atol=1e-5, rtol=0)
    # Softmap S = F / w: S @ w is F's row sum, uniform 1/N.
    softmap = ZipfSinkhorn(k, 1.3, 200, 'points')(logits).exp()
    torch.testing.assert_close(
        softmap @ w, torch.full((n, ), 1 / n), atol=1e-6, rtol=0)
    # Few iterations are far from the prior: the test can fail.
    early = ZipfSinkhorn(k, 1.3, 1, 'prototypes')(logits).exp()
    assert (early.mean(0) - w).abs().max() > 1e-2


def test_alpha_zero_is_uniform_sinkhorn():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(40, 10, generator=gen) * 3
    plan = ZipfSinkhorn(10, 0.0, 300, 'prototypes')(logits).exp()
    torch.testing.assert_close(
        plan.mean(0), torch.full((10, ), 0.1), atol=1e-5, rtol=0)
    zipf = ZipfSinkhorn(10, 1.3, 300, 'prototypes')(logits).exp()
    assert (zipf.mean(0) - 0.1).abs().max() > 0.05


def test_softmap_columns_sum_to_one_per_segment_and_segments_never_mix():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(90, 16, generator=gen) * 5
    # Non-contiguous segment ids: segments need not be sorted.
    segment = torch.randint(0, 3, (90, ), generator=gen)
    sinkhorn = ZipfSinkhorn(16, 1.3, 3)
    target = sinkhorn(logits, segment, 3).exp()
    for s in range(3):
        torch.testing.assert_close(target[segment == s].sum(0), torch.ones(16))
        # Each segment equals the algorithm run on that segment alone.
        alone = sinkhorn(logits[segment == s]).exp()
        torch.testing.assert_close(target[segment == s], alone)
    perturbed = logits.clone()
    perturbed[segment == 0] = torch.randn(
        int((segment == 0).sum()), 16, generator=gen) * 9
    moved = sinkhorn(perturbed, segment, 3).exp()
    assert torch.equal(moved[segment != 0], target[segment != 0])
    assert not torch.allclose(moved[segment == 0], target[segment == 0])


@pytest.mark.parametrize('n, k', [(256, 4096), (200_000, 4), (1, 4096)])
def test_finite_at_extreme_settings(n, k):
    gen = torch.Generator().manual_seed(4)
    cos = torch.rand(n, k, generator=gen) * 2 - 1
    target = ZipfSinkhorn(k, 3.0, 3)(cos / 0.01)
    assert torch.isfinite(target).all()
    torch.testing.assert_close(target.exp().sum(0), torch.ones(k))


def test_invalid_config_is_rejected_naming_the_field():
    with pytest.raises(ValueError, match='alpha'):
        ZipfSinkhorn(8, alpha=-0.5)
    with pytest.raises(ValueError, match='num_prototypes'):
        ZipfSinkhorn(0)
    with pytest.raises(ValueError, match='num_iters'):
        ZipfSinkhorn(8, num_iters=0)
    with pytest.raises(ValueError, match="'points', 'prototypes'"):
        ZipfSinkhorn(8, normalize_over='rows')
    with pytest.raises(ValueError, match=r'\(N, 8\)'):
        ZipfSinkhorn(8)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match='segment ids'):
        ZipfSinkhorn(8)(torch.zeros(3, 8), torch.tensor([0, 1, 2]), 2)
