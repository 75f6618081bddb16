# Copyright (c) OpenMMLab. All rights reserved.
"""tools/convert_dos_ckpt.py and loading its output into CenterPoint.

The DOS model and the detector are built from the real demo configs
(``dos_pretrain_synthetic.py`` and the DOS-initialised synthetic CenterPoint
config), so the test also proves that the two configs' PTv3s agree key by
key.
"""
import importlib
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import projects.DOS.dos  # noqa: F401  (registers DOS, PTv3BEVEncoder)

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / 'tools') not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / 'tools'))
convert_dos_ckpt = importlib.import_module('convert_dos_ckpt')

CONFIGS = REPO_ROOT / 'projects' / 'DOS' / 'configs'
PRETRAIN_CFG = CONFIGS / 'dos_pretrain_synthetic.py'
DETECTOR_CFG = (
    CONFIGS / 'centerpoint_dos-ptv3-small_secfpn_1xb2-cyclic-20e_'
    'synthetic-nus-3d-20pct.py')


@pytest.fixture(scope='module')
def dos_checkpoint(tmp_path_factory):
    """A DOS pretraining checkpoint as mmengine's CheckpointHook writes it.

    The student is perturbed after the teacher was copied from it, so the
    two backbones differ. Returns (path, student sd, teacher sd).
    """
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(str(PRETRAIN_CFG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for param in model.backbone.parameters():
            param.add_(torch.randn_like(param) * 0.01)
    path = tmp_path_factory.mktemp('dos') / 'iter_200.pth'
    torch.save(
        dict(
            meta=dict(cfg=cfg.pretty_text, iter=200, epoch=0),
            state_dict=model.state_dict()), path)
    student = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    teacher = {
        k: v.clone()
        for k, v in model.teacher.module.backbone.state_dict().items()
    }
    return str(path), student, teacher


def build_detector(backbone_file: str):
    """The DOS-initialised synthetic CenterPoint loading ``backbone_file``."""
    from mmdet3d.registry import MODELS
    from mmdet3d.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(DETECTOR_CFG))
    cfg.model.pts_middle_encoder.backbone.init_cfg.checkpoint = backbone_file
    torch.manual_seed(1)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('which', ['student', 'teacher'])
def test_converted_backbone_loads_every_key_into_centerpoint(
        dos_checkpoint, tmp_path, which):
    src, student, teacher = dos_checkpoint
    dst = str(tmp_path / f'{which}.pth')
    convert_dos_ckpt.main(['--src', src, '--which', which, '--dst', dst])

    converted = torch.load(dst, weights_only=False)
    expected = student if which == 'student' else teacher
    assert set(converted['state_dict']) == set(expected)
    assert all(
        torch.equal(converted['state_dict'][k], v)
        for k, v in expected.items())
    assert converted['meta']['grid_size'] == 0.05
    assert converted['meta']['which'] == which
    assert converted['meta']['backbone']['type'] == 'PTv3'
    assert converted['meta']['source_iter'] == 200

    detector = build_detector(dst)
    backbone = detector.pts_middle_encoder.backbone
    assert not all(
        torch.equal(v, expected[k]) for k, v in backbone.state_dict().items())
    detector.init_weights()  # runs the strict verification as well
    loaded = backbone.state_dict()
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[k], v) for k, v in expected.items())
    assert not torch.equal(student['embedding.0.weight'],
                           teacher['embedding.0.weight'])


def test_missing_backbone_key_fails_initialisation(dos_checkpoint, tmp_path):
    src, _, _ = dos_checkpoint
    dst = str(tmp_path / 'backbone.pth')
    convert_dos_ckpt.convert(src, 'student', dst)
    truncated = torch.load(dst, weights_only=False)
    del truncated['state_dict']['enc.0.blocks.0.attn.qkv.weight']
    torch.save(truncated, dst)

    detector = build_detector(dst)
    with pytest.raises(KeyError, match=r'enc\.0\.blocks\.0\.attn\.qkv'):
        detector.init_weights()


def test_detector_rejects_checkpoint_of_another_grid(dos_checkpoint, tmp_path):
    src, _, _ = dos_checkpoint
    checkpoint = torch.load(src, weights_only=False)
    del checkpoint['meta']['cfg']
    no_cfg = str(tmp_path / 'no_cfg.pth')
    torch.save(checkpoint, no_cfg)
    dst = str(tmp_path / 'backbone_01.pth')
    meta = convert_dos_ckpt.convert(no_cfg, 'teacher', dst, grid_size=0.1)
    assert meta['grid_size'] == 0.1 and meta['backbone'] is None

    with pytest.raises(ValueError, match='pretraining grid 0.1'):
        build_detector(dst)


def test_convert_rejects_bad_input(dos_checkpoint, tmp_path):
    src, _, _ = dos_checkpoint
    dst = str(tmp_path / 'out.pth')
    with pytest.raises(SystemExit):  # --which is required
        convert_dos_ckpt.parse_args(['--src', src, '--dst', dst])
    with pytest.raises(FileNotFoundError, match='--src'):
        convert_dos_ckpt.convert(str(tmp_path / 'none.pth'), 'student', dst)
    with pytest.raises(ValueError, match='which must be one of'):
        convert_dos_ckpt.convert(src, 'ema', dst)
    with pytest.raises(ValueError, match='contradicts'):
        convert_dos_ckpt.convert(src, 'student', dst, grid_size=0.1)
    with pytest.raises(ValueError, match='--dst must differ'):
        convert_dos_ckpt.convert(src, 'student', src)

    detector_ckpt = str(tmp_path / 'detector.pth')
    torch.save(
        dict(state_dict={'pts_backbone.w': torch.zeros(1)}), detector_ckpt)
    with pytest.raises(KeyError, match="'backbone.'.*pts_backbone"):
        convert_dos_ckpt.convert(detector_ckpt, 'student', dst)
    raw = str(tmp_path / 'raw.pth')
    torch.save({'backbone.w': torch.zeros(1)}, raw)
    with pytest.raises(KeyError, match="no 'state_dict'"):
        convert_dos_ckpt.convert(raw, 'student', dst)

    convert_dos_ckpt.convert(src, 'student', dst)
    with pytest.raises(ValueError, match='already a converted'):
        convert_dos_ckpt.convert(dst, 'student', str(tmp_path / 'again.pth'))

    # a config whose PTv3 differs from the saved weights (base vs small)
    checkpoint = torch.load(src, weights_only=False)
    cfg = Config.fromstring(checkpoint['meta']['cfg'], '.py')
    cfg.model.backbone.enc_channels = (32, 64, 128, 256, 512)
    checkpoint['meta']['cfg'] = cfg.pretty_text
    mismatched = str(tmp_path / 'mismatched.pth')
    torch.save(checkpoint, mismatched)
    with pytest.raises(ValueError, match='shapes do not match'):
        convert_dos_ckpt.convert(mismatched, 'student', dst)
