# Copyright (c) OpenMMLab. All rights reserved.
from .dos_diagnostics_hook import DOSDiagnosticsHook, prototype_diagnostics
from .dos_schedule_hook import DOSScheduleHook, linear_warmup

__all__ = [
    'DOSScheduleHook', 'DOSDiagnosticsHook', 'linear_warmup',
    'prototype_diagnostics'
]
