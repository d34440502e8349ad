"""Image augmentation layers: random transforms applied only while training (Keras 3 names).

``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation``, ``RandomCrop``,
``RandomContrast`` and ``RandomBrightness`` draw one transform per image (``RandomCrop``: one
crop per batch, as Keras) while training, and return their inputs unchanged otherwise. As in
Keras, ``training`` defaults to True when the layer is called directly (``layer(images)``, or in
a ``Dataset.map`` function: augmentation in the input pipeline), and a model passes its own
mode: ``fit`` augments, ``predict`` and ``evaluate`` do not. Called inside another layer's
``call`` without ``training``, a layer does not augment (axonal does not carry the outer mode
the way Keras does: pass ``training=training`` along). The draws come from the layer's own
``axonal.random.SeedGenerator``: from ``seed`` when given (the same sequence of transforms
every run), otherwise from axonal's generator, which ``axonal.utils.set_random_seed`` seeds.
Factors, fill modes, value ranges and configs follow Keras 3; the geometry (the affine map each
factor gives, and how points outside the image are filled) is Keras's exactly. The transforms
are not differentiable: augmentation sits in front of a model's trainable layers.
"""

from __future__ import annotations

import math

import numpy as np

from axonal import backend
from axonal import functional as F
from axonal.layers.base import CALLS
from axonal.layers.preprocessing import _image_ops
from axonal.layers.preprocessing.image import ImagePreprocessingLayer
from axonal.random import SeedGenerator
from axonal.registry import register
from axonal.tensor import Tensor

HORIZONTAL = "horizontal"
VERTICAL = "vertical"
HORIZONTAL_AND_VERTICAL = "horizontal_and_vertical"


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _symmetric_factor(factor, bounds: tuple, layer: str, what: str = "factor") -> tuple:
    """Keras's base ``factor``: a number f gives ``(max(-f, low), f)``; a pair is sorted."""
    message = (
        f"{layer} {what} must be a number or a pair of numbers in the range "
        f"[{bounds[0]}, {bounds[1]}], got {factor!r}."
    )
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(v) for v in factor):
            raise ValueError(message)
        if factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(message)
        lower, upper = sorted(factor)
        return lower, upper
    if _is_number(factor):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(message)
        factor = abs(factor)
        return max(-factor, bounds[0]), factor
    raise ValueError(message)


def _range_factor(factor, layer: str, what: str, open_low: bool) -> tuple:
    """Zoom and translation factors: a number f gives (-f, f); every value within (-1, 1]
    (zoom, ``open_low``) or [-1, 1] (translation)."""
    low_ok = (lambda v: v > -1.0) if open_low else (lambda v: v >= -1.0)
    interval = "(-1, 1]" if open_low else "[-1, 1]"
    message = f"{layer} {what} must be a number or a pair of numbers in {interval}, got {factor!r}."
    values = list(factor) if isinstance(factor, (tuple, list)) else [factor]
    if len(values) not in (1, 2) or (isinstance(factor, (tuple, list)) and len(values) != 2):
        raise ValueError(message)
    if not all(_is_number(v) and low_ok(v) and v <= 1.0 for v in values):
        raise ValueError(message)
    if len(values) == 2:
        lower, upper = sorted(values)
        return lower, upper
    return -abs(values[0]), abs(values[0])


def _check_choice(value, choices: tuple, layer: str, what: str) -> str:
    if value not in choices:
        raise ValueError(f"{layer} {what} must be one of {choices}, got {value!r}.")
    return value


class RandomImageLayer(ImagePreprocessingLayer):
    """The base of the augmentation layers: a seed, and the identity outside training."""

    # Keras's flip and affine layers return integer images as floats even outside training
    _float_at_inference = False

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self.generator = SeedGenerator(seed)

    def __call__(self, inputs, *args, training: bool | None = None, **kwargs):
        """Call the layer; ``training`` left out means True for a direct call (Keras's default
        for augmentation layers) and False inside another layer's call."""
        if training is None:
            training = CALLS.outermost is None
        return super().__call__(inputs, *args, training=training, **kwargs)

    def _rng(self) -> np.random.Generator:
        return self.generator.next()

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training:
            if self._float_at_inference and inputs.dtype.kind != "f":
                return F.cast(inputs, self.dtype)
            return inputs
        x, single = self._batched(inputs)
        data = x.data if x.dtype.kind == "f" else x.data.astype(self.dtype)
        out = self._augment(data)
        return self._restored(Tensor(out.astype(data.dtype, copy=False)), single)

    def _augment(self, images: np.ndarray) -> np.ndarray:
        """The transformed channels-last batch (float)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["seed"] = self.seed
        return config


@register("layer", "RandomFlip")
class RandomFlip(RandomImageLayer):
    """Flips each image left-right and/or upside down with probability 1/2 while training.

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"`` (default: one
            draw per image flips it both ways or not at all, as Keras).
        seed: the layer's seed; None draws from axonal's generator.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> RandomFlip("horizontal", seed=0)(np.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    _float_at_inference = True

    def __init__(
        self,
        mode: str = HORIZONTAL_AND_VERTICAL,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs,
    ):
        self.mode = _check_choice(
            mode, (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL), "RandomFlip", "mode"
        )
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def _augment(self, images: np.ndarray) -> np.ndarray:
        flips = self._rng().uniform(size=len(images)) <= 0.5
        out = images.copy()
        if self.mode in (HORIZONTAL, HORIZONTAL_AND_VERTICAL):
            out[flips] = out[flips][:, :, ::-1]
        if self.mode in (VERTICAL, HORIZONTAL_AND_VERTICAL):
            out[flips] = out[flips][:, ::-1]
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config["mode"] = self.mode
        return config


class _AffineLayer(RandomImageLayer):
    """Augmentations that resample each image through an affine map (Keras's 8-number form)."""

    _float_at_inference = True

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs,
    ):
        layer = type(self).__name__
        self.fill_mode = _check_choice(fill_mode, _image_ops.FILL_MODES, layer, "fill_mode")
        self.interpolation = _check_choice(
            interpolation, _image_ops.AFFINE_INTERPOLATIONS, layer, "interpolation"
        )
        self.fill_value = float(fill_value)
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def _augment(self, images: np.ndarray) -> np.ndarray:
        transforms = self._transforms(len(images), images.shape[1], images.shape[2])
        return _image_ops.affine_sample(
            images, transforms, self.interpolation, self.fill_mode, self.fill_value
        )

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        """One ``[a0, a1, a2, b0, b1, b2, c0, c1]`` row per image."""
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            fill_mode=self.fill_mode, fill_value=self.fill_value, interpolation=self.interpolation
        )
        return config


@register("layer", "RandomRotation")
class RandomRotation(_AffineLayer):
    """Rotates each image about its centre by a random angle while training.

    Args:
        factor: a fraction of a full turn: a number f rotates by an angle in
            ``[-f * 360, f * 360]`` degrees; a pair ``(low, high)`` by one in
            ``[low * 360, high * 360]`` (positive is counter-clockwise).
        fill_mode: how points outside the image are filled: ``"reflect"`` (default,
            ``d c b a | a b c d``), ``"wrap"``, ``"constant"`` (``fill_value``) or
            ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: the layer's seed.
        fill_value: the value for ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> RandomRotation(0.1, seed=0)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        factor,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs,
    ):
        self.factor = _symmetric_factor(factor, (-1, 1), "RandomRotation")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        degrees = self._rng().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, batch)
        # float32 angles, as Keras draws them
        angle = degrees.astype(np.float32).astype(np.float64) * (math.pi / 180.0)
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        zeros = np.zeros(batch)
        # rotation about (cx, cy), mapping output points to input points
        return np.stack(
            [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zeros, zeros],
            axis=1,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config["factor"] = list(self.factor)
        return config


@register("layer", "RandomZoom")
class RandomZoom(_AffineLayer):
    """Zooms each image in or out about its centre by a random amount while training.

    Args:
        height_factor: a number f zooms the height by a factor drawn from ``[1 - f, 1 + f]``;
            a pair ``(low, high)`` from ``[1 + low, 1 + high]``; each value in (-1, 1].
            Positive values zoom out (the image shrinks), negative values zoom in, as Keras.
        width_factor: the same for the width; None keeps the aspect ratio (the height's
            draw is used).
        fill_mode, interpolation, seed, fill_value, data_format: as ``RandomRotation``.

    Example:
        >>> RandomZoom(0.2, seed=0)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        height_factor,
        width_factor=None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs,
    ):
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _range_factor(
            height_factor, "RandomZoom", "height_factor", open_low=True
        )
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _range_factor(
                width_factor, "RandomZoom", "width_factor", open_low=True
            )
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        rng = self._rng()
        zoom_y = rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, batch)
        if self.width_factor is not None:
            zoom_x = rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, batch)
        else:
            zoom_x = zoom_y
        zoom_y = zoom_y.astype(np.float32).astype(np.float64)
        zoom_x = zoom_x.astype(np.float32).astype(np.float64)
        zeros = np.zeros(batch)
        # scale about the centre ((w - 1) / 2, (h - 1) / 2)
        offset_x = (width - 1) / 2.0 * (1.0 - zoom_x)
        offset_y = (height - 1) / 2.0 * (1.0 - zoom_y)
        return np.stack([zoom_x, zeros, offset_x, zeros, zoom_y, offset_y, zeros, zeros], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


@register("layer", "RandomTranslation")
class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its height and width while training.

    Args:
        height_factor: a number f shifts by up to ``f * height`` rows either way; a pair
            ``(low, high)`` by ``[low * height, high * height]`` (positive moves the image
            down); each value in [-1, 1].
        width_factor: the same for columns (positive moves the image right).
        fill_mode, interpolation, seed, fill_value, data_format: as ``RandomRotation``.

    Example:
        >>> RandomTranslation(0.1, 0.1, seed=0)(np.ones((2, 8, 8, 3)), training=True).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        height_factor,
        width_factor,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs,
    ):
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _range_factor(
            height_factor, "RandomTranslation", "height_factor", open_low=False
        )
        self.width_factor = width_factor
        self.width_lower, self.width_upper = _range_factor(
            width_factor, "RandomTranslation", "width_factor", open_low=False
        )
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        rng = self._rng()
        shift_y = rng.uniform(self.height_lower, self.height_upper, batch) * height
        shift_x = rng.uniform(self.width_lower, self.width_upper, batch) * width
        shift_y = shift_y.astype(np.float32).astype(np.float64)
        shift_x = shift_x.astype(np.float32).astype(np.float64)
        ones, zeros = np.ones(batch), np.zeros(batch)
        return np.stack([ones, zeros, -shift_x, zeros, ones, -shift_y, zeros, zeros], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


@register("layer", "RandomCrop")
class RandomCrop(RandomImageLayer):
    """Crops a random ``(height, width)`` window while training (one position per batch).

    While training, an image not larger than the target on both sides is cropped to the
    target's aspect ratio around its centre and resized to ``(height, width)`` instead. At
    inference the images pass through unchanged: that is what Keras 3.15 does (its docstring
    speaks of a centre crop, its code returns the inputs), so a model that needs a fixed size
    at inference should resize or ``CenterCrop`` explicitly.

    Args:
        height, width: the crop size.
        seed: the layer's seed; None draws one now (stored in the config, as Keras does).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> RandomCrop(2, 2, seed=0)(np.ones((1, 4, 4, 3)), training=True).shape
        (1, 2, 2, 3)
    """

    def __init__(
        self,
        height: int,
        width: int,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs,
    ):
        for what, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"RandomCrop {what} must be a positive integer, got {value!r}.")
        self.height, self.width = int(height), int(width)
        if seed is None:
            seed = int(backend.make_rng(None).integers(1, 1e9))
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training:
            if self._float_at_inference and inputs.dtype.kind != "f":
                return F.cast(inputs, self.dtype)
            return inputs
        x, single = self._batched(inputs)
        if x.dtype.kind != "f":
            x = F.cast(x, self.dtype)
        _, in_h, in_w, _ = x.shape
        if in_h > self.height and in_w > self.width:
            rng = self._rng()
            top = int(rng.uniform(0, in_h - self.height + 1))
            left = int(rng.uniform(0, in_w - self.width + 1))
        else:
            top, left, _, _ = _image_ops.aspect_crop_box(in_h, in_w, self.height, self.width)
        # the window as Keras slices it (clipped at the image's edge), resized when it is short
        rows = np.arange(top, min(top + self.height, in_h))
        cols = np.arange(left, min(left + self.width, in_w))
        out = F.take(F.take(x, rows, axis=1), cols, axis=2)
        if out.shape[1:3] != (self.height, self.width):
            out = _image_ops.resize(out, self.height, self.width, "bilinear")
        return self._restored(out, single)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._with_spatial(input_shape, self.height, self.width)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config


class _ColorLayer(RandomImageLayer):
    """Augmentations of pixel values within ``value_range``."""

    def __init__(self, factor, value_range, seed, bounds: tuple, **kwargs):
        layer = type(self).__name__
        self.factor = _symmetric_factor(factor, bounds, layer)
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError(
                f"{layer} value_range must be a pair (low, high), got {value_range!r}."
            )
        super().__init__(seed=seed, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=list(self.factor), value_range=list(self.value_range))
        return config


@register("layer", "RandomContrast")
class RandomContrast(_ColorLayer):
    """Scales each image's deviation from its per-channel mean by a random factor while
    training, then clips to ``value_range``.

    Args:
        factor: a number f in [0, 1] draws the contrast factor from ``[1, 1 + f]`` (Keras 3's
            rule: its lower bound is ``max(-f, 0)``); a pair ``(low, high)`` from
            ``[1 - low, 1 + high]``.
        value_range: the images' value range (default ``(0, 255)``), the clip bounds.
        seed: the layer's seed.

    Example:
        >>> RandomContrast(0.5, seed=0)(np.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(factor, value_range, seed, (0, 1), **kwargs)
        self.value_range = tuple(value_range)

    def _augment(self, images: np.ndarray) -> np.ndarray:
        scale = self._rng().uniform(1.0 - self.factor[0], 1.0 + self.factor[1], len(images))
        scale = scale.astype(images.dtype)[:, None, None, None]
        mean = images.mean(axis=(1, 2), keepdims=True)
        out = (images - mean) * scale + mean
        return np.clip(out, self.value_range[0], self.value_range[1])


@register("layer", "RandomBrightness")
class RandomBrightness(_ColorLayer):
    """Adds a random offset to each image while training, then clips to ``value_range``.

    Args:
        factor: a number f in [0, 1] draws the offset from ``[-f, f]`` times the width of
            ``value_range``; a pair ``(low, high)`` from ``[low, high]`` times it.
        value_range: the images' value range (default ``(0, 255)``).
        seed: the layer's seed.

    Example:
        >>> RandomBrightness(0.2, seed=0)(np.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(factor, value_range, seed, (-1, 1), **kwargs)
        self.value_range = sorted(value_range)

    def _augment(self, images: np.ndarray) -> np.ndarray:
        width = self.value_range[1] - self.value_range[0]
        delta = self._rng().uniform(self.factor[0], self.factor[1], len(images)) * width
        out = images + delta.astype(images.dtype)[:, None, None, None]
        return np.clip(out, self.value_range[0], self.value_range[1])


__all__ = [
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
]
