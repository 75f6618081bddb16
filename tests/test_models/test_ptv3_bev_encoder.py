# Copyright (c) OpenMMLab. All rights reserved.
"""PTv3BEVEncoder: BEV pooling, coordinate orders, shapes and bad input."""
import re

import pytest
import torch

from projects.DOS.dos.models.backbones.ptv3 import PTV3_SMALL
from projects.DOS.dos.models.middle_encoders import PTv3BEVEncoder

# 6.4 m x 6.4 m x 1.6 m at 0.1 m: grid (x, y, z) = (64, 64, 16); BEV cells of
# 8 voxels -> an 8 x 8 map. The small preset's up-cast level has stride 4.
RANGE = [-3.2, -3.2, -1.0, 3.2, 3.2, 0.6]
VOXEL = [0.1, 0.1, 0.1]
GRID = [64, 64, 16]


def build_encoder(**kwargs) -> PTv3BEVEncoder:
    """A small encoder (seeded); keyword arguments override the defaults."""
    torch.manual_seed(0)
    cfg = dict(
        backbone=dict(
            type='PTv3',
            in_channels=4,
            drop_path=0.0,
            enable_flash=False,
            **PTV3_SMALL),
        point_cloud_range=RANGE,
        voxel_size=VOXEL,
        grid_size=GRID,
        out_size_factor=8)
    cfg.update(kwargs)
    return PTv3BEVEncoder(**cfg)


def random_voxels(num_voxels: int, batch_size: int, seed: int = 0):
    """Unique random voxels, rows of the samples interleaved (unsorted)."""
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randperm(
        batch_size * 16 * 64 * 64, generator=gen)[:num_voxels]
    coors = torch.stack([
        keys // (16 * 64 * 64), keys //
        (64 * 64) % 16, keys // 64 % 64, keys % 64
    ], 1).int()  # (b, z, y, x)
    feats = torch.rand(num_voxels, 4, generator=gen)
    return feats, coors


def test_scatter_to_bev_pools_every_voxel_of_a_cell():
    encoder = build_encoder(reduce='amax')
    assert encoder.cell_in_output_voxels == 2  # 8 input voxels / stride 4
    # output-level (x, y, z) voxels: three share sample 0's cell (h=1, w=3)
    # (neighbours in x and y, stacked in z), one sits in sample 1's cell
    # (h=3, w=0); x picks the column (W), y the row (H).
    grid_coord = torch.tensor([[6, 2, 0], [7, 3, 0], [6, 2, 3], [1, 7, 2]])
    batch = torch.tensor([0, 0, 0, 1])
    feat = torch.tensor([[1., -5.], [3., -2.], [2., -4.], [7., 9.]])

    bev = encoder.scatter_to_bev(feat, grid_coord, batch, batch_size=2)
    assert bev.shape == (2, 2, 8, 8)
    assert torch.equal(bev[0, :, 1, 3], torch.tensor([3., -2.]))
    assert torch.equal(bev[1, :, 3, 0], torch.tensor([7., 9.]))
    occupied = bev.abs().sum(1) > 0
    assert occupied.sum() == 2 and occupied[0, 1, 3] and occupied[1, 3, 0]

    encoder.reduce = 'mean'
    bev = encoder.scatter_to_bev(feat, grid_coord, batch, batch_size=2)
    assert torch.allclose(bev[0, :, 1, 3], torch.tensor([2., -11. / 3.]))


@pytest.mark.parametrize('reduce', ['amax', 'mean'])
def test_forward_equals_pooled_backbone_output(reduce):
    encoder = build_encoder(reduce=reduce).eval()
    feats, coors = random_voxels(600, batch_size=2)
    with torch.no_grad():
        bev = encoder(feats, coors, batch_size=2)
    assert bev.shape == (2, encoder.out_channels, 8, 8)
    assert encoder.out_channels == sum(PTV3_SMALL['enc_channels'][2:])

    # BEV cells holding an input voxel are exactly the non-empty ones
    cells = torch.zeros(2, 8, 8, dtype=torch.bool)
    cells[coors[:, 0].long(), coors[:, 2].long() // 8,
          coors[:, 3].long() // 8] = True
    assert torch.equal(bev.abs().sum(1) > 0, cells)

    # reference: the backbone on the same voxels sorted by sample, then a
    # per-cell loop over its output voxels
    order = torch.argsort(coors[:, 0].long(), stable=True)
    sorted_coors = coors[order].long()
    grid_coord = sorted_coors[:, [3, 2, 1]]
    with torch.no_grad():
        out = encoder.backbone(
            dict(
                coord=(grid_coord + 0.5) * 0.1 + torch.tensor(RANGE[:3]),
                grid_coord=grid_coord,
                feat=feats[order],
                offset=torch.cumsum(torch.bincount(sorted_coors[:, 0]), 0)))
    expected = torch.zeros_like(bev)
    members = {}
    for row, (x, y, _) in enumerate(out['grid_coord'].tolist()):
        key = (int(out['batch'][row]), y * 4 // 8, x * 4 // 8)
        members.setdefault(key, []).append(row)
    for (b, h, w), rows in members.items():
        pooled = out['feat'][rows]
        expected[b, :, h, w] = (
            pooled.amax(0) if reduce == 'amax' else pooled.mean(0))
    assert torch.allclose(bev, expected, atol=1e-5)


def test_sample_without_voxels_gets_an_empty_map():
    encoder = build_encoder().eval()
    feats, coors = random_voxels(100, batch_size=1)
    coors[:, 0] = 1  # samples 0 and 2 of 3 hold no voxel
    with torch.no_grad():
        bev = encoder(feats, coors, batch_size=3)
    assert bev.shape[0] == 3
    assert not bev[0].any() and not bev[2].any() and bev[1].any()


def test_forward_scales_features_and_backpropagates():
    encoder = build_encoder(feat_scale=(1., 1., 1., 1 / 255.))
    feats, coors = random_voxels(300, batch_size=2, seed=1)
    feats[:, 3] *= 255.
    bev = encoder(feats, coors, batch_size=2)
    bev.sum().backward()
    assert encoder.backbone.embedding[0].weight.grad.abs().sum() > 0
    unscaled = build_encoder().eval()
    scaled = build_encoder(feat_scale=(1., 1., 1., 1 / 255.)).eval()
    with torch.no_grad():
        assert torch.allclose(
            scaled(feats, coors, 2),
            unscaled(feats * torch.tensor([1, 1, 1, 1 / 255.]), coors, 2),
            atol=1e-5)


@pytest.mark.parametrize(
    'kwargs, message',
    [(dict(grid_size=[64, 64, 8]), 'does not match point_cloud_range'),
     (dict(out_size_factor=6), 'must divide grid_size'),
     (dict(out_size_factor=2), 'multiple of the backbone output stride'),
     (dict(reduce='sum'), 'reduce must be one of'),
     (dict(voxel_size=[0.1, 0.1]), 'voxel_size (3,)')])
def test_rejects_inconsistent_grids(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_encoder(**kwargs)


def test_rejects_decoder_backbone():
    backbone = dict(type='PTv3', decoder=True, **PTV3_SMALL)
    with pytest.raises(ValueError, match='encoder only'):
        build_encoder(backbone=backbone)


def test_rejects_bad_voxels():
    encoder = build_encoder()
    feats, coors = random_voxels(50, batch_size=2)
    xyz_order = coors.clone()
    xyz_order[:, 1:] = coors[:, [3, 2, 1]]  # (b, x, y, z): x exceeds nz
    xyz_order[0, 1] = 40
    with pytest.raises(ValueError, match=r'\(b, z, y, x\)'):
        encoder(feats, xyz_order, batch_size=2)
    with pytest.raises(ValueError, match='batch_size=1'):
        encoder(feats, coors, batch_size=1)
    with pytest.raises(TypeError, match='integer'):
        encoder(feats, coors.float(), batch_size=2)
    with pytest.raises(ValueError, match=r'coors \(M, 4\)'):
        encoder(feats, coors[:, :3], batch_size=2)
    with pytest.raises(ValueError, match='feat_scale'):
        build_encoder(feat_scale=(1., 1.))(feats, coors, 2)
