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

On your own labelled scans (the config's model, not its data), with a
class-name file (``name`` per line, or ``raw_id name`` lines to merge or
drop raw ids)::

    python tools/probe_features.py CONFIG --checkpoint dos_backbone.pth \\
        --train-files 'kitti/sequences/0[0-7]/velodyne/*.bin' \\
        --val-files 'kitti/sequences/08/velodyne/*.bin' \\
        --classes classes.txt --attribute-scale 1

Points are ``.bin`` float32 records (``--load-dim``, ``--use-dim``) or
``.npy`` (R, load_dim) arrays; labels (``--label-template``, SemanticKITTI
layout by default) are uint32 ``.label`` or 1-D integer ``.npy`` files.

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
from typing import Dict, List, Optional, Tuple

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


def build_probe_model(cfg: Config,
                      checkpoint: Optional[str],
                      seed: int,
                      prefix: Optional[str] = None) -> nn.Module:
    """The config's segmentor in eval mode, backbone from ``checkpoint``.

    Args:
        cfg (Config): A linear-probe config (``PTv3Segmentor``).
        checkpoint (str, optional): Backbone weights
            (``tools/convert_dos_ckpt.py`` output); None for the random
            initialisation drawn with ``seed``.
        seed (int): Seed of the random initialisation.
        prefix (str, optional): Key prefix of the backbone in
            ``checkpoint`` (``'backbone.'`` for a segmentor checkpoint of
            ``tools/train.py``, e.g. a supervised reference); None for a
            backbone file.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'--checkpoint {checkpoint}: no such file')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = (
        dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)
        if checkpoint is not None else None)
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.eval()


def read_classes(path: str) -> Tuple[List[str], Optional[Dict[int, int]]]:
    """Class names, and the raw label id -> class index mapping, of a file.

    One class per line, in one of two forms (not mixed):

    - ``name``: the raw label id is the line's index (0, 1, ...);
    - ``raw_id name``: raw id ``raw_id`` belongs to class ``name``; several
      ids may name one class (merged), classes are numbered in order of
      first appearance, and ids not listed are ignored.

    Blank lines and lines starting with ``#`` are skipped.

    Returns:
        tuple: The class names and the mapping (None for ``name`` lines).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A malformed line (named with its number), mixed forms,
            an id listed twice or no class.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'--classes {path}: no such file')
    names: List[str] = []
    mapping: Dict[int, int] = {}
    forms = set()
    with open(path) as f:
        for number, line in enumerate(f, 1):
            entry = line.strip()
            if not entry or entry.startswith('#'):
                continue
            fields = entry.split(maxsplit=1)
            if len(fields) == 2 and fields[0].lstrip('-').isdigit():
                forms.add('raw_id name')
                raw_id, name = int(fields[0]), fields[1].strip()
                if raw_id in mapping:
                    raise ValueError(f'{path} line {number}: raw id '
                                     f'{raw_id} is listed twice')
                if name not in names:
                    names.append(name)
                mapping[raw_id] = names.index(name)
            else:
                forms.add('name')
                names.append(entry)
            if len(forms) > 1:
                raise ValueError(
                    f'{path} line {number}: {entry!r} mixes the "name" and '
                    '"raw_id name" forms; use one of them for every line')
    if not names:
        raise ValueError(f'--classes {path}: names no class')
    return names, (mapping if forms == {'raw_id name'} else None)


def files_dataset(files: str, classes: List[str],
                  label_mapping: Optional[Dict[int, int]], label_template: str,
                  load_dim: int, use_dim: int) -> dict:
    """Config of a :class:`LabelledPointFileDataset` over a user's files.

    Args:
        files (str): A glob of point files (``.bin`` float32 records of
            ``load_dim`` values, or ``.npy`` (R, load_dim) arrays), relative
            to the working directory unless absolute, or a ``.txt`` list of
            them (one per line, relative to the list's folder).
        classes (list[str]): Class names; their number is the ignore index.
        label_mapping (dict[int, int], optional): Raw id -> class index.
        label_template (str): Label file of a point file (fields ``{dir}``,
            ``{name}``, ``{root}``, see :class:`LabelledPointFileDataset`).
        load_dim (int): Values per point record.
        use_dim (int): Leading values used (x, y, z and attributes); must
            equal the backbone's ``in_channels``.
    """
    if files.endswith('.txt'):
        list_file = osp.abspath(files)
        selection = dict(data_root=osp.dirname(list_file), file_list=list_file)
    else:
        selection = dict(data_root=os.getcwd(), pattern=files)
    return dict(
        type='LabelledPointFileDataset',
        label_template=label_template,
        metainfo=dict(classes=list(classes)),
        test_mode=True,
        pipeline=[
            dict(
                type='LoadPointLabelsFromFile',
                ignore_index=len(classes),
                label_mapping=label_mapping),
            dict(
                type='LoadPointsFromFileChecked',
                coord_type='LIDAR',
                load_dim=load_dim,
                use_dim=use_dim,
                skip_bad_frames=False),
            dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
        ],
        **selection)


@torch.no_grad()
def extract(
        model: nn.Module, dataset_cfg: dict,
        num_samples: int) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
    """Frozen features of the first ``num_samples`` frames of a dataset.

    Args:
        model (nn.Module): The probe's segmentor (eval mode).
        dataset_cfg (dict): The split's dataset, with a test pipeline.
        num_samples (int): Number of frames (all if larger).

    Returns:
        tuple[list[Tensor]]: Per frame, (M, C) voxel features, (M,) int64
        voxel labels and (N,) int64 ``point2voxel_map`` of its points.

    Raises:
        ValueError: The frames' point attributes do not match the
            backbone's input channels.
    """
    dataset = DATASETS.build(dataset_cfg)
    in_channels = model.backbone.embedding[0].in_features
    feats, labels, point2voxel = [], [], []
    for index in range(min(num_samples, len(dataset))):
        data = model.data_preprocessor(pseudo_collate([dataset[index]]), False)
        sample = data['data_samples'][0]
        if data['inputs']['feat'].shape[1] != in_channels:
            raise ValueError(
                f'{sample.metainfo.get("lidar_path")}: '
                f'{data["inputs"]["feat"].shape[1]} values per point used '
                f'(use_dim), but the backbone takes in_channels={in_channels}'
                ' (x, y, z and the attributes it was pretrained with)')
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
          data_root: Optional[str] = None,
          datasets: Optional[Tuple[dict, dict]] = None,
          attribute_scale: Optional[float] = None,
          prefix: Optional[str] = None) -> dict:
    """Fit and score the quick linear probe (module docstring).

    Args:
        config (str): Linear-probe config (``PTv3Segmentor``).
        checkpoint (str, optional): Backbone weights; None for random init.
        train_samples (int): Training frames. Defaults to 30.
        val_samples (int): Validation frames. Defaults to 20.
        steps (int): Optimiser steps of the probe. Defaults to 300.
        batch_size (int): Voxels per step. Defaults to 8192.
        seed (int): Seed of the backbone init, probe init and batches.
        data_root (str, optional): Replaces the config's dataset root.
        datasets (tuple[dict, dict], optional): Training and validation
            dataset configs (e.g. :func:`files_dataset`) instead of the
            config's splits; the classes are the validation dataset's
            ``metainfo['classes']``, the ignore index their number.
        attribute_scale (float, optional): Replaces the data preprocessor's
            multiplier of the point attributes (the config's is 1/255 for
            nuScenes intensity; 1 for attributes already in [0, 1]).
        prefix (str, optional): Key prefix of the backbone in
            ``checkpoint`` (see :func:`build_probe_model`).

    Returns:
        dict: ``seg_eval``'s result (``miou``, ``acc``, ``acc_cls`` and one
        IoU per class, fractions) plus ``train_voxels`` and ``seconds``.

    Raises:
        ValueError: No labelled training voxel.
    """
    start = time.perf_counter()
    cfg = load_config(config, data_root)
    use_config_registries(cfg)
    if attribute_scale is not None:
        cfg.model.data_preprocessor.attribute_scale = attribute_scale
    model = build_probe_model(cfg, checkpoint, seed, prefix)
    if datasets is None:
        train_dataset = copy.deepcopy(cfg.test_dataloader.dataset)
        train_dataset.ann_file = cfg.train_dataloader.dataset.ann_file
        datasets = (train_dataset, cfg.test_dataloader.dataset)
    train_feat, train_label, _ = extract(model, datasets[0], train_samples)
    val_feat, val_label, val_point2voxel = extract(model, datasets[1],
                                                   val_samples)

    classes = datasets[1]['metainfo']['classes']
    num_classes = len(classes)  # also the ignore index
    feat, label = torch.cat(train_feat), torch.cat(train_label)
    labelled = label < num_classes
    if not bool(labelled.any()):
        raise ValueError(f'{config}: no labelled voxel in the first '
                         f'{train_samples} training frames')
    feat, label = feat[labelled], label[labelled]
    mean, std = feat.mean(0), feat.std(0) + 1e-6
    head = fit_linear((feat - mean) / std, label, num_classes, steps,
                      batch_size, seed)

    gts, preds = [], []
    with torch.no_grad():
        for frame_feat, frame_label, point2voxel in zip(
                val_feat, val_label, val_point2voxel):
            pred = head((frame_feat - mean) / std).argmax(1)
            gts.append(frame_label[point2voxel].numpy())
            preds.append(pred[point2voxel].numpy())
    result = seg_eval(gts, preds, dict(enumerate(classes)), num_classes)
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
        '--prefix',
        help='key prefix of the backbone in --checkpoint, e.g. backbone. '
        'for a segmentor checkpoint written by tools/train.py (a supervised '
        'reference); default: a backbone file')
    parser.add_argument(
        '--data-root', help="dataset root instead of the config's")
    files = parser.add_argument_group(
        'labelled files', 'probe on your own per-point labelled scans '
        "instead of the config's splits")
    files.add_argument(
        '--train-files',
        help='glob of point files (.bin float32 records, .npy (R, load_dim)'
        ' arrays), or a .txt list of them, to fit the probe on')
    files.add_argument(
        '--val-files', help='the same, for the scans the probe is scored on')
    files.add_argument(
        '--classes',
        help='class-name file: one "name" per line (raw id = line index) or '
        '"raw_id name" lines (several ids may share a name; unlisted ids '
        'are ignored)')
    files.add_argument(
        '--label-template',
        default='{dir}/../labels/{name}.label',
        help='label file of a point file, from its folder {dir}, its name '
        'up to the first dot {name} and the working directory {root}; '
        '.npy (1-D int) or uint32 .label (SemanticKITTI). Default: '
        '%(default)s')
    files.add_argument(
        '--load-dim',
        type=int,
        default=4,
        help='float32 values per point record (default: %(default)s)')
    files.add_argument(
        '--use-dim',
        type=int,
        default=4,
        help='leading values used: x, y, z and the attributes the backbone '
        'was pretrained with (default: %(default)s)')
    files.add_argument(
        '--attribute-scale',
        type=float,
        help="multiplier of the point attributes instead of the config's "
        '(1/255 for nuScenes intensity; 1 for intensity in [0, 1])')
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
    file_options = ('train_files', 'val_files', 'classes')
    missing = [name for name in file_options if getattr(args, name) is None]
    if 0 < len(missing) < len(file_options):
        parser.error('--train-files, --val-files and --classes go together;'
                     ' missing: ' + ', '.join('--' + name.replace('_', '-')
                                              for name in missing))
    if args.data_root and not missing:
        parser.error('--data-root applies to the config\'s splits, not to '
                     '--train-files / --val-files')
    if not 3 <= args.use_dim <= args.load_dim:
        parser.error(f'--use-dim must be in [3, --load-dim={args.load_dim}],'
                     f' got {args.use_dim}')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point: prints mIoU / accuracy (and writes JSON)."""
    args = parse_args(argv)
    datasets = None
    if args.classes is not None:
        classes, mapping = read_classes(args.classes)
        datasets = tuple(
            files_dataset(files, classes, mapping, args.label_template,
                          args.load_dim, args.use_dim)
            for files in (args.train_files, args.val_files))
    result = probe(args.config, args.checkpoint, args.train_samples,
                   args.val_samples, args.steps, args.batch_size, args.seed,
                   args.data_root, datasets, args.attribute_scale, args.prefix)
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
