# Copyright (c) OpenMMLab. All rights reserved.
from .backbone_checkpoint import (DOS_BACKBONE_PREFIXES, PRETRAINING_ONLY_KEYS,
                                  check_grid_matches, extract_dos_backbone,
                                  load_checkpoint_file, pretraining_config,
                                  pretraining_grid, verify_backbone_weights)
from .ptv3_bev_encoder import PTv3BEVEncoder

__all__ = [
    'PTv3BEVEncoder', 'DOS_BACKBONE_PREFIXES', 'PRETRAINING_ONLY_KEYS',
    'check_grid_matches', 'extract_dos_backbone', 'load_checkpoint_file',
    'pretraining_config', 'pretraining_grid', 'verify_backbone_weights'
]
