# Copyright (c) OpenMMLab. All rights reserved.
from .visualization import (DIAGNOSTIC_KEYS, log_image, plot_feature_pca,
                            plot_prototype_map, plot_prototype_usage,
                            plot_training_curves, read_scalars, save_image)

__all__ = [
    'DIAGNOSTIC_KEYS', 'log_image', 'plot_feature_pca', 'plot_prototype_map',
    'plot_prototype_usage', 'plot_training_curves', 'read_scalars',
    'save_image'
]
