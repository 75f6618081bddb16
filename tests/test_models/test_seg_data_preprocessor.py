# Copyright (c) OpenMMLab. All rights reserved.
"""PTv3SegDataPreprocessor: CPU voxelisation with a point -> voxel map."""
from typing import List

import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample, PointData

from projects.DOS.dos.models.data_preprocessors import PTv3SegDataPreprocessor

VOXEL = 0.1


def make_batch(seed: int, sizes=(300, 200)) -> dict:
    """Clouds (x, y, z, intensity) with labels; many points share voxels."""
    gen = torch.Generator().manual_seed(seed)
    points: List[torch.Tensor] = []
    samples = []
    for size in sizes:
        xyz = torch.rand(size, 3, generator=gen) * torch.tensor([1., 1., .3])
        intensity = torch.rand(size, 1, generator=gen) * 255
        points.append(torch.cat([xyz, intensity], dim=1))
        sample = Det3DDataSample()
        sample.gt_pts_seg = PointData(
            pts_semantic_mask=torch.randint(0, 5, (size, ), generator=gen))
        samples.append(sample)
    return dict(inputs=dict(points=points), data_samples=samples)


@pytest.mark.parametrize('training', [False, True])
def test_every_point_maps_to_its_voxel(training: bool) -> None:
    np.random.seed(0)
    batch = make_batch(seed=0)
    clouds = [p.clone() for p in batch['inputs']['points']]
    masks = [
        s.gt_pts_seg.pts_semantic_mask.clone() for s in batch['data_samples']
    ]
    out = PTv3SegDataPreprocessor(
        voxel_size=VOXEL, attribute_scale=1 / 255.)(batch, training)
    inputs = out['inputs']
    offset = inputs['offset']
    assert offset.dtype == torch.int64 and int(offset[-1]) == \
        inputs['coord'].shape[0]
    starts = [0] + offset[:-1].tolist()
    for b, (cloud, mask,
            sample) in enumerate(zip(clouds, masks, out['data_samples'])):
        rows = sample.point2voxel_map
        assert rows.shape == (cloud.shape[0], )
        assert int(rows.min()) >= starts[b] and int(rows.max()) < offset[b]
        # A point's voxel row holds a point of the same 0.1 m voxel.
        origin = cloud[:, :3].min(0).values
        cell = torch.floor((cloud[:, :3] - origin) / VOXEL).long()
        assert torch.equal(inputs['grid_coord'][rows], cell)
        # One row per occupied voxel, voxel labels from the kept points.
        segment = slice(starts[b], int(offset[b]))
        grid = inputs['grid_coord'][segment]
        assert torch.unique(grid, dim=0).shape[0] == grid.shape[0] == \
            torch.unique(cell, dim=0).shape[0]
        coord = inputs['coord'][segment]
        kept = [
            int(torch.nonzero((cloud[:, :3] == c).all(1))[0]) for c in coord
        ]
        assert torch.equal(sample.gt_pts_seg.voxel_semantic_mask, mask[kept])
        expected_feat = torch.cat([cloud[kept, :3], cloud[kept, 3:] / 255.],
                                  dim=1)
        assert torch.allclose(inputs['feat'][segment], expected_feat)


def test_test_mode_is_deterministic() -> None:
    preprocessor = PTv3SegDataPreprocessor(voxel_size=VOXEL)
    first = preprocessor(make_batch(seed=1), False)['inputs']['coord']
    second = preprocessor(make_batch(seed=1), False)['inputs']['coord']
    assert torch.equal(first, second)


def test_mask_length_mismatch_is_rejected() -> None:
    batch = make_batch(seed=2)
    batch['data_samples'][1].gt_pts_seg.pts_semantic_mask = torch.zeros(
        7, dtype=torch.long)
    with pytest.raises(ValueError, match='semantic mask of 7'):
        PTv3SegDataPreprocessor(voxel_size=VOXEL)(batch, True)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match='voxel_size'):
        PTv3SegDataPreprocessor(voxel_size=0)
    batch = make_batch(seed=3)
    batch['inputs']['points'][0] = torch.zeros(0, 4)
    with pytest.raises(ValueError, match='point cloud 0'):
        PTv3SegDataPreprocessor(voxel_size=VOXEL)(batch, False)
