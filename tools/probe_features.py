# Copyright (c) OpenMMLab. All rights reserved.
"""Quick linear probe of a frozen backbone on cached features.

A check of a pretraining checkpoint in minutes on a CPU, for comparing
checkpoints (schedules, temperatures, crops) before paying for the full
linear probe (``tools/train.py`` on an ``*_lp_*`` config, which runs the
frozen backbone again in every epoch)::

    CFG=projects/DOS/configs
    python tools/probe_features.py \\
        $CFG/dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py \\
        --checkpoint work_dirs/demo/dos_backbone.pth
    python tools/probe_features.py CONFIG --random  # random-init baseline

It builds the linear-probe config's segmentor (backbone weights from
``--checkpoint`` through the config's ``init_cfg``, so every backbone key is
verified, or its random initialisation with ``--random``), runs the frozen
backbone once over the first ``--train-samples`` training frames and the
first ``--val-samples`` validation frames with the test pipeline (no
augmentation), standardises the voxel features with the training statistics
and fits one ``Linear`` layer with Adam on random mini-batches of training
voxels (cross-entropy, seeded). Predictions are mapped back to every point
and scored with mmdet3d's ``seg_eval`` (mIoU, accuracy, per-class IoU).

Why not the Runner: the probe's point is to extract features once and fit
the head in seconds; the Runner's linear probe recomputes the backbone per
epoch and also trains with Lovasz and augmentation, so the two protocols
give different numbers (compare checkpoints within one protocol only).
"""
import argparse
import copy
import json
import os
import os.path as osp
import time
from typing import List, Optional, Tuple

import _bootstrap  # noqa: F401  (repository root first on sys.path)
import torch
import torch.nn.functional as F
from _runner_cli import json_safe
from _stages import load_config, use_config_registries
from mmdet3d.evaluation.functional import seg_eval
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch import Tensor, nn


def build_probe_model(cfg: Config, checkpoint: Optional[str],
                      seed: int) -> nn.Module:
    """The config's segmentor in eval mode, backbone from ``checkpoint``.

    Args:
        cfg (Config): A linear-probe config (``PTv3Segmentor``).
        checkpoint (str, optional): Backbone weights
            (``tools/convert_dos_ckpt.py`` output); None for the random
            initialisation drawn with ``seed``.
        seed (int): Seed of the random initialisation.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'--checkpoint {checkpoint}: no such file')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = (
        dict(type='Pretrained', checkpoint=checkpoint)
        if checkpoint is not None else None)
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.eval()


@torch.no_grad()
def extract(
        model: nn.Module, cfg: Config, ann_file: str,
        num_samples: int) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
    """Frozen features of the first ``num_samples`` frames of ``ann_file``.

    Args:
        model (nn.Module): The probe's segmentor (eval mode).
        cfg (Config): The linear-probe config; its test dataset (pipeline,
            data root, class mapping) is used with ``ann_file``.
        ann_file (str): Info file of the split.
        num_samples (int): Number of frames (all if larger).

    Returns:
        tuple[list[Tensor]]: Per frame, (M, C) voxel features, (M,) int64
        voxel labels and (N,) int64 ``point2voxel_map`` of its points.
    """
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg.ann_file = ann_file
    dataset = DATASETS.build(dataset_cfg)
    feats, labels, point2voxel = [], [], []
    for index in range(min(num_samples, len(dataset))):
        data = model.data_preprocessor(pseudo_collate([dataset[index]]), False)
        sample = data['data_samples'][0]
        feats.append(model.extract_feat(data['inputs'])['feat'])
        labels.append(sample.gt_pts_seg.voxel_semantic_mask)
        point2voxel.append(sample.point2voxel_map)
    return feats, labels, point2voxel


def fit_linear(feat: Tensor, label: Tensor, num_classes: int, steps: int,
               batch_size: int, seed: int) -> nn.Linear:
    """One ``Linear`` layer fitted with Adam (lr 0.01) on random batches.

    Args:
        feat (Tensor): (M, C) standardised training features.
        label (Tensor): (M,) int64 labels in [0, num_classes).
        num_classes (int): Number of classes.
        steps (int): Optimiser steps.
        batch_size (int): Voxels per step.
        seed (int): Seed of the layer's init and the batches.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Linear(feat.shape[1], num_classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(steps):
        batch = torch.randint(
            0, feat.shape[0], (batch_size, ), generator=generator)
        loss = F.cross_entropy(head(feat[batch]), label[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head


def probe(config: str,
          checkpoint: Optional[str],
          train_samples: int = 30,
          val_samples: int = 20,
          steps: int = 300,
          batch_size: int = 8192,
          seed: int = 0,
          data_root: Optional[str] = None) -> dict:
    """Fit and score the quick linear probe (module docstring).

    ``data_root`` replaces the config's dataset root (None keeps it).

    Returns:
        dict: ``seg_eval``'s result (``miou``, ``acc``, ``acc_cls`` and one
        IoU per class, fractions) plus ``train_voxels`` and ``seconds``.

    Raises:
        ValueError: No labelled training voxel.
    """
    start = time.perf_counter()
    cfg = load_config(config, data_root)
    use_config_registries(cfg)
    model = build_probe_model(cfg, checkpoint, seed)
    train_ann = cfg.train_dataloader.dataset.ann_file
    train_feat, train_label, _ = extract(model, cfg, train_ann, train_samples)
    val_feat, val_label, val_point2voxel = extract(
        model, cfg, cfg.test_dataloader.dataset.ann_file, val_samples)

    num_classes = model.decode_head.num_classes
    feat, label = torch.cat(train_feat), torch.cat(train_label)
    labelled = label < num_classes  # drop the ignore index
    if not bool(labelled.any()):
        raise ValueError(f'{config}: no labelled voxel in the first '
                         f'{train_samples} frames of {train_ann}')
    feat, label = feat[labelled], label[labelled]
    mean, std = feat.mean(0), feat.std(0) + 1e-6
    head = fit_linear((feat - mean) / std, label, num_classes, steps,
                      batch_size, seed)

    ignore = model.decode_head.ignore_index
    gts, preds = [], []
    with torch.no_grad():
        for frame_feat, frame_label, point2voxel in zip(
                val_feat, val_label, val_point2voxel):
            pred = head((frame_feat - mean) / std).argmax(1)
            gts.append(frame_label[point2voxel].numpy())
            preds.append(pred[point2voxel].numpy())
    classes = cfg.test_dataloader.dataset.metainfo['classes']
    result = seg_eval(gts, preds, dict(enumerate(classes)), ignore)
    result.update(
        train_voxels=int(label.numel()),
        seconds=round(time.perf_counter() - start, 1))
    return result


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description='Quick linear probe of a frozen backbone on cached '
        'features (mIoU).')
    parser.add_argument('config', help='linear-probe config (PTv3Segmentor)')
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument(
        '--checkpoint', help='backbone weights (convert_dos_ckpt.py output)')
    weights.add_argument(
        '--random', action='store_true', help='random initialisation')
    parser.add_argument(
        '--data-root', help="dataset root instead of the config's")
    parser.add_argument('--train-samples', type=int, default=30)
    parser.add_argument('--val-samples', type=int, default=20)
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--batch-size', type=int, default=8192)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    for name in ('train_samples', 'val_samples', 'steps', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point: prints mIoU / accuracy (and writes JSON)."""
    args = parse_args(argv)
    result = probe(args.config, args.checkpoint, args.train_samples,
                   args.val_samples, args.steps, args.batch_size, args.seed,
                   args.data_root)
    weights = args.checkpoint or 'random init'
    print(f'{weights}: probe mIoU {100 * result["miou"]:.2f}, accuracy '
          f'{100 * result["acc"]:.2f} ({result["train_voxels"]} training '
          f'voxels, {result["seconds"]} s)')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(json_safe(result), f, indent=2)


if __name__ == '__main__':
    main()
