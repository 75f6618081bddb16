# Copyright (c) OpenMMLab. All rights reserved.
"""Every config parses; the DOS pretraining configs build their parts."""
import glob
import inspect
import os.path as osp

import pytest
from mmdet3d.registry import HOOKS, MODELS, TRANSFORMS
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ALL_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'projects', 'DOS', 'configs', '*.py')) +
    glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))
PRETRAIN_CONFIGS = sorted(
    glob.glob(
        osp.join(REPO, 'projects', 'DOS', 'configs', 'dos_pretrain_*.py')))


@pytest.mark.parametrize(
    'path', ALL_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_parses(path):
    Config.fromfile(path)


@pytest.mark.parametrize(
    'path', PRETRAIN_CONFIGS, ids=lambda p: osp.basename(p))
def test_pretrain_config_builds_pipeline_and_preprocessor(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet3d'
    assert cfg.custom_imports.imports == ['projects.DOS.dos']
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    for transform in cfg.train_dataloader.dataset.pipeline:
        TRANSFORMS.build(transform)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    # the pipeline's degeneracy check and the masking use the same cube
    assert preprocessor.mask_block_size == pipeline[
        'DOSMultiViewAug'].mask_block_size
    assert cfg.model.grid_size == pipeline['DOSMultiViewAug'].grid_size
    assert 0 <= preprocessor.mask_ratio < 1


def _check_kwargs(registry, cfg: dict) -> None:
    """Every key of the config is an argument of the registered class.

    (Partial binding: arguments the parent module fills in, such as the
    head's ``in_channels``, may be absent.)
    """
    cfg = dict(cfg)
    cls = registry.get(cfg.pop('type'))
    inspect.signature(cls).bind_partial(**cfg)


@pytest.mark.parametrize(
    'path', PRETRAIN_CONFIGS, ids=lambda p: osp.basename(p))
def test_pretrain_config_matches_model_and_hook_signatures(path):
    cfg = Config.fromfile(path)
    model = cfg.model.to_dict()
    for key in ('backbone', 'head', 'data_preprocessor'):
        _check_kwargs(MODELS, model.pop(key))
    _check_kwargs(MODELS, model)
    for hook in cfg.custom_hooks:
        _check_kwargs(HOOKS, hook)


def test_synthetic_config_builds_its_model():
    cfg = Config.fromfile(
        osp.join(REPO, 'projects/DOS/configs/dos_pretrain_synthetic.py'))
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        model = MODELS.build(cfg.model)
    assert model.data_preprocessor.mask_ratio == 0.7
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters <= 300


def test_detection_variant_only_changes_mask_ratio():
    seg = Config.fromfile(
        osp.join(REPO, 'projects/DOS/configs/dos_pretrain_nus.py'))
    det = Config.fromfile(
        osp.join(REPO, 'projects/DOS/configs/dos_pretrain_nus_det.py'))
    assert seg.model.data_preprocessor.mask_ratio == 0.7
    assert det.model.data_preprocessor.mask_ratio == 0.6
    det.model.data_preprocessor.mask_ratio = 0.7
    assert det.model.to_dict() == seg.model.to_dict()
