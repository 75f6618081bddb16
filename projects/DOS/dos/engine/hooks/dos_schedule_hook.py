# Copyright (c) OpenMMLab. All rights reserved.
"""Stateless schedules of DOS pretraining (tau_T, EMA momentum, masking)."""
from typing import Optional, Sequence, Tuple

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

DATA_BATCH = Optional[dict]


def linear_warmup(start: float, end: float, warmup: float,
                  progress: float) -> float:
    """Linear ramp from ``start`` to ``end`` over the first ``warmup`` share.

    Args:
        start (float): Value at progress 0.
        end (float): Value from progress ``warmup`` on.
        warmup (float): Share of training spent ramping, in [0, 1]; 0 means
            ``end`` from the start.
        progress (float): ``iter / max_iters``.

    Returns:
        float: The scheduled value.
    """
    if warmup <= 0 or progress >= warmup:
        return end
    return start + (end - start) * max(progress, 0.0) / warmup


def _pair(value: Optional[Sequence[float]],
          name: str) -> Optional[Tuple[float, float]]:
    """Validate a ``(start, end)`` pair."""
    if value is None:
        return None
    if len(value) != 2:
        raise ValueError(f'DOSScheduleHook: {name} must be (start, end), got '
                         f'{value!r}')
    return float(value[0]), float(value[1])


@HOOKS.register_module()
class DOSScheduleHook(Hook):
    """Set DOS's schedules before every training iteration.

    Everything is a closed-form function of ``progress = runner.iter /
    runner.max_iters`` (no state), so resuming from a checkpoint continues
    the exact schedule of an uninterrupted run:

    - teacher temperature ``model.teacher_temp``: linear warm-up from
      ``teacher_temp[0]`` to ``teacher_temp[1]`` over the first
      ``teacher_temp_warmup`` of training, then constant (Sonata: 0.04 ->
      0.07 over 5 %);
    - EMA teacher momentum: the cosine schedule of the model's
      :class:`CosineTeacherEMA` (0.994 -> 1), set through
      ``model.teacher.set_progress``;
    - optionally the data preprocessor's ``mask_ratio`` and
      ``mask_block_size`` (linear warm-up over ``mask_warmup``; Sonata warms
      up 0.3 -> 0.7 and 0.1 -> 0.4 m over 5 %; DOS does not say, so the
      default is no warm-up: the preprocessor's configured values).

    The values are logged as ``train/teacher_temp``,
    ``train/teacher_momentum`` and, when scheduled, ``train/mask_ratio`` and
    ``train/mask_block_size``.

    Args:
        teacher_temp (Sequence[float]): (start, end) tau_T. Defaults to
            (0.04, 0.07).
        teacher_temp_warmup (float): Warm-up share of tau_T. Defaults to 0.05.
        mask_ratio (Sequence[float], optional): (start, end) mask ratio.
            Defaults to None (not scheduled).
        mask_block_size (Sequence[float], optional): (start, end) mask cube
            edge in metres. Defaults to None (not scheduled).
        mask_warmup (float): Warm-up share of the mask schedules.
            Defaults to 0.05.
    """

    priority = 'NORMAL'

    def __init__(self,
                 teacher_temp: Sequence[float] = (0.04, 0.07),
                 teacher_temp_warmup: float = 0.05,
                 mask_ratio: Optional[Sequence[float]] = None,
                 mask_block_size: Optional[Sequence[float]] = None,
                 mask_warmup: float = 0.05) -> None:
        self.teacher_temp = _pair(teacher_temp, 'teacher_temp')
        if min(self.teacher_temp) <= 0:
            raise ValueError('DOSScheduleHook: teacher_temp values must be > '
                             f'0, got {teacher_temp!r}')
        for name, value in (('teacher_temp_warmup', teacher_temp_warmup),
                            ('mask_warmup', mask_warmup)):
            if not 0 <= value <= 1:
                raise ValueError(f'DOSScheduleHook: {name} must be in [0, 1],'
                                 f' got {value!r}')
        self.teacher_temp_warmup = teacher_temp_warmup
        self.mask_ratio = _pair(mask_ratio, 'mask_ratio')
        if self.mask_ratio is not None and not all(0 <= r < 1
                                                   for r in self.mask_ratio):
            raise ValueError('DOSScheduleHook: mask_ratio values must be in '
                             f'[0, 1), got {mask_ratio!r}')
        self.mask_block_size = _pair(mask_block_size, 'mask_block_size')
        if self.mask_block_size is not None and min(self.mask_block_size) <= 0:
            raise ValueError('DOSScheduleHook: mask_block_size values must '
                             f'be > 0, got {mask_block_size!r}')
        self.mask_warmup = mask_warmup

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        """Set and log the schedules of iteration ``runner.iter``."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        progress = runner.iter / max(runner.max_iters, 1)
        values = dict(
            teacher_temp=linear_warmup(*self.teacher_temp,
                                       self.teacher_temp_warmup, progress),
            teacher_momentum=model.teacher.set_progress(progress))
        model.teacher_temp = values['teacher_temp']
        for name in ('mask_ratio', 'mask_block_size'):
            schedule = getattr(self, name)
            if schedule is not None:
                values[name] = linear_warmup(*schedule, self.mask_warmup,
                                             progress)
                setattr(model.data_preprocessor, name, values[name])
        for name, value in values.items():
            runner.message_hub.update_scalar(f'train/{name}', value)
