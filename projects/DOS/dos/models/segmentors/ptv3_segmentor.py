# Copyright (c) OpenMMLab. All rights reserved.
"""LiDAR semantic segmentor with a PTv3 backbone that can be frozen."""
from typing import Dict, List, Optional

import torch
from mmdet3d.models.segmentors import EncoderDecoder3D
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import OptSampleList, SampleList
from mmdet3d.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor, nn

from ..middle_encoders.backbone_checkpoint import (check_grid_matches,
                                                   load_checkpoint_file,
                                                   pretraining_grid,
                                                   state_dict_of, strip_prefix,
                                                   verify_backbone_weights)

#: PTv3 children that a pretraining checkpoint does not hold (the decoder).
DECODER_CHILDREN = ('unpooling', 'dec')


@MODELS.register_module()
class PTv3Segmentor(EncoderDecoder3D):
    """Encoder-decoder segmentor for a PTv3-contract backbone.

    Linear probing (``freeze_backbone=True``) and fine-tuning differ only in
    this flag and the backbone config (encoder-only with the up-cast output,
    or ``decoder=True``). A frozen backbone has ``requires_grad=False`` on
    every parameter, runs under ``torch.no_grad()`` and is kept in eval mode
    across ``model.train()`` calls (mmengine's loops call ``train()`` every
    epoch, which would otherwise re-enable drop-path and order shuffling).

    Data flow: :class:`PTv3SegDataPreprocessor` gives the voxelised PTv3
    input dict (``coord``, ``grid_coord``, ``feat``, ``offset``) and tags
    each data sample with ``point2voxel_map`` and
    ``gt_pts_seg.voxel_semantic_mask``; the backbone returns its output dict
    (``feat``, ``point2out``, ...); :class:`PTv3SegHead` turns it into
    per-voxel logits (training) or per-original-point logits (prediction).

    Pretrained weights (the ``tools/convert_dos_ckpt.py`` output, or a DOS
    checkpoint with ``prefix='backbone.'``) come through the backbone's
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``.
    mmengine only logs missing keys, so :meth:`init_weights` then checks
    that every encoder tensor was loaded (the decoder of a fine-tuning model
    is new) and that the checkpoint's pretraining grid, when recorded, equals
    the data preprocessor's ``voxel_size``.

    Args:
        backbone (dict): PTv3 config, optionally with a ``Pretrained``
            ``init_cfg``.
        decode_head (dict): Head config (:class:`PTv3SegHead`).
        freeze_backbone (bool): Linear probing: freeze the backbone.
            Defaults to False.
        train_cfg (dict, optional): Training config. Defaults to None.
        test_cfg (dict, optional): Testing config. Defaults to None.
        data_preprocessor (dict, optional): Data preprocessor config
            (:class:`PTv3SegDataPreprocessor`). Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 freeze_backbone: bool = False,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> 'PTv3Segmentor':
        """Set train/eval mode, keeping a frozen backbone in eval mode.

        Args:
            mode (bool): Training mode for everything but a frozen backbone.
                Defaults to True.

        Returns:
            PTv3Segmentor: self.
        """
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def _pretrained_init_cfg(self) -> Optional[dict]:
        """The backbone's ``Pretrained`` init config, if it has one."""
        init_cfg = self.backbone.init_cfg
        for cfg in init_cfg if isinstance(init_cfg, list) else [init_cfg]:
            if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
                return cfg
        return None

    def init_weights(self) -> None:
        """Initialise, then verify a pretrained backbone (class docstring).

        Raises:
            KeyError | ValueError: The checkpoint misses encoder keys, has
                unexpected or mis-shaped ones, an encoder tensor does not
                hold the checkpoint's value, or its pretraining grid differs
                from the data preprocessor's ``voxel_size``.
        """
        super().init_weights()
        cfg = self._pretrained_init_cfg()
        if cfg is None:
            return
        source = cfg['checkpoint']
        checkpoint = load_checkpoint_file(source)
        voxel_size = getattr(self.data_preprocessor, 'voxel_size', None)
        if voxel_size is not None:
            check_grid_matches(
                pretraining_grid(checkpoint.get('meta') or {}),
                [voxel_size] * 3, source)
        state_dict = state_dict_of(checkpoint, source)
        if cfg.get('prefix'):
            state_dict = strip_prefix(state_dict, cfg['prefix'], source)
        encoder = nn.ModuleDict({
            name: child
            for name, child in self.backbone.named_children()
            if name not in DECODER_CHILDREN
        })
        verify_backbone_weights(encoder, state_dict, source)

    def extract_feat(self, batch_inputs: Dict[str, Tensor]) -> dict:
        """Run the backbone (without autograd when frozen).

        Args:
            batch_inputs (dict[str, Tensor]): PTv3 input dict.

        Returns:
            dict: PTv3 output dict (``feat`` (M, C), ``point2out`` (N,), ...).
        """
        if self.freeze_backbone:
            with torch.no_grad():
                return self.backbone(batch_inputs)
        return self.backbone(batch_inputs)

    def loss(self, inputs: Dict[str, Tensor],
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Segmentation losses of a batch.

        Args:
            inputs (dict[str, Tensor]): PTv3 input dict.
            data_samples (list[:obj:`Det3DDataSample`]): Samples with
                ``gt_pts_seg.voxel_semantic_mask``.

        Returns:
            dict[str, Tensor]: ``decode.loss_sem_seg`` (and
            ``decode.loss_lovasz``).
        """
        return self._decode_head_forward_train(
            self.extract_feat(inputs), data_samples)

    def predict(self, inputs: Dict[str, Tensor],
                data_samples: SampleList) -> SampleList:
        """Predict the class of every original point.

        Args:
            inputs (dict[str, Tensor]): PTv3 input dict.
            data_samples (list[:obj:`Det3DDataSample`]): Samples with
                ``point2voxel_map``.

        Returns:
            list[:obj:`Det3DDataSample`]: The samples with
            ``pred_pts_seg.pts_semantic_mask`` (n_b,) and
            ``pts_seg_logits.pts_seg_logits`` (num_classes, n_b), aligned with
            the original points.
        """
        seg_logits: List[Tensor] = self.decode_head.predict(
            self.extract_feat(inputs), data_samples, self.test_cfg)
        return self.postprocess_result(
            [logits.transpose(0, 1) for logits in seg_logits], data_samples)

    def _forward(self,
                 inputs: Dict[str, Tensor],
                 data_samples: OptSampleList = None) -> Tensor:
        """Network forward without post-processing.

        Args:
            inputs (dict[str, Tensor]): PTv3 input dict.
            data_samples (list[:obj:`Det3DDataSample`], optional): Unused.

        Returns:
            Tensor: (N, num_classes) logits of the input voxels.
        """
        return self.decode_head.forward(self.extract_feat(inputs))
