"""``keras.ops.image``: image operations on channels-last batches ``(batch, height, width, c)``.

``extract_patches``, ``crop_images``, ``pad_images`` and ``rgb_to_grayscale`` are differentiable
(gathers, concatenations and a weighted sum); ``resize`` gives values (bilinear or nearest,
half-pixel centres as Keras on PyTorch). ``data_format="channels_first"`` is refused by name.
"""

from __future__ import annotations

import numpy as np

from axonal import functional as F
from axonal.tensor import Tensor, as_tensor

# ITU-R 601 luma weights, as Keras's rgb_to_grayscale
_LUMA = (0.2989, 0.5870, 0.1140)


def _pair(value, name: str) -> tuple:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}.")
    return int(pair[0]), int(pair[1])


def _images(images, data_format) -> tuple:
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"ops.image with data_format={data_format!r} is not supported by axonal: images are "
            "channels-last (batch, height, width, channels)."
        )
    images = as_tensor(images)
    if images.data.ndim == 3:
        return F.expand_dims(images, 0), True
    if images.data.ndim != 4:
        raise ValueError(
            f"ops.image takes images of shape (batch, height, width, channels) or (height, "
            f"width, channels), got {images.data.shape}."
        )
    return images, False


def _unbatched(out: Tensor, single: bool) -> Tensor:
    return F.squeeze(out, 0) if single else out


def extract_patches(
    images, size, strides=None, dilation_rate=1, padding="valid", data_format=None
) -> Tensor:
    """Patches of ``size`` as vectors: ``(batch, rows, cols, ph * pw * channels)``, each patch
    flattened row by row (as Keras's, e.g. a ViT's patch embedding input)."""
    if padding != "valid":
        raise ValueError(
            f"ops.image.extract_patches supports padding='valid' in axonal, got {padding!r}."
        )
    images, single = _images(images, data_format)
    ph, pw = _pair(size, "size")
    sh, sw = _pair(strides if strides is not None else (ph, pw), "strides")
    dh, dw = _pair(dilation_rate, "dilation_rate")
    _, height, width, channels = images.data.shape
    span_h, span_w = (ph - 1) * dh + 1, (pw - 1) * dw + 1
    if span_h > height or span_w > width:
        raise ValueError(f"Patches of {size} do not fit images of {height}x{width}.")
    out_h = (height - span_h) // sh + 1
    out_w = (width - span_w) // sw + 1
    rows = (np.arange(out_h) * sh)[:, None] + np.arange(ph) * dh  # (out_h, ph)
    cols = (np.arange(out_w) * sw)[:, None] + np.arange(pw) * dw  # (out_w, pw)
    picked = F.take(F.take(images, rows, axis=1), cols, axis=3)  # (b, out_h, ph, out_w, pw, c)
    ordered = F.transpose(picked, (0, 1, 3, 2, 4, 5))
    flat = F.reshape(ordered, (-1, out_h, out_w, ph * pw * channels))
    return _unbatched(flat, single)


def crop_images(
    images,
    top_cropping=None,
    left_cropping=None,
    bottom_cropping=None,
    right_cropping=None,
    target_height=None,
    target_width=None,
    data_format=None,
) -> Tensor:
    """The images cut down by the given margins (or to a target size from the top-left)."""
    images, single = _images(images, data_format)
    _, height, width, _ = images.data.shape
    top, left = int(top_cropping or 0), int(left_cropping or 0)
    bottom = height - top - int(target_height) if target_height else int(bottom_cropping or 0)
    right = width - left - int(target_width) if target_width else int(right_cropping or 0)
    if min(top, left, bottom, right) < 0 or top + bottom >= height or left + right >= width:
        raise ValueError(f"Cannot crop images of {height}x{width} by {(top, bottom, left, right)}.")
    out = F.take(images, np.arange(top, height - bottom), axis=1)
    out = F.take(out, np.arange(left, width - right), axis=2)
    return _unbatched(out, single)


def pad_images(
    images,
    top_padding=None,
    left_padding=None,
    bottom_padding=None,
    right_padding=None,
    target_height=None,
    target_width=None,
    data_format=None,
) -> Tensor:
    """The images surrounded by zeros (margins, or up to a target size from the top-left)."""
    images, single = _images(images, data_format)
    batch, height, width, channels = images.data.shape
    top, left = int(top_padding or 0), int(left_padding or 0)
    bottom = int(target_height) - height - top if target_height else int(bottom_padding or 0)
    right = int(target_width) - width - left if target_width else int(right_padding or 0)
    if min(top, left, bottom, right) < 0:
        raise ValueError(f"Cannot pad images of {height}x{width} by {(top, bottom, left, right)}.")
    dtype = images.data.dtype

    def zeros(h, w):
        return np.zeros((batch, h, w, channels), dtype)

    out = F.concatenate([zeros(top, width), images, zeros(bottom, width)], axis=1)
    out = F.concatenate(
        [zeros(height + top + bottom, left), out, zeros(height + top + bottom, right)], axis=2
    )
    return _unbatched(out, single)


def rgb_to_grayscale(images, data_format=None) -> Tensor:
    """One channel of luma from RGB images (``(…, 1)``, differentiable)."""
    images, single = _images(images, data_format)
    if images.data.shape[-1] != 3:
        raise ValueError(f"rgb_to_grayscale takes 3 channels, got {images.data.shape[-1]}.")
    weights = np.asarray(_LUMA, dtype=images.data.dtype).reshape(3, 1)
    return _unbatched(F.matmul(images, weights), single)


def resize(images, size, interpolation: str = "bilinear", antialias: bool = False, **kwargs):
    """The images resampled to ``size`` (height, width), as values: ``"bilinear"`` or
    ``"nearest"`` with half-pixel centres."""
    if antialias or any(kwargs.get(k) for k in ("crop_to_aspect_ratio", "pad_to_aspect_ratio")):
        raise ValueError(
            "ops.image.resize with antialias or aspect-ratio cropping/padding is not supported "
            "by axonal."
        )
    images, single = _images(images, kwargs.get("data_format"))
    data = images.data
    out_h, out_w = _pair(size, "size")
    _, height, width, _ = data.shape
    if interpolation == "nearest":
        # the source pixel whose centre is nearest the output pixel's centre (half-pixel)
        rows = np.minimum(
            np.floor((np.arange(out_h) + 0.5) * height / out_h).astype(int), height - 1
        )
        cols = np.minimum(np.floor((np.arange(out_w) + 0.5) * width / out_w).astype(int), width - 1)
        out = data[:, rows][:, :, cols]
    elif interpolation == "bilinear":
        out = _bilinear(data, out_h, out_w)
    else:
        raise ValueError(
            f"ops.image.resize supports 'bilinear' and 'nearest' in axonal, got {interpolation!r}."
        )
    return _unbatched(Tensor(out.astype(data.dtype)), single)


def _bilinear(data, out_h: int, out_w: int):
    def axis_weights(size_in: int, size_out: int):
        centre = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
        centre = np.clip(centre, 0, size_in - 1)
        low = np.floor(centre).astype(int)
        high = np.minimum(low + 1, size_in - 1)
        return low, high, centre - low

    r0, r1, fr = axis_weights(data.shape[1], out_h)
    c0, c1, fc = axis_weights(data.shape[2], out_w)
    top = data[:, r0] * (1 - fr)[None, :, None, None] + data[:, r1] * fr[None, :, None, None]
    return top[:, :, c0] * (1 - fc)[None, None, :, None] + top[:, :, c1] * fc[None, None, :, None]


__all__ = ["crop_images", "extract_patches", "pad_images", "resize", "rgb_to_grayscale"]
