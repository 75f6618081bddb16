# Copyright (c) OpenMMLab. All rights reserved.
"""The segmentation configs: consistent with pretraining, runnable end to end.
"""
import glob
import inspect
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, METRICS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import projects.DOS.dos  # noqa: F401  (registers the DOS modules)

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'projects' / 'DOS' / 'configs'
SEG_CONFIGS = sorted(
    path for path in glob.glob(str(CONFIG_DIR / '*.py'))
    if ('lidarseg' in path or 'semantickitti' in path)
    and not osp.basename(path).startswith('dos_pretrain'))
# pretraining config whose backbone each segmentation config must match
PRETRAIN_OF = {
    'synthetic': 'dos_pretrain_synthetic.py',
    'semantickitti': 'dos_pretrain_semantickitti.py',
    'nus': 'dos_pretrain_nus.py',
}
ENCODER_KEYS = ('in_channels', 'order', 'stride', 'enc_depths', 'enc_channels',
                'enc_num_head', 'enc_patch_size', 'mlp_ratio', 'qkv_bias')


def encoder_args(backbone: dict) -> dict:
    """The PTv3 encoder arguments of a backbone config, defaults filled in."""
    defaults = {
        name: param.default
        for name, param in inspect.signature(MODELS.get(
            'PTv3')).parameters.items()
    }
    merged = dict(defaults, **backbone)
    return {
        key: tuple(value) if isinstance(value, (list, tuple)) else value
        for key, value in merged.items() if key in ENCODER_KEYS
    }


def pretrain_config(path: str) -> Config:
    """The pretraining config of the dataset a seg config is for."""
    name = osp.basename(path)
    key = next(k for k in PRETRAIN_OF if k in name)
    return Config.fromfile(str(CONFIG_DIR / PRETRAIN_OF[key]))


def test_all_segmentation_configs_are_found() -> None:
    names = {osp.basename(p) for p in SEG_CONFIGS}
    assert {
        'dos-ptv3_lp_1xb8-50e_nus-lidarseg.py',
        'random-ptv3_lp_1xb8-50e_nus-lidarseg.py',
        'dos-ptv3_ft_1xb8-50e_nus-lidarseg.py',
        'ptv3_1xb8-50e_nus-lidarseg.py',
        'dos-ptv3_lp_1xb8-50e_semantickitti.py',
        'dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py',
        'random-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py'
    } <= names


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=lambda p: osp.basename(p))
def test_config_matches_its_pretraining(path: str) -> None:
    cfg = Config.fromfile(path)
    pretrain = pretrain_config(path)
    model = cfg.model
    assert model.type == 'PTv3Segmentor'
    # same input grid and encoder architecture as the pretrained weights
    assert model.data_preprocessor.voxel_size == pretrain.model.grid_size
    assert encoder_args(model.backbone) == encoder_args(
        pretrain.model.backbone)
    name = osp.basename(path)
    is_lp = '_lp_' in name
    assert model.freeze_backbone == is_lp
    assert bool(model.backbone.get('decoder', False)) != is_lp
    assert (model.backbone.get('init_cfg') is not None) == \
        name.startswith('dos-')
    head = model.decode_head
    dataset = cfg.train_dataloader.dataset
    assert head.ignore_index == dataset.ignore_index == head.num_classes
    assert head.num_classes == len(dataset.metainfo.classes)
    METRICS.build(cfg.val_evaluator)


@pytest.mark.parametrize('name', [
    'dos-ptv3_lp_1xb8-50e_nus-lidarseg.py',
    'dos-ptv3_ft_1xb8-50e_nus-lidarseg.py',
    'dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py'
])
def test_head_width_is_the_backbone_output(name: str) -> None:
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    backbone_cfg = dict(cfg.model.backbone, init_cfg=None)
    backbone = MODELS.build(backbone_cfg)
    assert backbone.out_channels == cfg.model.decode_head.channels


def test_semantickitti_config_runs_on_real_frame(shared_data: Path) -> None:
    """mmdet3d's SemanticKITTI fixture through the config's dataset, the
    segmentor (a narrower PTv3 for speed) and the evaluator."""
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(
        str(CONFIG_DIR / 'dos-ptv3_lp_1xb8-50e_semantickitti.py'))
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.update(
        data_root=str(shared_data / 'mmdet3d_fixtures' / 'semantickitti'),
        ann_file='semantickitti_infos.pkl',
        data_prefix=dict(
            pts='sequences/00/velodyne',
            pts_semantic_mask='sequences/00/labels'))
    dataset = DATASETS.build(dataset_cfg)
    model_cfg = cfg.model
    model_cfg.backbone.update(
        init_cfg=None,
        enc_depths=(1, 1, 1, 1, 1),
        enc_channels=(8, 8, 8, 8, 8),
        enc_num_head=(1, 1, 1, 1, 1),
        enc_patch_size=16,
        enable_flash=False)
    model_cfg.decode_head.channels = 40
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.eval()
    sample = dataset[0]
    num_points = sample['inputs']['points'].shape[0]
    with torch.no_grad():
        result = model.test_step(pseudo_collate([sample]))[0]
    labels = result.pred_pts_seg.pts_semantic_mask
    assert labels.shape == (num_points, )
    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = dataset.metainfo
    metric.process({}, [result.to_dict()])
    metrics = metric.compute_metrics(metric.results)
    assert 0 <= metrics['acc'] <= 1
    gt = result.eval_ann_info['pts_semantic_mask']
    valid = gt != 19
    manual_acc = np.mean(labels.numpy()[valid] == gt[valid])
    assert metrics['acc'] == pytest.approx(manual_acc)
