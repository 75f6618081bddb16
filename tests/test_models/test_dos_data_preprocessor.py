# Copyright (c) OpenMMLab. All rights reserved.
import pytest
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.dataset import pseudo_collate

from projects.DOS.dos.models.data_preprocessors import DOSDataPreprocessor


def _packed_scene(sizes, seed: int, path: str) -> dict:
    """A PackDOSInputs-like sample with distinct, recognisable values."""
    generator = torch.Generator().manual_seed(seed)
    total = sum(sizes)
    coord = torch.rand(total, 3, generator=generator) * 10.
    point_id = torch.cat(
        [torch.randperm(2 * n, generator=generator)[:n] for n in sizes])
    sample = Det3DDataSample()
    sample.set_metainfo(dict(lidar_path=path))
    return dict(
        inputs=dict(
            coord=coord,
            grid_coord=torch.floor(coord / 0.05).long(),
            feat=torch.cat([coord, torch.full((total, 1), float(seed))], 1),
            point_id=point_id,
            view_size=torch.tensor(sizes),
            mask_seed=torch.tensor([10 * seed, 10 * seed + 1])),
        data_samples=sample)


def _batch():
    scenes = [
        _packed_scene([300, 200], 1, 'a.bin'),
        _packed_scene([150, 250], 2, 'b.bin')
    ]
    return scenes, pseudo_collate(scenes)


def test_offsets_and_scene_view_order():
    scenes, data = _batch()
    preprocessor = MODELS.build(
        dict(type='DOSDataPreprocessor', mask_ratio=0.7, mask_block_size=1.))
    out = preprocessor(data, training=True)
    batch = out['inputs']
    assert torch.equal(batch['offset'], torch.tensor([300, 500, 650, 900]))
    assert set(batch) == {
        'coord', 'grid_coord', 'feat', 'offset', 'point_id', 'visible'
    }
    # segment order [s0v0, s0v1, s1v0, s1v1]: rows come scene after scene
    assert torch.equal(batch['coord'][:500], scenes[0]['inputs']['coord'])
    assert torch.equal(batch['coord'][500:], scenes[1]['inputs']['coord'])
    assert torch.equal(batch['point_id'][500:650],
                       scenes[1]['inputs']['point_id'][:150])
    assert torch.all(batch['feat'][500:, 3] == 2.)
    assert batch['grid_coord'].dtype == torch.int64
    assert batch['visible'].dtype == torch.bool
    assert len(out['data_samples']) == 2


def test_visible_flags_per_segment():
    _, data = _batch()
    preprocessor = DOSDataPreprocessor(mask_ratio=0.7, mask_block_size=1.)
    batch = preprocessor(data)['inputs']
    bounds = [0] + batch['offset'].tolist()
    for start, end in zip(bounds[:-1], bounds[1:]):
        seg_visible = batch['visible'][start:end]
        assert 0 < int(seg_visible.sum()) < end - start
    # each segment's mask is its own: it equals masking that view alone
    alone = preprocessor.block_masking(
        batch['coord'][500:650], torch.tensor([150]), seeds=torch.tensor([20]))
    assert torch.equal(batch['visible'][500:650], alone)
    # and repeated preprocessing is deterministic
    assert torch.equal(batch['visible'],
                       preprocessor(data)['inputs']['visible'])


def test_mask_settings_are_schedulable_attributes():
    _, data = _batch()
    preprocessor = DOSDataPreprocessor(mask_ratio=0.3, mask_block_size=1.)
    low = preprocessor(data)['inputs']['visible'].float().mean()
    preprocessor.mask_ratio = 0.9
    preprocessor.mask_block_size = 0.5
    assert preprocessor.block_masking.mask_ratio == 0.9
    assert preprocessor.block_masking.block_size == 0.5
    high = preprocessor(data)['inputs']['visible'].float().mean()
    assert high < low
    with pytest.raises(ValueError, match='mask_ratio'):
        preprocessor.mask_ratio = 1.0


def test_degenerate_view_error_names_the_file():
    scene = _packed_scene([100, 100], 3, 'tiny_frame.bin')
    scene['inputs']['coord'][100:] *= 0.01  # view 1 inside one 1 m block
    preprocessor = DOSDataPreprocessor(mask_block_size=1.)
    with pytest.raises(ValueError, match=r'tiny_frame\.bin \(view 1\)'):
        preprocessor(pseudo_collate([scene]))


def test_inconsistent_packing_rejected():
    scene = _packed_scene([100, 100], 4, 'x.bin')
    scene['inputs']['view_size'] = torch.tensor([100, 99])
    with pytest.raises(ValueError, match='view sizes'):
        DOSDataPreprocessor()(pseudo_collate([scene]))
    del scene['inputs']['mask_seed']
    with pytest.raises(KeyError, match='mask_seed'):
        DOSDataPreprocessor()(pseudo_collate([scene]))
