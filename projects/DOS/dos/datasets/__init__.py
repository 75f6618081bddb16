# Copyright (c) OpenMMLab. All rights reserved.
from .labelled_point_file_dataset import *  # noqa: F401,F403
from .nuscenes_lidarseg_dataset import *  # noqa: F401,F403
from .point_cloud_folder_dataset import *  # noqa: F401,F403
from .synthetic_nuscenes import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
