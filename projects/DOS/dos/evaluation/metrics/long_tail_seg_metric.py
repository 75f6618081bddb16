# Copyright (c) OpenMMLab. All rights reserved.
"""SegMetric with mIoU over class-frequency groups (head / common / tail)."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmdet3d.evaluation.metrics import SegMetric
from mmdet3d.registry import METRICS


@METRICS.register_module()
class LongTailSegMetric(SegMetric):
    """mmdet3d's :class:`SegMetric` plus the mIoU of each class group.

    The IoUs, mIoU, accuracy and class-mean accuracy are mmdet3d's
    (``seg_eval``); this metric only averages the per-class IoUs it returns
    over named groups of classes, e.g. the head / common / tail split of
    ScanNet200 by training-set frequency that the DOS paper reports. As in
    the overall mIoU, a class whose IoU is undefined (absent from both
    ground truth and prediction, or the ignore class) is left out of its
    group's mean; a group with no defined IoU gets NaN.

    Added keys: ``miou_<group>`` for every group of ``class_splits``.

    Args:
        class_splits (dict[str, Sequence[str]], optional): Group name ->
            class names (as in the dataset's ``classes``), e.g.
            ``dict(head=[...], common=[...], tail=[...])``. Defaults to None
            (plain :class:`SegMetric`).
        **kwargs: :class:`SegMetric` arguments (``collect_device``,
            ``prefix``, ``pklfile_prefix``, ``submission_prefix``).
    """

    def __init__(self,
                 class_splits: Optional[Dict[str, Sequence[str]]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        splits = dict(class_splits or {})
        for group, names in splits.items():
            if isinstance(names, str) or len(names) == 0:
                raise ValueError(
                    f'LongTailSegMetric: class_splits[{group!r}] must be a '
                    f'non-empty sequence of class names, got {names!r}')
        self.class_splits = {
            group: tuple(names)
            for group, names in splits.items()
        }

    def compute_metrics(self, results: list) -> Optional[Dict[str, float]]:
        """SegMetric's metrics plus ``miou_<group>`` per class group.

        Args:
            results (list): ``(eval_ann_info, prediction)`` pairs collected by
                :meth:`SegMetric.process`.

        Returns:
            dict[str, float] | None: The metrics; None when writing a
            submission (as :class:`SegMetric`).

        Raises:
            ValueError: A class of ``class_splits`` is not a dataset class.
        """
        metrics = super().compute_metrics(results)
        if metrics is None:
            return None
        class_names = set(self.dataset_meta['label2cat'].values())
        for group, names in self.class_splits.items():
            unknown = [name for name in names if name not in class_names]
            if unknown:
                raise ValueError(
                    f'LongTailSegMetric: class_splits[{group!r}] names '
                    f'{unknown}, which are not dataset classes '
                    f'{sorted(class_names)}')
            ious = np.array([metrics[name] for name in names], dtype=float)
            defined = ious[~np.isnan(ious)]
            metrics[f'miou_{group}'] = (
                float(defined.mean()) if defined.size else float('nan'))
        return metrics
