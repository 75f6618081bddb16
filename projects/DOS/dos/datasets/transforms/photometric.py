# Copyright (c) OpenMMLab. All rights reserved.
"""Photometric augmentation of point attributes (LiDAR intensity, RGB)."""
from typing import Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomIntensityJitter(BaseTransform):
    """Random gain and noise on a LiDAR intensity column.

    The LiDAR analogue of colour jitter (mmdet3d has none): with probability
    ``prob`` the intensity is multiplied by a gain drawn from ``gain_range``
    (sensor/calibration differences) and receives i.i.d. Gaussian noise of
    standard deviation ``noise_std * max_value``, then clipped to
    ``[0, max_value]``. Used once per DOS view, so the two views of a scene
    see different photometrics.

    Required Keys:

    - points (:obj:`BasePoints`)

    Modified Keys:

    - points (:obj:`BasePoints`): the intensity column.

    Args:
        intensity_dim (int): Column of the intensity in ``points``.
            Defaults to 3.
        max_value (float): Largest valid intensity (255 for nuScenes, 1 for
            SemanticKITTI reflectance). Defaults to 255.
        gain_range (tuple[float, float]): Range of the multiplicative gain.
            Defaults to (0.9, 1.1).
        noise_std (float): Noise standard deviation as a fraction of
            ``max_value``. Defaults to 0.01.
        prob (float): Probability of applying the jitter. Defaults to 0.8.
    """

    def __init__(self,
                 intensity_dim: int = 3,
                 max_value: float = 255.,
                 gain_range: Tuple[float, float] = (0.9, 1.1),
                 noise_std: float = 0.01,
                 prob: float = 0.8) -> None:
        if not max_value > 0:
            raise ValueError('RandomIntensityJitter: max_value must be > 0, '
                             f'got {max_value}')
        if not 0 < gain_range[0] <= gain_range[1]:
            raise ValueError('RandomIntensityJitter: gain_range must satisfy '
                             f'0 < low <= high, got {gain_range}')
        if noise_std < 0 or not 0 <= prob <= 1:
            raise ValueError('RandomIntensityJitter: need noise_std >= 0 and '
                             f'0 <= prob <= 1, got noise_std={noise_std}, '
                             f'prob={prob}')
        self.intensity_dim = intensity_dim
        self.max_value = max_value
        self.gain_range = tuple(gain_range)
        self.noise_std = noise_std
        self.prob = prob

    def transform(self, results: dict) -> dict:
        """Jitter the intensity column of ``results['points']`` in place.

        Args:
            results (dict): Result dict with ``points``.

        Returns:
            dict: The same dict.
        """
        if np.random.rand() >= self.prob:
            return results
        points = results['points']
        intensity = points.tensor[:, self.intensity_dim]
        gain = np.random.uniform(*self.gain_range)
        noise = np.random.normal(
            0., self.noise_std * self.max_value, size=intensity.shape[0])
        jittered = intensity * gain + torch.from_numpy(noise).to(intensity)
        points.tensor[:,
                      self.intensity_dim] = jittered.clamp(0., self.max_value)
        return results

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{self.__class__.__name__}(intensity_dim='
                f'{self.intensity_dim}, max_value={self.max_value}, '
                f'gain_range={self.gain_range}, noise_std={self.noise_std}, '
                f'prob={self.prob})')


@TRANSFORMS.register_module()
class RandomColorJitter(BaseTransform):
    """Brightness, contrast, saturation and chromatic-translation jitter.

    Indoor photometric augmentation on the ``color`` attribute of
    mmdet3d points (RGB in [0, 255], as loaded with ``use_color=True``),
    following the Sonata recipe without the hue term (the hue shift needs an
    RGB/HSV round trip whose effect on ScanNet colour is marginal). With
    probability ``prob``, factors are drawn uniformly from ``1 +- strength``
    and applied in random order; with probability ``translate_prob`` every
    point is shifted by one random RGB offset of at most
    ``translate_ratio * 255`` per channel. The result is clipped to
    [0, 255].

    Required Keys:

    - points (:obj:`BasePoints`): with a ``color`` attribute.

    Modified Keys:

    - points (:obj:`BasePoints`): the colour columns.

    Args:
        brightness (float): Brightness strength. Defaults to 0.4.
        contrast (float): Contrast strength. Defaults to 0.4.
        saturation (float): Saturation strength. Defaults to 0.2.
        prob (float): Probability of the brightness/contrast/saturation
            jitter. Defaults to 0.8.
        translate_ratio (float): Largest chromatic translation as a fraction
            of 255. Defaults to 0.05.
        translate_prob (float): Probability of the chromatic translation.
            Defaults to 0.95.
    """

    def __init__(self,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.2,
                 prob: float = 0.8,
                 translate_ratio: float = 0.05,
                 translate_prob: float = 0.95) -> None:
        for name, value in (('brightness', brightness), ('contrast', contrast),
                            ('saturation', saturation), ('translate_ratio',
                                                         translate_ratio)):
            if not 0 <= value < 1:
                raise ValueError(f'RandomColorJitter: {name} must be in '
                                 f'[0, 1), got {value}')
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.prob = prob
        self.translate_ratio = translate_ratio
        self.translate_prob = translate_prob

    @staticmethod
    def _gray(color: torch.Tensor) -> torch.Tensor:
        """ITU-R 601 luma of (N, 3) RGB colours, shape (N, 1)."""
        weights = color.new_tensor([0.299, 0.587, 0.114])
        return (color * weights).sum(dim=1, keepdim=True)

    def transform(self, results: dict) -> dict:
        """Jitter ``results['points'].color`` in place.

        Args:
            results (dict): Result dict with ``points`` carrying colour.

        Returns:
            dict: The same dict.
        """
        points = results['points']
        if points.attribute_dims is None or \
                'color' not in points.attribute_dims:
            raise ValueError('RandomColorJitter needs points with a color '
                             'attribute (load them with use_color=True)')
        color = points.color.clone()
        if np.random.rand() < self.prob:
            for op in np.random.permutation(3):
                if op == 0:
                    factor = 1 + np.random.uniform(-self.brightness,
                                                   self.brightness)
                    color = color * factor
                elif op == 1:
                    factor = 1 + np.random.uniform(-self.contrast,
                                                   self.contrast)
                    mean = self._gray(color).mean()
                    color = (color - mean) * factor + mean
                else:
                    factor = 1 + np.random.uniform(-self.saturation,
                                                   self.saturation)
                    gray = self._gray(color)
                    color = (color - gray) * factor + gray
                color = color.clamp(0., 255.)
        if np.random.rand() < self.translate_prob:
            shift = np.random.uniform(
                -1, 1, size=3) * (
                    self.translate_ratio * 255.)
            color = (color + color.new_tensor(shift)).clamp(0., 255.)
        points.color = color
        return results

    def __repr__(self) -> str:
        """str: Return a string that describes the module."""
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'prob={self.prob}, translate_ratio={self.translate_ratio}, '
                f'translate_prob={self.translate_prob})')
