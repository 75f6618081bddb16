# Copyright (c) OpenMMLab. All rights reserved.
"""The PTv3 backbone: contract, invariance, training step, configs."""
import os.path as osp

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config

from projects.DOS.dos.models.backbones.ptv3 import (PTV3_BASE, PTV3_SMALL,
                                                    DropPath, PTv3)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))


def small_cfg(**kwargs):
    cfg = dict(PTV3_SMALL, in_channels=4, enc_patch_size=32)
    cfg.update(kwargs)
    return cfg


def make_points(sizes=(400, 300), seed=0):
    """Unique voxels per sample with rows in random order."""
    gen = torch.Generator().manual_seed(seed)
    grids = []
    for n in sizes:
        flat = torch.randperm(40**3, generator=gen)[:n]
        grid = torch.stack([flat // 1600, (flat // 40) % 40, flat % 40], 1)
        grids.append(grid)
    grid = torch.cat(grids)
    return dict(
        coord=grid.float() * 0.05 + 0.01,
        grid_coord=grid,
        feat=torch.randn(grid.shape[0], 4, generator=gen),
        offset=torch.cumsum(torch.tensor(sizes), 0))


def test_output_contract_of_the_up_cast_model():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='PTv3', **small_cfg())).eval()
    assert isinstance(model, PTv3)
    points = make_points()
    out = model(points)
    assert set(out) == {
        'feat', 'coord', 'grid_coord', 'offset', 'batch', 'point2out',
        'stage_inverse', 'upcast'
    }
    num_out = out['feat'].shape[0]
    assert out['feat'].shape == (num_out, 64 + 128 + 256)
    assert model.out_channels == 448
    assert out['coord'].shape == (num_out, 3)
    assert out['grid_coord'].dtype == torch.long
    assert out['offset'].tolist()[-1] == num_out
    assert out['batch'].shape == (num_out, )
    # Stride-4 voxels hold their input points.
    p2o = out['point2out']
    assert torch.equal(out['grid_coord'][p2o], points['grid_coord'] // 4)
    assert torch.equal(out['batch'][p2o], torch.tensor([0] * 400 + [1] * 300))
    inverses = out['stage_inverse']
    assert len(inverses) == 4
    assert torch.equal(inverses[1][inverses[0]], p2o)
    # Output voxel coordinates are the means of their input points.
    counts = torch.bincount(p2o, minlength=num_out).float()
    mean = torch.zeros(num_out, 3).index_add_(0, p2o, points['coord'])
    torch.testing.assert_close(out['coord'], mean / counts[:, None])
    # The up-cast feature is the stride-4, 8 and 16 features through the
    # pooling parents, kept level by level in ``upcast``.
    upcast = out['upcast']
    assert [f.shape
            for f in upcast.feats] == [(num_out, 64),
                                       (int(inverses[2].max()) + 1, 128),
                                       (int(inverses[3].max()) + 1, 256)]
    assert torch.equal(
        out['feat'],
        torch.cat([
            upcast.feats[0], upcast.feats[1][inverses[2]],
            upcast.feats[2][inverses[3][inverses[2]]]
        ], 1))


def test_decoder_returns_level_zero_features():
    torch.manual_seed(0)
    model = PTv3(**small_cfg(
        decoder=True,
        dec_depths=(1, 1, 1, 1),
        dec_channels=(16, 16, 32, 64),
        dec_num_head=(1, 1, 2, 4),
        dec_patch_size=32)).eval()
    points = make_points()
    out = model(points)
    assert out['feat'].shape == (700, 16) and 'upcast' not in out
    assert torch.equal(out['point2out'], torch.arange(700))
    assert torch.equal(out['grid_coord'], points['grid_coord'])


@pytest.mark.parametrize('decoder', [False, True])
def test_eval_output_is_invariant_to_point_order(decoder):
    torch.manual_seed(0)
    model = PTv3(**small_cfg(decoder=decoder, dec_patch_size=32)).eval()
    points = make_points(seed=1)
    perm = torch.cat([torch.randperm(400), 400 + torch.randperm(300)])
    shuffled = {k: v[perm] for k, v in points.items() if k != 'offset'}
    shuffled['offset'] = points['offset']
    with torch.no_grad():
        out = model(points)
        out_perm = model(shuffled)
    if decoder:
        torch.testing.assert_close(
            out['feat'][perm], out_perm['feat'], atol=1e-4, rtol=1e-4)
    else:
        # Output voxels are sorted by (batch, x, y, z): same rows either way.
        assert torch.equal(out['grid_coord'], out_perm['grid_coord'])
        torch.testing.assert_close(
            out['feat'], out_perm['feat'], atol=1e-4, rtol=1e-4)
        assert torch.equal(out['point2out'][perm], out_perm['point2out'])


def test_orders_are_shuffled_in_training_only():
    torch.manual_seed(0)
    model = PTv3(**small_cfg())
    draws = {model._order_names() for _ in range(20)}
    assert len(draws) > 1
    assert all(sorted(d) == sorted(model.order) for d in draws)
    model.eval()
    assert {model._order_names() for _ in range(5)} == {model.order}
    points = make_points()
    with torch.no_grad():
        torch.testing.assert_close(
            model(points)['feat'],
            model(points)['feat'])


@pytest.mark.parametrize('mask_token', [False, True])
def test_train_step_updates_every_parameter(mask_token):
    torch.manual_seed(0)
    model = PTv3(**small_cfg(mask_token=mask_token)).train()
    points = make_points()
    points['mask'] = torch.rand(700) < 0.5
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert ('mask_token' in before) == mask_token
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-3, weight_decay=0.0)
    out = model(points)
    loss = (out['feat']**2).mean()
    loss.backward()
    optimizer.step()
    for name, param in model.named_parameters():
        assert param.grad is not None and bool(param.grad.abs().sum() > 0), \
            f'{name} got no gradient'
        assert not torch.equal(param, before[name]), f'{name} did not change'


def test_activation_checkpointing_gives_the_same_gradients():
    """Whole-block and MLP-only recomputation: same outputs and gradients,
    dropout and drop path included (their random draws are replayed)."""
    points = make_points(sizes=(300, 200))
    results = []
    for with_cp, recompute_mlp in ((False, False), (True, False), (False,
                                                                   True)):
        torch.manual_seed(0)
        model = PTv3(**small_cfg(
            with_cp=with_cp,
            recompute_mlp=recompute_mlp,
            drop_path=0.2,
            proj_drop=0.1)).train()
        torch.manual_seed(1)
        feat = model(points)['feat']
        feat.square().mean().backward()
        results.append([feat.detach()] + [p.grad for p in model.parameters()])
    plain = results[0]
    for checkpointed in results[1:]:
        for a, b in zip(plain, checkpointed):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def _saved_bytes(model, points):
    """Bytes of the distinct storages autograd saves for backward."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(points)
    return sum(storages.values())


def test_recompute_mlp_saves_no_hidden_activations():
    """The MLP branch keeps only its input: at least the hidden pre- and
    post-GELU (2 * 4C floats per row of every block) are not saved."""
    points = make_points(sizes=(300, 200))
    saved = {}
    for recompute_mlp in (False, True):
        torch.manual_seed(0)
        model = PTv3(**small_cfg(recompute_mlp=recompute_mlp)).train()
        rows = []
        for stage in model.enc:
            stage.register_forward_hook(lambda module, args, out: rows.append(
                (out.shape[0], out.shape[1], len(module.blocks))))
        saved[recompute_mlp] = _saved_bytes(model, points)
    hidden = sum(n * 4 * c * 2 * 4 * depth for n, c, depth in rows)
    assert saved[False] - saved[True] >= hidden


def test_drop_path_rates_rise_linearly_and_drop_rows():
    model = PTv3(**small_cfg(drop_path=0.4))
    rates = [
        block.drop_path.drop_prob for stage in model.enc
        for block in stage.blocks
    ]
    torch.testing.assert_close(
        torch.tensor(rates), torch.linspace(0, 0.4, 5), atol=1e-6, rtol=0)
    drop = DropPath(0.5).train()
    x = torch.ones(1000, 3)
    y = drop(x)
    rows = y[:, 0]
    assert set(rows.unique().tolist()) == {0.0, 2.0}
    assert bool((y == rows[:, None]).all())
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError, match='drop_prob'):
        DropPath(1.0)


def test_presets_and_config_bases_agree():
    for name, preset in (('base', PTV3_BASE), ('small', PTV3_SMALL)):
        cfg = Config.fromfile(
            osp.join(REPO, 'configs', '_base_', 'models', f'ptv3_{name}.py'))
        assert cfg.backbone.to_dict() == dict(type='PTv3', **preset)
    assert PTV3_BASE['enc_channels'] == (32, 64, 128, 256, 512)
    model = PTv3(**PTV3_BASE)
    num_params = sum(p.numel() for p in model.parameters())
    assert 38e6 < num_params < 40e6  # 38.7 M, as Pointcept's encoder


def test_init_cfg_loads_a_pretrained_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = PTv3(**small_cfg())
    checkpoint = str(tmp_path / 'ptv3.pth')
    torch.save({'state_dict': source.state_dict()}, checkpoint)
    torch.manual_seed(1)
    model = PTv3(**small_cfg(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
    assert not torch.equal(model.embedding[0].weight,
                           source.embedding[0].weight)
    model.init_weights()
    for (name, param), ref in zip(model.state_dict().items(),
                                  source.state_dict().values()):
        assert torch.equal(param, ref), name


def test_bad_inputs_raise_clear_errors():
    model = PTv3(**small_cfg()).eval()
    points = make_points()
    with pytest.raises(ValueError, match="lacks 'offset'"):
        model({k: v for k, v in points.items() if k != 'offset'})
    with pytest.raises(ValueError, match="'offset'"):
        model(dict(points, offset=torch.tensor([5, 6])))
    with pytest.raises(ValueError, match="'mask'"):
        model(dict(points, mask=torch.ones(3, dtype=torch.bool)))
    with pytest.raises(TypeError, match='grid_coord'):
        model(dict(points, grid_coord=points['grid_coord'].float()))
    with pytest.raises(ValueError, match='enc_channels'):
        PTv3(enc_depths=(1, 1), enc_channels=(8, 16, 32))
    with pytest.raises(ValueError, match='order'):
        PTv3(order=('peano', ))
