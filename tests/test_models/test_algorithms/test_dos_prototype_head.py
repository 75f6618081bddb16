# Copyright (c) OpenMMLab. All rights reserved.
"""The prototype head: cosine scores against fixed-magnitude prototypes."""
import pytest
import torch
from mmdet3d.registry import MODELS

from projects.DOS.dos.models.backbones.ptv3 import UpcastFeature
from projects.DOS.dos.models.heads import PrototypeHead


def test_scores_are_cosines_and_the_magnitude_is_frozen():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='PrototypeHead',
            in_channels=12,
            hidden_channels=24,
            embed_channels=8,
            num_prototypes=16))
    head.init_weights()
    feat = torch.randn(30, 12)
    scores = head(feat)
    assert scores.embed.shape == (30, 8) and scores.cos.shape == (30, 16)
    torch.testing.assert_close(scores.embed.norm(dim=1), torch.ones(30))
    assert scores.cos.abs().max() <= 1.0 + 1e-6
    prototypes = torch.nn.functional.normalize(
        head.prototypes.parametrizations.weight.original1, dim=1)
    torch.testing.assert_close(scores.cos, scores.embed @ prototypes.T)
    magnitude = head.prototypes.parametrizations.weight.original0
    assert not magnitude.requires_grad
    assert torch.equal(magnitude, torch.ones(16, 1))
    scores.cos.sum().backward()
    assert head.prototypes.parametrizations.weight.original1.grad is not None
    assert magnitude.grad is None


def test_scores_are_fp32_under_bf16_autocast():
    head = PrototypeHead(8, 16, 8, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        scores = head(torch.randn(5, 8))
    assert scores.cos.dtype == torch.float32


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError, match='num_prototypes'):
        PrototypeHead(8, num_prototypes=0)
    with pytest.raises(ValueError, match='in_channels'):
        PrototypeHead(0)


def test_up_cast_input_gives_the_scores_of_its_concatenation():
    torch.manual_seed(0)
    head = PrototypeHead(6, 16, 8, 4)
    feats = [torch.randn(10, 2), torch.randn(4, 4)]
    upcast = UpcastFeature(feats,
                           [torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 3, 0])])
    rows = torch.tensor([9, 2, 5])
    for feat in (upcast, upcast[rows]):
        got, expected = head(feat), head(feat.dense())
        torch.testing.assert_close(got.embed, expected.embed)
        torch.testing.assert_close(got.cos, expected.cos)
