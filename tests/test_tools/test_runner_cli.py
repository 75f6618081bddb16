# Copyright (c) OpenMMLab. All rights reserved.
"""tools/_runner_cli.py: metrics written as standard JSON."""
import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
runner_cli = importlib.import_module('_runner_cli')


def test_json_safe_writes_nan_as_null_and_numbers_as_float():
    metrics = {
        'miou': np.float64(0.25),
        'iou_bus': math.nan,
        'count': np.int64(3),
        'flag': True,
        'classes': 'car',
    }
    safe = runner_cli.json_safe(metrics)
    assert safe == {
        'miou': 0.25,
        'iou_bus': None,
        'count': 3.0,
        'flag': True,
        'classes': 'car'
    }
    # strict JSON: no NaN token
    text = json.dumps(safe, allow_nan=False)
    assert json.loads(text)['iou_bus'] is None
