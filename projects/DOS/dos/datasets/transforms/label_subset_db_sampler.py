# Copyright (c) OpenMMLab. All rights reserved.
"""Copy-paste database sampler for ground-truth databases of label subsets."""
from typing import List

import numpy as np
from mmdet3d.datasets.transforms.dbsampler import DataBaseSampler
from mmdet3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LabelSubsetDataBaseSampler(DataBaseSampler):
    """``DataBaseSampler`` that accepts classes absent from its database.

    A database rebuilt from a label subset (``tools/make_label_subset.py``)
    or from a small dataset may hold no object of a rare class. mmdet3d
    1.4.0's sampler then fails: ``filter_by_min_points`` raises ``KeyError``
    for a class missing from the database, and ``sample_class_v2`` calls
    ``np.stack`` on an empty list for a class whose database is empty. Here
    such a class simply contributes no pasted object; everything else is the
    stock behaviour. Arguments are those of ``DataBaseSampler`` (used as
    ``ObjectSample(db_sampler=dict(type='LabelSubsetDataBaseSampler', ...))``).
    """

    @staticmethod
    def filter_by_min_points(db_infos: dict, min_gt_points_dict: dict) -> dict:
        """Filter by points per box; classes absent from the database become
        empty lists instead of raising ``KeyError``.

        Args:
            db_infos (dict): Database infos per class name.
            min_gt_points_dict (dict): Minimum points per box, per class.

        Returns:
            dict: The filtered infos, with every class of
            ``min_gt_points_dict`` present.
        """
        db_infos = {**{name: [] for name in min_gt_points_dict}, **db_infos}
        return DataBaseSampler.filter_by_min_points(db_infos,
                                                    min_gt_points_dict)

    def sample_class_v2(self, name: str, num: int,
                        gt_bboxes: np.ndarray) -> List[dict]:
        """Sample ``num`` objects of class ``name``; none if it has none.

        Args:
            name (str): Class to sample.
            num (int): Number of objects wanted.
            gt_bboxes (np.ndarray): (M, 7+) boxes already in the scene, to
                avoid collisions with.

        Returns:
            list[dict]: Database infos of the sampled, non-colliding objects.
        """
        if not self.db_infos.get(name):
            return []
        return super().sample_class_v2(name, num, gt_bboxes)
