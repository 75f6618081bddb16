# Copyright (c) OpenMMLab. All rights reserved.
"""The cosine-momentum EMA teacher."""
import math

import pytest
import torch
from torch import nn

from projects.DOS.dos.models.algorithms import CosineTeacherEMA


def test_momentum_schedule_matches_the_cosine_formula():
    ema = CosineTeacherEMA(nn.Linear(2, 2), 0.994, 1.0)
    for progress in (0.0, 0.25, 0.5, 0.8, 1.0):
        expected = 1.0 - (1.0 - 0.994) * (math.cos(math.pi * progress) + 1) / 2
        assert ema.teacher_momentum_at(progress) == pytest.approx(expected)
        assert ema.set_progress(progress) == pytest.approx(expected)
        # mmengine's momentum is the weight of the NEW value.
        assert ema.momentum == pytest.approx(1.0 - expected)
    assert ema.teacher_momentum_at(0.0) == pytest.approx(0.994)
    assert ema.teacher_momentum_at(1.0) == pytest.approx(1.0)
    assert ema.teacher_momentum_at(1.5) == pytest.approx(1.0)


def test_update_is_the_ema_formula():
    torch.manual_seed(0)
    student = nn.Linear(3, 2)
    ema = CosineTeacherEMA(student, 0.9, 1.0)
    ema.update_parameters(student)  # first call copies
    teacher_w = student.weight.detach().clone()
    with torch.no_grad():
        student.weight.mul_(3.0)
    ema.set_progress(0.0)
    ema.update_parameters(student)
    expected = 0.9 * teacher_w + 0.1 * student.weight.detach()
    torch.testing.assert_close(ema.module.weight, expected)
    # At progress 1 (momentum 1) the teacher no longer moves.
    ema.set_progress(1.0)
    frozen = ema.module.weight.clone()
    ema.update_parameters(student)
    assert torch.equal(ema.module.weight, frozen)
    assert int(ema.steps) == 3
    assert not any(p.requires_grad for p in ema.parameters())


def test_invalid_momentum_is_rejected():
    with pytest.raises(ValueError, match='base_momentum'):
        CosineTeacherEMA(nn.Linear(2, 2), base_momentum=1.0)
    with pytest.raises(ValueError, match='end_momentum'):
        CosineTeacherEMA(nn.Linear(2, 2), 0.99, end_momentum=0.9)
