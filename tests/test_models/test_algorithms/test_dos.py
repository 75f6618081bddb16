# Copyright (c) OpenMMLab. All rights reserved.
"""The DOS model: voxel alignment, matching, leakage, variants, training."""
import copy
import math

import pytest
import torch
from mmdet3d.registry import MODELS

from projects.DOS.dos.models.algorithms import DOS
from projects.DOS.dos.models.backbones.ptv3 import PTV3_SMALL
from projects.DOS.dos.models.utils import BlockMasking

GRID = 0.05


def tiny_dos_cfg(**kwargs):
    """The real PTv3 small preset with tiny channels and patches."""
    cfg = dict(
        type='DOS',
        backbone=dict(
            PTV3_SMALL,
            type='PTv3',
            in_channels=4,
            enc_channels=(8, 8, 16, 16, 16),
            enc_num_head=(1, 1, 2, 2, 2),
            enc_patch_size=32,
            drop_path=0.0),
        head=dict(
            type='PrototypeHead',
            hidden_channels=32,
            embed_channels=16,
            num_prototypes=32),
        grid_size=GRID)
    cfg.update(kwargs)
    return cfg


def make_scene(gen):
    """A 3 m x 3 m scene: ground plane, a wall and a box, (x, y, z) metres.

    Returns the grid-sampled coordinates (n, 3) and intensities (n,).
    """
    ground = torch.rand(900, 3, generator=gen) * torch.tensor([3., 3., 0.])
    wall = torch.rand(300, 3, generator=gen) * torch.tensor([0., 3., 1.])
    wall[:, 0] = 2.9
    box = torch.rand(300, 3, generator=gen) * 0.6
    face = torch.randint(0, 3, (300, ), generator=gen)
    box[torch.arange(300), face] = 0.6 * torch.randint(
        0, 2, (300, ), generator=gen).float()
    box = box + torch.tensor([1.0, 1.2, 0.0])
    coord = torch.cat([ground, wall, box])
    intensity = torch.cat([
        torch.full((900, ), 0.2),
        torch.full((300, ), 0.8),
        torch.full((300, ), 0.5)
    ])
    # Grid sampling once per scene: one point per 0.05 m voxel.
    key = torch.floor(coord / GRID).long()
    _, inverse = torch.unique(key, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1, ), coord.shape[0])
    first = first.scatter_reduce(0, inverse, torch.arange(coord.shape[0]),
                                 'amin')
    return coord[first], intensity[first]


def make_view(coord, intensity, keep, angle, scale):
    """Crop, rotate about z, scale, and voxelise one view.

    Duplicate voxels created by the rotation are dropped (the backbone needs
    one point per voxel), so some point ids are absent from a view.
    """
    point_id = torch.nonzero(keep).flatten()
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]])
    xyz = coord[point_id] @ rot.T * scale
    xyz = xyz - xyz.min(0).values
    grid = torch.floor(xyz / GRID).long()
    _, inverse = torch.unique(grid, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1, ), grid.shape[0])
    first = first.scatter_reduce(0, inverse, torch.arange(grid.shape[0]),
                                 'amin').sort().values
    xyz, grid, point_id = xyz[first], grid[first], point_id[first]
    feat = torch.cat([xyz, intensity[point_id, None]], 1)
    return dict(
        coord=xyz,
        grid_coord=grid - grid.min(0).values,
        feat=feat,
        point_id=point_id)


def make_batch(num_scenes=2, seed=0, mask_ratio=0.7):
    """A DOS batch as DOSDataPreprocessor returns it (2 views per scene)."""
    gen = torch.Generator().manual_seed(seed)
    views = []
    for _ in range(num_scenes):
        coord, intensity = make_scene(gen)
        angles = torch.rand(2, generator=gen) * 2 * math.pi
        views.append(
            make_view(coord, intensity, coord[:, 0] < 2.2, float(angles[0]),
                      1.0))
        views.append(
            make_view(coord, intensity, coord[:, 0] > 0.8, float(angles[1]),
                      1.05))
    batch = {
        key: torch.cat([v[key] for v in views])
        for key in ('coord', 'grid_coord', 'feat', 'point_id')
    }
    batch['offset'] = torch.cumsum(
        torch.tensor([v['coord'].shape[0] for v in views]), 0)
    masking = BlockMasking(block_size=1.0, mask_ratio=mask_ratio)
    batch['visible'] = masking(
        batch['coord'],
        batch['offset'],
        seeds=torch.arange(len(views)) + 100 * seed)
    return batch


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(tiny_dos_cfg(**kwargs))


def per_visible_point_features(model, batch):
    """Student up-cast feature of every visible point, in batch order."""
    out = model(batch, mode='tensor')
    student_row = torch.full((batch['coord'].shape[0], ), -1)
    student_row[out['input_rows']] = torch.arange(out['input_rows'].numel())
    visible_rows = torch.nonzero(batch['visible']).flatten()
    return out['feat'][out['point2out'][student_row[visible_rows]]]


def test_student_sees_only_visible_points_on_the_full_view_grid():
    model = build().eval()
    assert isinstance(model, DOS)
    batch = make_batch()
    out = model(batch, mode='tensor')
    rows = out['input_rows']
    assert torch.equal(rows, torch.nonzero(batch['visible']).flatten())
    # Up-cast voxels are the full view's grid_coord // 4 (stride 4).
    assert torch.equal(out['grid_coord'][out['point2out']],
                       batch['grid_coord'][rows] // 4)
    segment = torch.repeat_interleave(
        torch.arange(4),
        torch.diff(batch['offset'], prepend=torch.zeros(1, dtype=torch.long)))
    assert torch.equal(out['batch'][out['point2out']], segment[rows])


def test_same_view_match_is_exact_and_covers_every_observable_voxel():
    model = build().eval()
    batch = make_batch()
    s_out = model(batch, mode='tensor')
    t_out = model.teacher.module.backbone(model._full_view(batch))
    keep = batch['visible'][s_out['input_rows']]
    match = model._match(s_out, s_out['input_rows'], keep, t_out['point2out'])
    assert torch.equal(match.student, torch.arange(s_out['feat'].shape[0]))
    assert torch.equal(s_out['grid_coord'][match.student],
                       t_out['grid_coord'][match.teacher])
    assert torch.equal(s_out['batch'][match.student],
                       t_out['batch'][match.teacher])
    assert torch.equal(match.segment, s_out['batch'][match.student])


def test_cross_view_match_follows_point_ids_into_the_other_view():
    model = build().eval()
    batch = make_batch()
    segment = torch.repeat_interleave(
        torch.arange(4),
        torch.diff(batch['offset'], prepend=torch.zeros(1, dtype=torch.long)))
    partner = model._partner_rows(batch, segment)
    found = partner >= 0
    assert 0 < int(found.sum()) < partner.numel()  # overlap, not all
    assert torch.equal(batch['point_id'][partner[found]],
                       batch['point_id'][found])
    assert torch.equal(segment[partner[found]], segment[found] ^ 1)
    # Absent points really are absent from the other view.
    for row in torch.nonzero(~found).flatten()[:20].tolist():
        other = segment == (segment[row] ^ 1)
        assert not bool(
            (batch['point_id'][other] == batch['point_id'][row]).any())

    s_out = model(batch, mode='tensor')
    t_out = model.teacher.module.backbone(model._full_view(batch))
    rows = s_out['input_rows']
    match = model._match(s_out, rows, partner[rows] >= 0, t_out['point2out'],
                         partner)
    assert 0 < match.student.numel() < s_out['feat'].shape[0]
    # Each matched teacher voxel (other view) holds a point of the student
    # voxel.
    s_voxel_of_row = torch.full((batch['coord'].shape[0], ), -1)
    s_voxel_of_row[rows] = s_out['point2out']
    for j in range(0, match.student.numel(), 7):
        members = torch.nonzero(s_voxel_of_row == match.student[j]).flatten()
        ids = set(batch['point_id'][members].tolist())
        holders = torch.nonzero(
            t_out['point2out'] == match.teacher[j]).flatten()
        assert segment[holders[0]] == match.segment[j] ^ 1
        assert ids & set(batch['point_id'][holders].tolist())


def test_leakage_observable_student_ignores_masked_points():
    """Masked points may change arbitrarily: visible outputs must not."""
    batch = make_batch()
    masked = ~batch['visible']
    tampered = copy.deepcopy(batch)
    gen = torch.Generator().manual_seed(9)
    tampered['coord'][masked] += torch.randn(
        int(masked.sum()), 3, generator=gen) * 5
    tampered['grid_coord'][masked] += 2000  # far away, still unique
    tampered['feat'][masked] = torch.randn(
        int(masked.sum()), 4, generator=gen) * 10

    observable = build().eval()
    torch.testing.assert_close(
        per_visible_point_features(observable, tampered),
        per_visible_point_features(observable, batch),
        rtol=0,
        atol=0)

    # The naive mask-token student leaks the masked points' positions: the
    # same test fails for it, so the test can fail.
    naive = build(masking='naive').eval()
    assert naive.backbone.mask_token is not None
    before = per_visible_point_features(naive, batch)
    after = per_visible_point_features(naive, tampered)
    assert (before - after).abs().max() > 1e-4
    # Features alone do not leak (they are replaced by the mask token).
    features_only = copy.deepcopy(batch)
    features_only['feat'][masked] = tampered['feat'][masked]
    torch.testing.assert_close(
        per_visible_point_features(naive, features_only), before)


@pytest.mark.parametrize('target', ['softmap', 'clustering', 'regression'])
@pytest.mark.parametrize('masking', ['observable', 'naive', 'token_jitter'])
@pytest.mark.parametrize('teacher_spread', [None, 2.0])
def test_every_variant_gives_a_finite_differentiable_loss(
        target, masking, teacher_spread):
    model = build(
        target=target,
        masking=masking,
        teacher_spread=teacher_spread,
        sinkhorn=dict(alpha=0.0 if target == 'clustering' else 1.3))
    model.train()
    losses = model(make_batch(), mode='loss')
    assert list(losses) == [f'loss_{target}']
    loss = losses[f'loss_{target}']
    assert torch.isfinite(loss) and loss.item() >= 0
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(p.grad is None for p in model.teacher.parameters())
    stats = model.last_diagnostics
    assert stats['teacher_cos'].shape == stats['student_cos'].shape
    assert stats['segment'].shape[0] == stats['teacher_embed'].shape[0]
    assert ('log_target' in stats) == (target != 'regression')


def test_init_weights_starts_the_teacher_as_a_copy_of_the_student():
    model = build()
    model.init_weights()
    student = model._student().state_dict()
    teacher = model.teacher.module.state_dict()
    assert student.keys() == teacher.keys()
    for key, value in student.items():
        torch.testing.assert_close(teacher[key], value, rtol=0, atol=0)


def test_teacher_spread_fixes_the_target_sharpness_whatever_the_cosines():
    """A per-prototype temperature: scaling the cosines' deviations from
    their mean (a more or less collapsed teacher) leaves the logits fed to
    Zipf-Sinkhorn unchanged, and each column has the configured std."""
    model = build(teacher_spread=2.0)
    gen = torch.Generator().manual_seed(0)
    segment = torch.tensor([0] * 40 + [1] * 30)
    cos = torch.rand(70, 32, generator=gen) * 0.2 + 0.5
    logits = model._teacher_logits(cos, segment, 2)
    collapsed = model._teacher_logits(0.5 + 0.1 * (cos - 0.5), segment, 2)
    torch.testing.assert_close(collapsed, logits, rtol=1e-3, atol=1e-3)
    for rows in (segment == 0, segment == 1):
        std = logits[rows].std(dim=0, unbiased=False)
        torch.testing.assert_close(
            std, torch.full_like(std, 2.0), rtol=1e-4, atol=0)
        assert logits[rows].mean(dim=0).abs().max() < 1e-5
    plain = build()._teacher_logits(cos, segment, 2)
    torch.testing.assert_close(plain, cos / 0.04)


def test_loss_is_fp32_and_finite_under_bf16_autocast():
    model = build()
    model.train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(make_batch(), mode='loss')['loss_softmap']
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)


def test_token_jitter_moves_masked_points_only_and_keeps_voxels_unique():
    model = build(masking='token_jitter', mask_jitter=dict(std=0.05, clip=0.1))
    batch = make_batch()
    segment = torch.repeat_interleave(
        torch.arange(4),
        torch.diff(batch['offset'], prepend=torch.zeros(1, dtype=torch.long)))
    torch.manual_seed(1)
    _, points = model._student_input(batch, segment, 4)
    moved = (points['grid_coord'] != batch['grid_coord']).any(1)
    assert int(moved.sum()) > 0
    assert not bool((moved & batch['visible']).any())
    keys = torch.cat([segment[:, None], points['grid_coord']], 1)
    assert torch.unique(keys, dim=0).shape[0] == keys.shape[0]
    assert (points['coord'] - batch['coord']).abs().max() <= 0.1 + 1e-6


def test_cross_view_switch_and_loss_composition():
    batch = make_batch()
    with_cross = build()
    torch.manual_seed(3)
    full = with_cross(batch, mode='loss')['loss_softmap']
    same_only = build(cross_view=False)
    torch.manual_seed(3)
    same = same_only(batch, mode='loss')['loss_softmap']
    assert torch.isfinite(full) and torch.isfinite(same)
    assert full.item() != pytest.approx(same.item())


def test_a_few_training_iterations_reduce_the_loss():
    torch.manual_seed(0)
    model = build()
    model.train()
    model.teacher_temp = 0.07
    model.teacher.set_progress(0.0)
    batch = make_batch(num_scenes=1, seed=3)
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(8):
        torch.manual_seed(0)  # fixed serialization-order shuffle
        loss = model(batch, mode='loss')['loss_softmap']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses


def test_teacher_is_updated_in_loss_only_and_stays_in_eval_mode():
    model = build()
    model.train()
    assert model.backbone.training and not model.teacher.module.training
    batch = make_batch(num_scenes=1)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.01)
    before = [p.clone() for p in model.teacher.module.parameters()]
    model(batch, mode='tensor')
    model(batch, mode='predict')
    assert all(
        torch.equal(a, b)
        for a, b in zip(before, model.teacher.module.parameters()))
    model(batch, mode='loss')  # first update copies the student
    for (name,
         p_t), p_s in zip(model.teacher.module.backbone.named_parameters(),
                          model.backbone.parameters()):
        assert torch.equal(p_t, p_s), name
    assert int(model.teacher.steps) == 1


def test_predict_returns_teacher_features_per_view():
    model = build().eval()
    batch = make_batch()
    views = model(batch, mode='predict')
    assert len(views) == 4
    for view in views:
        assert view['feat'].shape[1] == model.backbone.out_channels
        assert view['grid_coord'].shape == view['coord'].shape


@pytest.mark.parametrize('kwargs, match', [
    (dict(target='contrastive'),
     r"target must be one of \('softmap', 'clustering', 'regression'\)"),
    (dict(masking='random'),
     r"masking must be one of \('observable', 'naive', 'token_jitter'\)"),
    (dict(sinkhorn=dict(alpha=-1.0)), 'alpha'),
    (dict(student_temp=0.0), 'student_temp'),
    (dict(mask_jitter=dict(sigma=0.1)), 'mask_jitter'),
    (dict(teacher_spread=0.0), 'teacher_spread'),
])
def test_invalid_config_is_rejected_at_build_time(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(tiny_dos_cfg(**kwargs))


def test_invalid_head_and_backbone_settings_are_rejected():
    cfg = tiny_dos_cfg()
    cfg['head']['num_prototypes'] = 0
    with pytest.raises(ValueError, match='num_prototypes'):
        MODELS.build(cfg)
    cfg = tiny_dos_cfg()
    cfg['backbone']['mask_token'] = True
    with pytest.raises(ValueError, match='mask_token'):
        MODELS.build(cfg)


def test_bad_batches_are_rejected_with_the_field_name():
    model = build()
    batch = make_batch(num_scenes=1)
    with pytest.raises(ValueError, match='visible'):
        model(dict(batch, visible=batch['visible'][:-1]), mode='loss')
    no_visible = dict(batch, visible=batch['visible'].clone())
    no_visible['visible'][:int(batch['offset'][0])] = False
    with pytest.raises(ValueError, match=r'segments \[0\] have no visible'):
        model(no_visible, mode='loss')
    duplicated = dict(batch, point_id=batch['point_id'].clone())
    duplicated['point_id'][1] = duplicated['point_id'][0]
    with pytest.raises(ValueError, match='point_id must be unique'):
        model(duplicated, mode='loss')
    with pytest.raises(ValueError, match='lacks'):
        model({k: v for k, v in batch.items() if k != 'point_id'}, mode='loss')
