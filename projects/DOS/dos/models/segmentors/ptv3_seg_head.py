# Copyright (c) OpenMMLab. All rights reserved.
"""Linear per-point classifier on PTv3 features."""
from typing import Dict, List, Optional

import torch
from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList
from mmdet3d.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor, nn


@MODELS.register_module()
class PTv3SegHead(Base3DDecodeHead):
    """Linear classifier on the PTv3 output level, read out per input voxel.

    The same head serves both downstream protocols:

    - linear probing: the encoder-only PTv3 outputs the up-cast hypercolumn
      at level ``up_cast_level`` (e.g. 1088 channels at stride 4), and each
      input voxel takes the logits of the output voxel holding it
      (``point2out``), i.e. a linear map of its up-cast feature;
    - fine-tuning: PTv3 with ``decoder=True`` outputs level 0 (one row per
      input voxel, ``point2out`` is the identity) and the head is the light
      linear layer of Pointcept's PTv3 segmentor.

    Losses: ``loss_decode`` (cross-entropy) on the voxel labels
    ``gt_pts_seg.voxel_semantic_mask`` and, optionally, ``loss_lovasz``
    (mmdet3d's ``LovaszLoss``, applied to the softmax probabilities).

    Args:
        channels (int): C of the backbone's output ``feat``
            (``PTv3.out_channels``).
        num_classes (int): Number of classes.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0
            (a pure linear probe).
        loss_decode (dict): Cross-entropy config. Defaults to
            ``mmdet.CrossEntropyLoss`` averaged over non-ignored voxels.
        loss_lovasz (dict, optional): Lovasz-softmax config, e.g.
            ``dict(type='LovaszLoss', loss_weight=1.0, reduction='none')``.
            Defaults to None (CE only).
        ignore_index (int): Label excluded from the losses (16 for
            nuScenes-lidarseg, 19 for SemanticKITTI). Defaults to 255.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None.
    """

    def __init__(self,
                 channels: int,
                 num_classes: int,
                 dropout_ratio: float = 0.,
                 loss_decode: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=False,
                     class_weight=None,
                     avg_non_ignore=True,
                     loss_weight=1.0),
                 loss_lovasz: OptConfigType = None,
                 ignore_index: int = 255,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            channels=channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            loss_decode=loss_decode,
            ignore_index=ignore_index,
            init_cfg=init_cfg)
        self.loss_lovasz = (None if loss_lovasz is None else
                            MODELS.build(loss_lovasz))

    def build_conv_seg(self, channels: int, num_classes: int,
                       kernel_size: int) -> nn.Module:
        """The classifier: ``nn.Linear(channels, num_classes)``."""
        return nn.Linear(channels, num_classes)

    def forward(self, feats_dict: Dict[str, Tensor]) -> Tensor:
        """Logits of every input voxel.

        Args:
            feats_dict (dict): PTv3 output with ``feat`` (M, channels) at the
                output level and ``point2out`` (N,) int64, the output row of
                each input voxel.

        Returns:
            Tensor: (N, num_classes) logits, one row per input voxel.
        """
        feat = feats_dict['feat']
        if feat.dim() != 2 or feat.shape[1] != self.channels:
            raise ValueError(f'PTv3SegHead expects backbone features (M, '
                             f'{self.channels}), got {tuple(feat.shape)}; '
                             'set channels to the backbone out_channels')
        return self.cls_seg(feat)[feats_dict['point2out']]

    def _stack_batch_gt(self, batch_data_samples: SampleList) -> Tensor:
        """(N,) int64 voxel labels of the batch, in input-voxel order."""
        return torch.cat([
            sample.gt_pts_seg.voxel_semantic_mask
            for sample in batch_data_samples
        ])

    def loss_by_feat(self, seg_logit: Tensor,
                     batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Cross-entropy (and Lovasz) on the voxel logits.

        Args:
            seg_logit (Tensor): (N, num_classes) voxel logits.
            batch_data_samples (list[:obj:`Det3DDataSample`]): Samples with
                ``gt_pts_seg.voxel_semantic_mask`` (m_b,), sum of m_b = N.

        Returns:
            dict[str, Tensor]: ``loss_sem_seg`` and, if configured,
            ``loss_lovasz``.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        if seg_label.shape[0] != seg_logit.shape[0]:
            raise ValueError(f'PTv3SegHead: {seg_logit.shape[0]} voxel logits '
                             f'but {seg_label.shape[0]} voxel labels')
        losses = dict(
            loss_sem_seg=self.loss_decode(
                seg_logit, seg_label, ignore_index=self.ignore_index))
        if self.loss_lovasz is not None:
            losses['loss_lovasz'] = self.loss_lovasz(
                seg_logit, seg_label, ignore_index=self.ignore_index)
        return losses

    def predict(self,
                inputs: Dict[str, Tensor],
                batch_data_samples: SampleList,
                test_cfg: Optional[ConfigType] = None) -> List[Tensor]:
        """Logits of every original point of every sample.

        Args:
            inputs (dict): PTv3 output (see :meth:`forward`).
            batch_data_samples (list[:obj:`Det3DDataSample`]): Samples with
                ``point2voxel_map`` (n_b,) int64, the batch-level input-voxel
                row of each original point.
            test_cfg (dict, optional): Unused; kept for the mmdet3d head
                interface. Defaults to None.

        Returns:
            list[Tensor]: Per sample, (n_b, num_classes) logits aligned with
            the sample's original points.
        """
        seg_logits = self.forward(inputs)
        return [
            seg_logits[sample.point2voxel_map] for sample in batch_data_samples
        ]
