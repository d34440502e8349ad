"""Image preprocessing layers: ``Resizing`` and ``CenterCrop`` (Keras 3 names and semantics).

Both take batches ``(batch, height, width, channels)`` or single images ``(height, width,
channels)`` (``channels_first`` puts channels before the spatial axes) and are differentiable
with respect to their inputs: cropping is a gather and resizing two products with fixed
resampling matrices. Resized values equal Keras 3's on its torch backend.
"""

from __future__ import annotations

import numpy as np

from axonal import functional as F
from axonal.layers.base import Layer
from axonal.layers.data_format import standardize_data_format
from axonal.layers.preprocessing import _image_ops
from axonal.registry import register
from axonal.tensor import Tensor


class ImagePreprocessingLayer(Layer):
    """The base of the image layers: the data format, and images as channels-last batches.

    Subclasses work on ``(batch, height, width, channels)`` tensors; ``_batched`` and
    ``_restored`` turn the caller's layout (rank 3 or 4, either data format) into that and back.
    """

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def _check_rank(self, shape: tuple) -> None:
        if len(shape) not in (3, 4):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects images of rank 3 (one "
                "image) or 4 (a batch), got shape "
                f"{tuple(shape)}."
            )

    def build(self, input_shape: tuple) -> None:
        self._check_rank(tuple(input_shape))
        self.built = True

    def _spatial_axes(self, rank: int) -> tuple[int, int]:
        """The height and width axes of an input of ``rank``."""
        if self.data_format == "channels_first":
            return rank - 2, rank - 1
        return rank - 3, rank - 2

    def _batched(self, inputs: Tensor) -> tuple[Tensor, bool]:
        """``inputs`` as a channels-last batch, and whether it was one image."""
        self._check_rank(inputs.shape)
        single = inputs.ndim == 3
        x = F.expand_dims(inputs, 0) if single else inputs
        if self.data_format == "channels_first":
            x = F.transpose(x, (0, 2, 3, 1))
        return x, single

    def _restored(self, x: Tensor, single: bool) -> Tensor:
        """A channels-last batch back in the caller's layout."""
        if self.data_format == "channels_first":
            x = F.transpose(x, (0, 3, 1, 2))
        return F.squeeze(x, 0) if single else x

    def _with_spatial(self, input_shape: tuple, height, width) -> tuple:
        """``input_shape`` with its height and width replaced."""
        shape = list(input_shape)
        self._check_rank(shape)
        h_axis, w_axis = self._spatial_axes(len(shape))
        shape[h_axis], shape[w_axis] = height, width
        return tuple(shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


def _positive_int(value, layer: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer} {what} must be a positive integer, got {value!r}.")
    return int(value)


def _cast_back(out: Tensor, dtype) -> Tensor:
    """An integer image's resized values rounded and clipped into its dtype, as Keras does."""
    if out.dtype == dtype:
        return out
    info = np.iinfo(dtype)
    return Tensor(np.clip(np.round(out.data), info.min, info.max).astype(dtype))


@register("layer", "Resizing")
class Resizing(ImagePreprocessingLayer):
    """Resizes images to ``(height, width)``.

    The values equal Keras 3's (torch backend): half-pixel centres; ``"nearest"`` picks the
    pixel whose centre is nearest; ``"bilinear"`` and ``"bicubic"`` (a = -0.75) interpolate,
    and with ``antialias=True`` average over every input pixel a shrunk output pixel covers.

    Args:
        height, width: the output size.
        interpolation: ``"bilinear"`` (default), ``"nearest"`` or ``"bicubic"``.
        crop_to_aspect_ratio: first crop the largest centred window with the target's aspect
            ratio, so the image is not distorted.
        pad_to_aspect_ratio: first pad the short side evenly with ``fill_value`` to the target's
            aspect ratio (not together with ``crop_to_aspect_ratio``).
        fill_mode: how padding is filled; only ``"constant"``, as in Keras.
        fill_value: the padding value.
        antialias: filter when shrinking (bilinear and bicubic only; ignored for nearest).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> Resizing(2, 2)(np.ones((1, 4, 4, 3))).shape
        (1, 2, 2, 3)
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs,
    ):
        self.height = _positive_int(height, "Resizing", "height")
        self.width = _positive_int(width, "Resizing", "width")
        if interpolation not in _image_ops.RESIZE_INTERPOLATIONS:
            raise ValueError(
                f"Resizing interpolation must be one of {_image_ops.RESIZE_INTERPOLATIONS}, got "
                f"{interpolation!r} (lanczos3/lanczos5 are not supported, as on Keras's torch "
                "backend)."
            )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Resizing takes only one of crop_to_aspect_ratio and pad_to_aspect_ratio."
            )
        if fill_mode != "constant":
            raise ValueError(f"Resizing fill_mode must be 'constant', got {fill_mode!r}.")
        super().__init__(data_format=data_format, **kwargs)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = bool(antialias)

    def call(self, inputs: Tensor) -> Tensor:
        dtype = inputs.dtype
        x, single = self._batched(inputs)
        if dtype.kind != "f":
            x = F.cast(x, self.dtype)
        _, height, width, channels = x.shape
        if self.crop_to_aspect_ratio:
            top, left, crop_h, crop_w = _image_ops.aspect_crop_box(
                height, width, self.height, self.width
            )
            x = F.take(x, np.arange(top, top + crop_h), axis=1)
            x = F.take(x, np.arange(left, left + crop_w), axis=2)
        elif self.pad_to_aspect_ratio:
            x = self._padded(x)
        out = _image_ops.resize(x, self.height, self.width, self.interpolation, self.antialias)
        if dtype.kind != "f":
            out = _cast_back(out, dtype)
        return self._restored(out, single)

    def _padded(self, x: Tensor) -> Tensor:
        batch, height, width, channels = x.shape
        pad_rows, pad_cols = _image_ops.aspect_pad(height, width, self.height, self.width)
        dtype = x.dtype
        if pad_rows > 0:
            band = np.full((batch, pad_rows, width, channels), self.fill_value, dtype)
            x = F.concatenate([band, x, band], axis=1)
        if pad_cols > 0:
            band = np.full((batch, x.shape[1], pad_cols, channels), self.fill_value, dtype)
            x = F.concatenate([band, x, band], axis=2)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._with_spatial(input_shape, self.height, self.width)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            height=self.height,
            width=self.width,
            interpolation=self.interpolation,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            antialias=self.antialias,
        )
        return config


def smart_resize(x: Tensor, height: int, width: int, interpolation: str = "bilinear") -> Tensor:
    """Crop the largest centred window of the target's aspect ratio, then resize to it
    (channels-last batch; Keras's ``smart_resize``)."""
    _, in_h, in_w, _ = x.shape
    top, left, crop_h, crop_w = _image_ops.aspect_crop_box(in_h, in_w, height, width)
    x = F.take(x, np.arange(top, top + crop_h), axis=1)
    x = F.take(x, np.arange(left, left + crop_w), axis=2)
    return _image_ops.resize(x, height, width, interpolation)


@register("layer", "CenterCrop")
class CenterCrop(ImagePreprocessingLayer):
    """Crops the centre ``(height, width)`` of each image.

    An image smaller than the target on either side is instead cropped to the target's aspect
    ratio and resized to it (bilinear), as Keras does.

    Args:
        height, width: the output size.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> CenterCrop(2, 2)(np.ones((1, 4, 5, 3))).shape
        (1, 2, 2, 3)
    """

    def __init__(self, height: int, width: int, data_format: str | None = None, **kwargs):
        self.height = _positive_int(height, "CenterCrop", "height")
        self.width = _positive_int(width, "CenterCrop", "width")
        super().__init__(data_format=data_format, **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        x, single = self._batched(inputs)
        if x.dtype.kind != "f":
            x = F.cast(x, self.dtype)
        _, height, width, _ = x.shape
        if height >= self.height and width >= self.width:
            top = (height - self.height) // 2
            left = (width - self.width) // 2
            x = F.take(x, np.arange(top, top + self.height), axis=1)
            out = F.take(x, np.arange(left, left + self.width), axis=2)
        else:
            out = smart_resize(x, self.height, self.width)
        return self._restored(out, single)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._with_spatial(input_shape, self.height, self.width)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config


__all__ = ["CenterCrop", "ImagePreprocessingLayer", "Resizing", "smart_resize"]
