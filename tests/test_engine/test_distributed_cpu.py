# Copyright (c) OpenMMLab. All rights reserved.
"""Distributed DOS pretraining on CPU (gloo).

``tools/dist_train.sh`` with 2 processes trains, logs, checkpoints (with the
random states of both ranks) and resumes. And DDP's gradient over 2 ranks x
1 scene equals the single-process gradient over the same 2 scenes: every
DOS term is a mean over the local (scene, view) segments and Zipf-Sinkhorn
balances each segment on its own, so nothing needs reducing across ranks
besides DDP's gradient average.
"""
import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import init_default_scope

import projects.DOS.dos  # noqa: F401  (registers the DOS modules)

DIST_OPTIONS = ('env_cfg.dist_cfg.backend=gloo',
                'model_wrapper_cfg.device_ids=None')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _dist_train(repo_root: Path, config: Path, work_dir: Path, max_iters: int,
                *extra: str) -> str:
    """Run ``tools/dist_train.sh`` with 2 CPU processes; return its log."""
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(_free_port()),
        OMP_NUM_THREADS='1')
    result = subprocess.run([
        'bash',
        str(repo_root / 'tools' / 'dist_train.sh'),
        str(config), '2', '--work-dir',
        str(work_dir), *extra, '--cfg-options', *DIST_OPTIONS,
        f'train_cfg.max_iters={max_iters}'
    ],
                            cwd=repo_root,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def _logged_iters(work_dir: Path) -> List[int]:
    """Iterations with a logged loss, over all runs in ``work_dir``."""
    iters = []
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record:
                iters.append(record['iter'])
    return iters


def test_dist_train_sh_trains_checkpoints_and_resumes_on_cpu(
        tmp_path, repo_root, tiny_pretrain_config):
    work_dir = tmp_path / 'work'
    log = _dist_train(repo_root, tiny_pretrain_config, work_dir, 2)
    assert 'Distributed training: True' in log
    checkpoint = torch.load(
        str(work_dir / 'iter_2.pth'), map_location='cpu', weights_only=False)
    assert checkpoint['meta']['iter'] == 2
    assert len(checkpoint['torch_random_state']) == 2  # one per rank
    assert _logged_iters(work_dir) == [1, 2]

    log = _dist_train(repo_root, tiny_pretrain_config, work_dir, 3, '--resume')
    assert 'resumed epoch: 0, iter: 2' in log
    assert (work_dir / 'iter_3.pth').is_file()
    assert _logged_iters(work_dir) == [1, 2, 3]


def _batch_and_model(config: Path) -> tuple:
    """Two real scenes through the pipeline and preprocessor, and the model.

    The model is the tiny config's DOS with PTv3's order shuffle off (no
    randomness in the forward pass; drop path is 0 in this config).

    Returns:
        tuple: The DOS batch of 2 scenes (4 segments) and the model config.
    """
    cfg = Config.fromfile(str(config))
    init_default_scope('mmdet3d')
    cfg.model.backbone.shuffle_orders = False
    np.random.seed(0)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(
        pseudo_collate([dataset[0], dataset[1]]), training=True)
    return data['inputs'], cfg.model


def _scene(batch: Dict[str, torch.Tensor],
           index: int) -> Dict[str, torch.Tensor]:
    """The rows of scene ``index`` (segments 2 index and 2 index + 1)."""
    starts = torch.cat([batch['offset'].new_zeros(1), batch['offset']])
    lo, hi = int(starts[2 * index]), int(starts[2 * index + 2])
    scene = {
        key: value[lo:hi]
        for key, value in batch.items() if key != 'offset'
    }
    scene['offset'] = batch['offset'][2 * index:2 * index + 2] - lo
    return scene


def _gradients(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {
        name: param.grad.clone()
        for name, param in model.named_parameters() if param.grad is not None
    }


def _ddp_worker(rank: int, port: int, data_file: str, out_dir: str) -> None:
    """One rank: DDP gradient of the loss on scene ``rank``."""
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        init_default_scope('mmdet3d')
        data = torch.load(data_file, weights_only=False)
        model = MODELS.build(data['model_cfg'])
        model.load_state_dict(data['state_dict'])
        ddp = MMDistributedDataParallel(module=model, device_ids=None)
        loss = ddp(_scene(data['batch'], rank), mode='loss')['loss_softmap']
        loss.backward()
        torch.save(
            dict(loss=loss.detach(), grads=_gradients(model)),
            os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_two_ranks_average_to_the_single_process_gradient(
        tmp_path, tiny_pretrain_config):
    batch, model_cfg = _batch_and_model(tiny_pretrain_config)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    data_file = str(tmp_path / 'data.pth')
    torch.save(
        dict(batch=batch, model_cfg=model_cfg, state_dict=model.state_dict()),
        data_file)

    single = copy.deepcopy(model)
    single(_scene(batch, 0), mode='loss')['loss_softmap'].backward()
    one_scene = _gradients(single)
    loss = model(batch, mode='loss')['loss_softmap']
    loss.backward()
    expected = _gradients(model)
    assert len(expected) > 10
    # one scene's gradient alone is not the batch's: the average matters
    assert not all(
        torch.allclose(one_scene[name], grad)
        for name, grad in expected.items())

    mp.spawn(
        _ddp_worker,
        args=(_free_port(), data_file, str(tmp_path)),
        nprocs=2,
        join=True)
    ranks = [torch.load(str(tmp_path / f'rank{r}.pth')) for r in range(2)]
    # the same (averaged) gradient on both ranks, equal to the full batch's
    torch.testing.assert_close((ranks[0]['loss'] + ranks[1]['loss']) / 2,
                               loss.detach())
    for name, grad in expected.items():
        torch.testing.assert_close(ranks[0]['grads'][name], grad)
        torch.testing.assert_close(ranks[1]['grads'][name], grad)
