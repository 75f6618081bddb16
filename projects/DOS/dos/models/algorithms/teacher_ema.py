# Copyright (c) OpenMMLab. All rights reserved.
"""EMA teacher with a cosine momentum schedule."""
import math
from typing import Optional

import torch
from mmdet3d.registry import MODELS
from mmengine.model import ExponentialMovingAverage
from torch import nn


@MODELS.register_module()
class CosineTeacherEMA(ExponentialMovingAverage):
    r"""EMA teacher whose momentum follows a cosine from ``base`` to ``end``.

    In the self-distillation convention (DINO, Sonata) the teacher momentum
    ``m`` is the weight of the OLD teacher value:
    ``teacher <- m * teacher + (1 - m) * student``. mmengine's
    :class:`ExponentialMovingAverage` calls ``1 - m`` its ``momentum`` (the
    weight of the NEW value); this subclass keeps that attribute in mmengine's
    meaning and exposes the schedule in the teacher convention:

    .. math::

        m(p) = m_{end} - (m_{end} - m_{base}) \frac{\cos(\pi p) + 1}{2},
        \quad p = \mathrm{iter} / \mathrm{max\_iters} \in [0, 1]

    (0.994 -> 1 in Sonata and here). The schedule is stateless: the progress
    is set from ``runner.iter`` by :class:`DOSScheduleHook` before every
    iteration, so a resumed run uses exactly the momentum of an uninterrupted
    one. The averaged parameters and the ``steps`` counter are buffers of
    the model and are saved in its checkpoints. As in mmengine, the first
    :meth:`update_parameters` call copies the student.

    Args:
        model (nn.Module): The student (backbone + head) to average.
        base_momentum (float): Teacher momentum at progress 0, in (0, 1).
            Defaults to 0.994.
        end_momentum (float): Teacher momentum at progress 1, in
            [base_momentum, 1]. Defaults to 1.0.
        device (torch.device, optional): Where to keep the teacher.
    """

    def __init__(self,
                 model: nn.Module,
                 base_momentum: float = 0.994,
                 end_momentum: float = 1.0,
                 device: Optional[torch.device] = None) -> None:
        if not 0.0 < base_momentum < 1.0:
            raise ValueError(
                f'CosineTeacherEMA: base_momentum must be in (0, 1), got '
                f'{base_momentum!r}')
        if not base_momentum <= end_momentum <= 1.0:
            raise ValueError(
                f'CosineTeacherEMA: end_momentum must be in [base_momentum='
                f'{base_momentum}, 1], got {end_momentum!r}')
        super().__init__(
            model, momentum=1.0 - base_momentum, interval=1, device=device)
        self.base_momentum = base_momentum
        self.end_momentum = end_momentum

    def teacher_momentum_at(self, progress: float) -> float:
        """Teacher momentum (weight of the old value) at a training progress.

        Args:
            progress (float): ``iter / max_iters``; clipped to [0, 1].

        Returns:
            float: ``m(progress)``.
        """
        progress = min(max(progress, 0.0), 1.0)
        cosine = (math.cos(math.pi * progress) + 1.0) / 2.0
        return self.end_momentum - (self.end_momentum -
                                    self.base_momentum) * cosine

    def set_progress(self, progress: float) -> float:
        """Set the momentum for the next update from the training progress.

        Args:
            progress (float): ``iter / max_iters``.

        Returns:
            float: The teacher momentum now in use.
        """
        teacher_momentum = self.teacher_momentum_at(progress)
        self.momentum = 1.0 - teacher_momentum
        return teacher_momentum
