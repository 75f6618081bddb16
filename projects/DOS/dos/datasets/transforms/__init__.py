# Copyright (c) OpenMMLab. All rights reserved.
from .checked_loading import BadPointCloudError, LoadPointsFromFileChecked
from .dos_views import DOSMultiViewAug
from .grid_sample import GridSample, compute_grid_coord
from .label_subset_db_sampler import LabelSubsetDataBaseSampler
from .pack_dos_inputs import PackDOSInputs
from .photometric import RandomColorJitter, RandomIntensityJitter
from .point_labels import LoadPointLabelsFromFile

__all__ = [
    'BadPointCloudError', 'LoadPointsFromFileChecked', 'DOSMultiViewAug',
    'GridSample', 'compute_grid_coord', 'LabelSubsetDataBaseSampler',
    'PackDOSInputs', 'LoadPointLabelsFromFile', 'RandomColorJitter',
    'RandomIntensityJitter'
]
