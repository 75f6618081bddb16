# Copyright (c) OpenMMLab. All rights reserved.
"""Each fix in ``projects.DOS.dos.compat`` works, and is needed.

Every test first shows the stack's failure with the fix undone, then the
same operation succeeding with it.
"""
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from projects.DOS.dos import compat


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only problem')
def test_spconv_cpu_backward_needs_stream_fix(monkeypatch):
    spconv = pytest.importorskip('spconv.pytorch')
    from spconv.pytorch import cppcore, ops

    torch.manual_seed(0)
    coords = torch.unique(torch.randint(0, 8, (60, 3)), dim=0)
    indices = torch.cat([coords.new_zeros(len(coords), 1), coords], 1).int()
    conv = spconv.SubMConv3d(4, 8, 3, bias=False, indice_key='t')

    def forward_backward():
        feats = torch.randn(len(indices), 4, requires_grad=True)
        x = spconv.SparseConvTensor(feats, indices, [8, 8, 8], 1)
        conv(x).features.square().sum().backward()
        return feats.grad

    with monkeypatch.context() as m:
        # spconv's own stream getter, kept by the fix
        m.setattr(ops, 'get_current_stream',
                  cppcore._dos_cuda_get_current_stream)
        with pytest.raises((AssertionError, RuntimeError)):
            forward_backward()
    assert compat.APPLIED['fix_spconv_cpu_stream']
    grad = forward_backward()
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def _save_runner_checkpoint(tmp_path) -> str:
    """Train a toy model for 2 iterations and return its checkpoint path."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x, mode='loss'):
            return dict(loss=self.fc(x).mean())

    runner = Runner(
        model=Toy(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=[dict(x=torch.ones(2))] * 4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        default_scope=None)
    runner.train()
    return str(tmp_path / 'iter_2.pth')


def test_mmengine_checkpoint_needs_loading_fix(tmp_path):
    from mmengine.runner.checkpoint import (CheckpointLoader, _load_checkpoint,
                                            load_from_local)
    ckpt = _save_runner_checkpoint(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        load_from_local(ckpt, map_location='cpu')  # mmengine's own loader
    assert compat.APPLIED['fix_mmengine_checkpoint_loading']
    assert CheckpointLoader._schemes[''] is compat._load_local_checkpoint
    loaded = _load_checkpoint(ckpt, map_location='cpu')
    assert loaded['meta']['iter'] == 2
    assert 'message_hub' in loaded
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _load_checkpoint(str(tmp_path / 'missing.pth'))


def test_object_sample_needs_numpy_long_alias(tmp_path, monkeypatch):
    from mmdet3d.datasets.transforms.dbsampler import DataBaseSampler
    from mmdet3d.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    points = np.random.RandomState(0).rand(20, 4).astype(np.float32)
    points.tofile(tmp_path / 'car_0.bin')
    db_infos = dict(car=[
        dict(
            name='car',
            path='car_0.bin',
            box3d_lidar=np.array([5., 5., 0., 4., 2., 1.5, 0.]),
            num_points_in_gt=20,
            difficulty=0,
            group_id=0,
            gt_idx=0,
            image_idx=0)
    ])
    with open(tmp_path / 'dbinfos.pkl', 'wb') as f:
        pickle.dump(db_infos, f)
    sampler = DataBaseSampler(
        info_path=str(tmp_path / 'dbinfos.pkl'),
        data_root=str(tmp_path),
        rate=1.0,
        prepare=dict(filter_by_min_points=dict(car=5)),
        sample_groups=dict(car=1),
        classes=['car'])

    def sample():
        return sampler.sample_all(
            gt_bboxes=np.zeros((0, 7)), gt_labels=np.zeros(0, np.int64))

    with monkeypatch.context() as m:
        m.delattr(np, 'long')
        with pytest.raises(AttributeError, match='long'):
            sample()
    assert compat.APPLIED['fix_numpy_long_alias']
    sampled = sample()
    assert sampled['gt_labels_3d'].tolist() == [0]
    assert sampled['points'].shape[0] == 20


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only problem')
def test_pytorch_launcher_needs_cpu_distributed_fix(monkeypatch):
    import socket

    import torch.distributed as dist
    from mmengine.dist import utils

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for name, value in dict(
            RANK='0',
            LOCAL_RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(name, value)
    # mmengine's launcher selects a CUDA device first
    with pytest.raises((AttributeError, AssertionError, RuntimeError)):
        utils._dos_cuda_init_dist_pytorch('gloo')
    assert compat.APPLIED['fix_mmengine_cpu_distributed']
    with pytest.raises(ValueError, match='env_cfg.dist_cfg.backend=gloo'):
        utils._init_dist_pytorch('nccl')
    utils._init_dist_pytorch('gloo')
    try:
        assert dist.get_world_size() == 1 and dist.get_backend() == 'gloo'
    finally:
        dist.destroy_process_group()


def test_apply_all_is_idempotent():
    before = dict(compat.APPLIED)
    assert compat.apply_all() == before
