# Copyright (c) OpenMMLab. All rights reserved.
"""The CenterPoint + PTv3 configs: grids agree everywhere, with the DOS
pretraining grid, and the label-subset configs use the subset's database."""
import os.path as osp

import pytest
from mmengine.config import Config

import projects.DOS.dos  # noqa: F401  (registers PTv3BEVEncoder)

CONFIGS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'projects',
    'DOS', 'configs')
# (scratch config, DOS-initialised config, DOS pretraining config)
PAIRS = [
    ('centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py',
     'centerpoint_dos-ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py',
     'dos_pretrain_nus_det.py'),
    ('centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d-20pct.py',
     'centerpoint_dos-ptv3_secfpn_8xb4-cyclic-20e_nus-3d-20pct.py',
     'dos_pretrain_nus_det.py'),
    ('centerpoint_ptv3-small_secfpn_1xb2-cyclic-20e_synthetic-nus-3d-20pct.py',
     'centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_'
     'synthetic-nus-3d-20pct.py', 'dos_pretrain_synthetic.py'),
]


def load(name: str) -> Config:
    """The project config ``name``."""
    return Config.fromfile(osp.join(CONFIGS, name))


def train_dataset(cfg: Config) -> dict:
    """The NuScenesDataset of the train loader (inside CBGS if wrapped)."""
    dataset = cfg.train_dataloader.dataset
    return dataset.dataset if dataset.type == 'CBGSDataset' else dataset


@pytest.mark.parametrize('name', [name for pair in PAIRS for name in pair[:2]])
def test_grids_agree_across_the_detector(name):
    from mmdet3d.registry import MODELS
    model = load(name).model
    voxel_layer = model.data_preprocessor.voxel_layer
    encoder = model.pts_middle_encoder
    train, test = model.train_cfg.pts, model.test_cfg.pts
    coder = model.pts_bbox_head.bbox_coder
    assert encoder.type == 'PTv3BEVEncoder'
    assert voxel_layer.voxel_size == encoder.voxel_size == train.voxel_size
    assert coder.voxel_size == test.voxel_size == encoder.voxel_size[:2]
    assert (voxel_layer.point_cloud_range == encoder.point_cloud_range ==
            train.point_cloud_range)
    assert coder.pc_range == test.pc_range == encoder.point_cloud_range[:2]
    assert encoder.grid_size == train.grid_size
    assert (encoder.out_size_factor == train.out_size_factor ==
            test.out_size_factor == coder.out_size_factor)
    backbone = encoder.backbone
    assert model.pts_voxel_encoder.num_features == backbone.in_channels == len(
        encoder.feat_scale)

    bev = MODELS.build({**encoder, 'backbone': {**backbone, 'init_cfg': None}})
    assert bev.bev_shape == tuple(n // train.out_size_factor
                                  for n in train.grid_size[1::-1])
    assert bev.out_channels == model.pts_backbone.in_channels


@pytest.mark.parametrize('scratch, dos, pretrain', PAIRS)
def test_dos_config_matches_scratch_and_pretraining(scratch, dos, pretrain):
    scratch_cfg, dos_cfg = load(scratch), load(dos)
    init_cfg = dos_cfg.model.pts_middle_encoder.backbone.pop('init_cfg')
    assert init_cfg.type == 'Pretrained' and init_cfg.checkpoint
    assert 'init_cfg' not in scratch_cfg.model.pts_middle_encoder.backbone
    assert dos_cfg.model == scratch_cfg.model
    assert dos_cfg.train_dataloader == scratch_cfg.train_dataloader

    pretrain_model = load(pretrain).model
    encoder = dos_cfg.model.pts_middle_encoder
    assert encoder.voxel_size == [pretrain_model.grid_size] * 3
    for key in ('in_channels', 'enc_depths', 'enc_channels', 'enc_num_head',
                'up_cast_level'):
        assert encoder.backbone[key] == pretrain_model.backbone[key], key


@pytest.mark.parametrize('name', [name for pair in PAIRS for name in pair[:2]])
def test_label_subset_configs_use_the_subset_database(name):
    cfg = load(name)
    dataset = train_dataset(cfg)
    sampler = [t for t in dataset.pipeline
               if t.type == 'ObjectSample'][0].db_sampler
    prefix = 'nuscenes_20pct' if name.endswith('-20pct.py') else 'nuscenes'
    assert dataset.ann_file == f'{prefix}_infos_train.pkl'
    assert sampler.info_path == (
        f'{dataset.data_root}{prefix}_dbinfos_train.pkl')
    assert sampler.data_root == dataset.data_root
    assert cfg.val_evaluator.ann_file == (
        f'{cfg.val_dataloader.dataset.data_root}nuscenes_infos_val.pkl')
