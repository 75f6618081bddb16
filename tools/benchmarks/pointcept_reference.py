# Copyright (c) OpenMMLab. All rights reserved.
"""Pointcept's PT-v3m2 (the reference PTv3), imported at run time.

Nothing of Pointcept is copied into this project: :func:`load_reference`
imports ``point_transformer_v3m2_sonata`` from a Pointcept checkout the user
gives (commit ``d74c646``, the one the reference CPU figures in
``shared/reference/peer_ptv3_cpu.md`` were taken at), leaving its files
untouched. Its setup (``shared/peer/README.md``)::

    git -C <pointcept clone> archive d74c646 pointcept | tar -x -C <root>
    pip install addict
    pip install --no-build-isolation torch-scatter==2.1.2  # ~5 min build

To import that one file on a CPU-only machine without timm, pointops or
wandb, the loader registers, in ``sys.modules`` only:

* ``timm.layers.DropPath``: a per-row stochastic depth (timm's semantics:
  one keep mask per row of dim 0, survivors scaled by ``1 / keep``);
* empty package shells for ``pointcept.models``,
  ``pointcept.models.point_transformer_v3`` and ``pointcept.engines.hooks``
  whose ``__path__`` is the real folder, so their ``__init__`` files (which
  import every model and CUDA-only ops) are skipped while the modules the
  model needs load from the checkout; the hooks shell exposes the real
  ``HookBase``.

and patches two things of spconv 2.3.8's CPU path:

* ``spconv.pytorch.ops.get_current_stream`` returns 0: its CPU backward
  asks ``torch.cuda`` for a stream;
* in eval mode spconv hands a conv's bias to a fused CPU kernel that
  refuses it (``cpu don't support act and bias``); the patched
  ``SparseConvolution._conv_forward`` convolves without the bias and adds
  it afterwards, which is what spconv does in train mode.
"""
import os.path as osp
import sys
import types
from typing import Dict, Tuple

from torch import Tensor, nn

REFERENCE_COMMIT = 'd74c646'
MODEL_MODULE = ('pointcept.models.point_transformer_v3.'
                'point_transformer_v3m2_sonata')


class _RowDropPath(nn.Module):
    """Stand-in for ``timm.layers.DropPath`` (per-row stochastic depth)."""

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True):
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1))
        mask.bernoulli_(keep)
        return x * (mask / keep if self.scale_by_keep else mask)


def _package_shell(name: str, folder: str) -> types.ModuleType:
    """Register ``name`` as a package over ``folder`` without running its
    ``__init__.py``."""
    module = types.ModuleType(name)
    module.__path__ = [folder]
    sys.modules[name] = module
    parent, _, child = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _patch_spconv_cpu() -> None:
    """The two spconv 2.3.8 CPU patches of the module docstring."""
    import spconv.pytorch.ops as spconv_ops
    from spconv.pytorch.conv import SparseConvolution

    spconv_ops.get_current_stream = lambda: 0
    original = SparseConvolution._conv_forward
    if getattr(original, 'cpu_bias_after', False):
        return

    def conv_forward(self, training, sparse, weight, bias, *args, **kwargs):
        if bias is None or training or sparse.features.is_cuda:
            return original(self, training, sparse, weight, bias, *args,
                            **kwargs)
        out = original(self, training, sparse, weight, None, *args, **kwargs)
        return out.replace_feature(out.features + bias)

    conv_forward.cpu_bias_after = True
    SparseConvolution._conv_forward = conv_forward


def load_reference(root: str) -> types.ModuleType:
    """Import Pointcept's v3m2 module from a checkout.

    Args:
        root (str): folder holding the ``pointcept`` package.

    Returns:
        module: ``point_transformer_v3m2_sonata``.

    Raises:
        FileNotFoundError: ``root`` holds no Pointcept tree.
        ImportError: a dependency of the reference (``torch_scatter``,
            ``addict``, ``spconv``) is missing; the message says how to get
            it.
    """
    root = osp.abspath(root)
    package = osp.join(root, 'pointcept')
    model_folder = osp.join(package, 'models', 'point_transformer_v3')
    if not osp.isfile(
            osp.join(model_folder, 'point_transformer_v3m2_sonata.py')):
        raise FileNotFoundError(
            f'--reference-root {root!r} holds no Pointcept tree (expected '
            'pointcept/models/point_transformer_v3/'
            'point_transformer_v3m2_sonata.py; extract it with `git archive '
            f'{REFERENCE_COMMIT} pointcept | tar -x -C {root}`)')
    for name, hint in (('torch_scatter', 'pip install --no-build-isolation '
                        'torch-scatter==2.1.2'), ('addict', 'pip install '
                                                  'addict'),
                       ('spconv', 'pip install spconv==2.3.8')):
        try:
            __import__(name)
        except ImportError as error:
            raise ImportError(f'the reference PTv3 needs {name}: {hint}') \
                from error
    if 'timm.layers' not in sys.modules:
        timm = types.ModuleType('timm')
        timm.layers = types.ModuleType('timm.layers')
        timm.layers.DropPath = _RowDropPath
        sys.modules.update({'timm': timm, 'timm.layers': timm.layers})
    if root not in sys.path:
        sys.path.insert(0, root)
    import pointcept  # noqa: F401  (empty __init__)
    _package_shell('pointcept.models', osp.join(package, 'models'))
    _package_shell('pointcept.models.point_transformer_v3', model_folder)
    import pointcept.engines  # noqa: F401  (empty __init__)
    hooks = _package_shell('pointcept.engines.hooks',
                           osp.join(package, 'engines', 'hooks'))
    from pointcept.engines.hooks.default import HookBase
    hooks.HookBase = HookBase
    _patch_spconv_cpu()
    __import__(MODEL_MODULE)
    return sys.modules[MODEL_MODULE]


def reference_config(preset: Dict[str, object], order: Tuple[str, ...],
                     drop_path: float) -> Dict[str, object]:
    """Keyword arguments of the reference model for one of our presets.

    Same depths, channels, heads, patch sizes, curves, strides, MLP ratio,
    qkv bias and drop path; no flash-attn, no RPE, no up-cast attention
    or softmax, fixed curve order (``shuffle_orders=False``), and the
    encoder-only output (``enc_mode=True``).
    """
    num_stages = len(preset['enc_depths'])
    patch = preset['enc_patch_size']
    return dict(
        in_channels=4,
        order=tuple(order),
        stride=(2, ) * (num_stages - 1),
        enc_depths=tuple(preset['enc_depths']),
        enc_channels=tuple(preset['enc_channels']),
        enc_num_head=tuple(preset['enc_num_head']),
        enc_patch_size=((patch, ) * num_stages
                        if isinstance(patch, int) else tuple(patch)),
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        attn_drop=0.0,
        proj_drop=0.0,
        drop_path=drop_path,
        pre_norm=True,
        shuffle_orders=False,
        enable_rpe=False,
        enable_flash=False,
        upcast_attention=False,
        upcast_softmax=False,
        enc_mode=True)


def reference_forward(model: nn.Module, points: Dict[str, Tensor]) -> Tensor:
    """Run the reference on our input dict; returns its output features.

    The reference reads the same keys (``coord``, ``grid_coord``, ``feat``,
    ``offset``) and, in ``enc_mode``, returns the last stage's point
    structure.
    """
    return model(dict(points)).feat
