# Copyright (c) OpenMMLab. All rights reserved.
"""PTv3Segmentor: frozen linear probe, fine-tuning, per-point prediction."""
import copy
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample, PointData
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

import projects.DOS.dos  # noqa: F401  (registers the DOS modules)

NUM_CLASSES = 5
IGNORE = NUM_CLASSES
TINY_PTV3 = dict(
    type='PTv3',
    in_channels=4,
    enc_depths=(1, 1, 1),
    enc_channels=(8, 16, 32),
    enc_num_head=(1, 2, 4),
    enc_patch_size=16,
    stride=(2, 2),
    drop_path=0.2,
    enable_flash=False,
    dec_depths=(1, 1),
    dec_channels=(8, 16),
    dec_num_head=(1, 2),
    dec_patch_size=16)


def build_segmentor(mode: str,
                    init_cfg: Optional[dict] = None) -> torch.nn.Module:
    """A tiny segmentor.

    Args:
        mode (str): 'lp' (frozen, up-cast level 1 so that point2out is not
            the identity), 'lp0' (frozen, hypercolumn at level 0) or 'ft'
            (decoder, trainable).
        init_cfg (dict, optional): The backbone's init_cfg.
    """
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    up_cast_level = dict(lp=1, lp0=0, ft=0)[mode]
    backbone = dict(
        TINY_PTV3,
        decoder=mode == 'ft',
        up_cast_level=up_cast_level,
        init_cfg=init_cfg)
    channels = 8 if mode == 'ft' else sum(
        TINY_PTV3['enc_channels'][up_cast_level:])
    model = MODELS.build(
        dict(
            type='PTv3Segmentor',
            freeze_backbone=mode != 'ft',
            backbone=backbone,
            decode_head=dict(
                type='PTv3SegHead',
                channels=channels,
                num_classes=NUM_CLASSES,
                ignore_index=IGNORE,
                loss_lovasz=dict(
                    type='LovaszLoss', loss_weight=1.0, reduction='none')),
            data_preprocessor=dict(
                type='PTv3SegDataPreprocessor',
                voxel_size=0.1,
                attribute_scale=1 / 255.)))
    model.init_weights()
    return model


def make_scene(seed: int, num_points: int = 240) -> dict:
    """One labelled cloud (x, y, z, intensity) in the Pack3DDetInputs form."""
    gen = torch.Generator().manual_seed(seed)
    xyz = torch.rand(num_points, 3, generator=gen) * torch.tensor([3., 3., 1.])
    intensity = torch.rand(num_points, 1, generator=gen) * 255
    sample = Det3DDataSample()
    # Labels follow the geometry (quadrant), plus a few ignored points.
    label = (xyz[:, 0] > 1.5).long() * 2 + (xyz[:, 1] > 1.5).long()
    label[torch.rand(num_points, generator=gen) < 0.05] = IGNORE
    sample.gt_pts_seg = PointData(pts_semantic_mask=label)
    return dict(
        inputs=dict(points=torch.cat([xyz, intensity], dim=1)),
        data_samples=sample)


def make_batch(seeds=(0, 1)) -> dict:
    """A collated batch of scenes."""
    return pseudo_collate([make_scene(seed) for seed in seeds])


def snapshot(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Copies of a module's parameters."""
    return {
        name: param.detach().clone()
        for name, param in module.named_parameters()
    }


class ModeProbe(Hook):
    """Records (model.training, backbone.training) before every iteration."""

    def __init__(self) -> None:
        self.modes: List[Tuple[bool, bool]] = []

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        model = runner.model
        self.modes.append((model.training, model.backbone.training))


def test_frozen_backbone_is_bit_identical_after_lp_epoch(
        tmp_path: Path) -> None:
    model = build_segmentor('lp')
    assert not any(p.requires_grad for p in model.backbone.parameters())
    model.train()
    assert model.training and not model.backbone.training
    backbone_before = snapshot(model.backbone)
    head_before = snapshot(model.decode_head)

    probe = ModeProbe()
    loader = DataLoader([make_scene(seed) for seed in range(6)],
                        batch_size=2,
                        collate_fn=pseudo_collate)
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=loader,
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=0.01, weight_decay=0.05)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[probe],
        default_scope='mmdet3d',
        log_level='WARNING')
    runner.train()

    assert probe.modes == [(True, False)] * 6
    for name, param in model.backbone.named_parameters():
        assert torch.equal(param, backbone_before[name]), name
        assert param.grad is None, name
    assert any(not torch.equal(param, head_before[name])
               for name, param in model.decode_head.named_parameters())


def test_finetune_step_updates_backbone() -> None:
    model = build_segmentor('ft')
    model.train()
    assert model.backbone.training
    before = snapshot(model.backbone)
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    losses = model.train_step(make_batch(), optim_wrapper)
    assert set(losses) == {'loss', 'decode.loss_sem_seg', 'decode.loss_lovasz'}
    changed = [
        name for name, param in model.backbone.named_parameters()
        if not torch.equal(param, before[name])
    ]
    assert 'embedding.0.weight' in changed
    assert any(name.startswith('dec.') for name in changed)
    assert any(name.startswith('enc.2.') for name in changed)


@pytest.mark.parametrize('mode', ['lp', 'lp0', 'ft'])
def test_predict_is_per_point_and_follows_the_points(mode: str) -> None:
    model = build_segmentor(mode)
    model.eval()
    # Points on a jittered 0.2 m lattice: one point per 0.1 m voxel, so the
    # voxelisation does not depend on the point order.
    gen = torch.Generator().manual_seed(3)
    lattice = torch.stack(
        torch.meshgrid(
            torch.arange(12.),
            torch.arange(10.),
            torch.arange(2.),
            indexing='ij'),
        dim=-1).reshape(-1, 3) * 0.2
    xyz = lattice + torch.rand(lattice.shape, generator=gen) * 0.05
    cloud = torch.cat(
        [xyz, torch.rand(xyz.shape[0], 1, generator=gen) * 255], dim=1)
    perm = torch.randperm(cloud.shape[0], generator=gen)

    def predict(points: torch.Tensor) -> Det3DDataSample:
        batch = pseudo_collate(
            [dict(inputs=dict(points=points), data_samples=Det3DDataSample())])
        with torch.no_grad():
            return model.test_step(batch)[0]

    result = predict(cloud)
    labels = result.pred_pts_seg.pts_semantic_mask
    logits = result.pts_seg_logits.pts_seg_logits
    assert labels.shape == (cloud.shape[0], )
    assert logits.shape == (NUM_CLASSES, cloud.shape[0])
    assert torch.equal(labels, logits.argmax(0))
    permuted = predict(cloud[perm]).pts_seg_logits.pts_seg_logits
    assert torch.allclose(permuted, logits[:, perm], atol=1e-4)


def test_points_sharing_a_voxel_share_the_prediction() -> None:
    model = build_segmentor('lp')
    model.eval()
    batch = make_batch(seeds=(4, 5))
    clouds = [points.clone() for points in batch['inputs']['points']]
    with torch.no_grad():
        results = model.test_step(batch)
    for cloud, result in zip(clouds, results):
        labels = result.pred_pts_seg.pts_semantic_mask
        assert labels.shape == (cloud.shape[0], )
        cell = torch.floor(
            (cloud[:, :3] - cloud[:, :3].min(0).values) / 0.1).long()
        _, voxel = torch.unique(cell, dim=0, return_inverse=True)
        first = torch.zeros(int(voxel.max()) + 1, dtype=torch.long)
        first.scatter_(0, voxel.flip(0), labels.flip(0))
        assert torch.equal(labels, first[voxel])


@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_pretrained_backbone_loads_through_init_cfg(tmp_path: Path,
                                                    prefix: str) -> None:
    source = build_segmentor('lp')
    with torch.no_grad():
        for param in source.backbone.parameters():
            param.add_(torch.randn_like(param))
    weights = copy.deepcopy(source.backbone.state_dict())
    checkpoint = tmp_path / 'backbone.pth'
    stored = weights if prefix is None else {
        prefix + key: value
        for key, value in weights.items()
    }
    torch.save(dict(state_dict=stored), checkpoint)
    init_cfg = dict(type='Pretrained', checkpoint=str(checkpoint))
    if prefix is not None:
        init_cfg['prefix'] = prefix
    model = build_segmentor('lp', init_cfg=init_cfg)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, weights[key]), key


def save_encoder_checkpoint(path: Path,
                            drop: str = '',
                            grid_size: float = 0.1) -> Dict[str, torch.Tensor]:
    """A converted-backbone file holding a random encoder (no decoder)."""
    weights = {
        key: torch.randn_like(value)
        for key, value in build_segmentor('lp').backbone.state_dict().items()
        if key != drop
    }
    torch.save(dict(state_dict=weights, meta=dict(grid_size=grid_size)), path)
    return weights


def test_finetune_model_loads_encoder_checkpoint(tmp_path: Path) -> None:
    weights = save_encoder_checkpoint(tmp_path / 'encoder.pth')
    model = build_segmentor(
        'ft',
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'encoder.pth')))
    state = model.backbone.state_dict()
    for key, value in weights.items():
        assert torch.equal(state[key], value), key
    assert any(key.startswith('dec.') for key in state)


def test_incomplete_checkpoint_is_rejected(tmp_path: Path) -> None:
    save_encoder_checkpoint(
        tmp_path / 'partial.pth', drop='enc.1.blocks.0.mlp.0.weight')
    with pytest.raises(KeyError, match='enc.1.blocks.0.mlp.0.weight'):
        build_segmentor(
            'lp',
            init_cfg=dict(
                type='Pretrained', checkpoint=str(tmp_path / 'partial.pth')))


def test_pretraining_grid_mismatch_is_rejected(tmp_path: Path) -> None:
    save_encoder_checkpoint(tmp_path / 'coarse.pth', grid_size=0.05)
    with pytest.raises(ValueError, match='pretraining grid 0.05'):
        build_segmentor(
            'lp',
            init_cfg=dict(
                type='Pretrained', checkpoint=str(tmp_path / 'coarse.pth')))
