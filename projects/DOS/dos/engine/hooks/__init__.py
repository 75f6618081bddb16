# Copyright (c) OpenMMLab. All rights reserved.
from .dos_diagnostics_hook import (DOSDiagnosticsHook, effective_rank,
                                   prototype_diagnostics, softmap_diagnostics)
from .dos_schedule_hook import DOSScheduleHook, linear_warmup
from .random_state_hook import (RandomStateCheckpointHook,
                                get_torch_random_state, set_torch_random_state)

__all__ = [
    'DOSScheduleHook', 'DOSDiagnosticsHook', 'RandomStateCheckpointHook',
    'linear_warmup', 'prototype_diagnostics', 'softmap_diagnostics',
    'effective_rank', 'get_torch_random_state', 'set_torch_random_state'
]
