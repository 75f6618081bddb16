# Copyright (c) OpenMMLab. All rights reserved.
"""Per-point semantic labels from a user's label files."""
import os.path as osp
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmengine.fileio import get

from .checked_loading import BadPointCloudError, load_npy_bytes


@TRANSFORMS.register_module()
class LoadPointLabelsFromFile(BaseTransform):
    """Load one semantic label per point and map it to a class index.

    Reads ``results['pts_semantic_mask_path']`` in one of two formats:

    - ``.npy``: a 1-D integer array, one raw label per point;
    - anything else (SemanticKITTI ``.label``): uint32 per point, semantic
      id in the lower 16 bits, instance id in the upper 16 (dropped).

    Raw ids are mapped to class indices with ``label_mapping``; ids it does
    not name become ``ignore_index``. Without a mapping the raw ids are the
    class indices and ids outside [0, ignore_index) become ``ignore_index``.

    Why not mmdet3d's ``LoadAnnotations3D`` + ``PointSegClassMapping``: the
    former reads raw bytes only (a ``.npy`` header would become labels) and
    the latter indexes a dense lookup table with the raw id, which fails on
    ids larger than the table; users' label files carry arbitrary ids.

    Put this transform *before* :class:`LoadPointsFromFileChecked`, which
    checks that there is one label per point record and drops the labels of
    the rows it drops (non-finite, out of range).

    Required Keys:

    - pts_semantic_mask_path (str)

    Added Keys:

    - pts_semantic_mask (np.ndarray): (R,) int64 class indices in
      [0, ignore_index].

    Args:
        ignore_index (int): Index of unlabelled points (the number of
            classes).
        label_mapping (dict[int, int], optional): Raw id -> class index in
            [0, ignore_index]. Defaults to None (identity).
        backend_args (dict, optional): File backend arguments.
            Defaults to None.

    Raises:
        ValueError: ``ignore_index`` < 1, an empty ``label_mapping`` or a
            mapped class index outside [0, ignore_index].
    """

    def __init__(self,
                 ignore_index: int,
                 label_mapping: Optional[Dict[int, int]] = None,
                 backend_args: Optional[dict] = None) -> None:
        if ignore_index < 1:
            raise ValueError('LoadPointLabelsFromFile: ignore_index (the '
                             f'number of classes) must be >= 1, got '
                             f'{ignore_index}')
        if label_mapping is not None:
            if not label_mapping:
                raise ValueError('LoadPointLabelsFromFile: label_mapping is '
                                 'empty (give None for the identity)')
            bad = {
                raw: index
                for raw, index in label_mapping.items()
                if not 0 <= index <= ignore_index
            }
            if bad:
                raise ValueError(
                    'LoadPointLabelsFromFile: label_mapping maps to class '
                    f'indices outside [0, {ignore_index}]: {bad}')
        self.ignore_index = ignore_index
        self.label_mapping = label_mapping
        self.backend_args = backend_args
        if label_mapping is not None:  # sorted raw ids for searchsorted
            ids = np.fromiter(label_mapping, dtype=np.int64)
            order = np.argsort(ids)
            self._raw_ids = ids[order]
            self._class_of_id = np.fromiter(
                label_mapping.values(), dtype=np.int64)[order]

    def _read_raw(self, path: str) -> np.ndarray:
        """(R,) int64 raw ids of a label file (see the class docstring).

        Raises:
            FileNotFoundError: The file does not exist.
            BadPointCloudError: The file cannot be read as labels.
        """
        if self.backend_args is None and not osp.isfile(path):
            raise FileNotFoundError(f'label file not found: {path}')
        data = get(path, backend_args=self.backend_args)
        if path.endswith('.npy'):
            raw = load_npy_bytes(data, path)
            if raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer):
                raise BadPointCloudError(
                    f'{path}: labels must be a 1-D integer array, got '
                    f'{raw.dtype} of shape {raw.shape}')
            return raw.astype(np.int64)
        if len(data) % 4 != 0:
            raise BadPointCloudError(
                f'{path}: size {len(data)} bytes is not a multiple of 4 '
                '(uint32 labels); the file is truncated')
        return (np.frombuffer(data, dtype=np.uint32) & 0xFFFF).astype(np.int64)

    def transform(self, results: dict) -> dict:
        """Add ``pts_semantic_mask`` (class indices) to ``results``."""
        raw = self._read_raw(results['pts_semantic_mask_path'])
        if self.label_mapping is None:
            outside = (raw < 0) | (raw >= self.ignore_index)
            labels = np.where(outside, self.ignore_index, raw)
        else:
            ids = self._raw_ids
            slot = np.clip(np.searchsorted(ids, raw), 0, len(ids) - 1)
            labels = np.where(ids[slot] == raw, self._class_of_id[slot],
                              self.ignore_index)
        results['pts_semantic_mask'] = labels
        return results

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{self.__class__.__name__}(ignore_index={self.ignore_index}'
                f', label_mapping={self.label_mapping})')
