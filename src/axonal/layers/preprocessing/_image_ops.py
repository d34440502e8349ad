"""Resampling arithmetic shared by the image layers and ``axonal.utils``'s image loaders.

Everything here works on channels-last batches ``(batch, height, width, channels)``.

- Resizing is separable: one ``(out, in)`` weight matrix per spatial axis, built to give the
  values PyTorch's ``interpolate`` gives (what Keras 3 runs on its torch backend, without
  antialiasing, its default): half-pixel centres, ``"nearest"`` as ``nearest-exact``,
  ``"bilinear"`` with the source coordinate clamped at 0, ``"bicubic"`` with ``a = -0.75`` and
  edge pixels repeated. Applying the two matrices with ``matmul`` makes the resize
  differentiable with respect to the images.
- ``affine_sample`` maps every output pixel through Keras's 8-number transform to a point of
  the input and samples it (nearest or bilinear, out-of-image points by ``fill_mode``), as Keras's
  ``ops.image.affine_transform``; it works on arrays only (augmentation needs no gradient).
"""

from __future__ import annotations

import numpy as np

from axonal import functional as F
from axonal.tensor import Tensor

RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
AFFINE_INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")

# torch's bicubic kernel parameter (Keys' cubic convolution with a = -0.75)
_CUBIC_A = -0.75


def _cubic_weights(t: np.ndarray) -> list:
    """The four cubic-convolution weights for taps at offsets -1, 0, 1, 2 of fraction ``t``."""

    def near(x):  # |x| <= 1
        return ((_CUBIC_A + 2) * x - (_CUBIC_A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((_CUBIC_A * x - 5 * _CUBIC_A) * x + 8 * _CUBIC_A) * x - 4 * _CUBIC_A

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def _antialias_matrix(size_in: int, size_out: int, interpolation: str) -> np.ndarray:
    """torch's antialiased resampling: the kernel stretched by the scale when shrinking, its
    taps normalised to sum to 1 (so every input pixel is averaged in, none skipped)."""
    scale = size_in / size_out
    taps = 2 if interpolation == "bilinear" else 4
    stretch = max(scale, 1.0)
    support = taps * 0.5 * stretch
    matrix = np.zeros((size_out, size_in))
    for o in range(size_out):
        centre = scale * (o + 0.5)
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), size_in)
        x = np.abs((np.arange(first, last) - centre + 0.5) / stretch)
        if interpolation == "bilinear":
            weights = np.maximum(1.0 - x, 0.0)
        else:
            # the cubic kernel with a = -0.5 (PIL's), which torch uses when antialiasing
            a = -0.5
            weights = np.where(
                x < 1.0,
                ((a + 2) * x - (a + 3)) * x * x + 1,
                np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0),
            )
        total = weights.sum()
        matrix[o, first:last] = weights / total if total != 0 else weights
    return matrix


def resize_matrix(
    size_in: int, size_out: int, interpolation: str, antialias: bool = False
) -> np.ndarray:
    """The ``(size_out, size_in)`` float64 matrix that resamples one axis."""
    if antialias and interpolation in ("bilinear", "bicubic"):
        return _antialias_matrix(size_in, size_out, interpolation)
    scale = size_in / size_out
    out = np.arange(size_out)
    matrix = np.zeros((size_out, size_in))
    if interpolation == "nearest":
        # nearest-exact: the source pixel whose centre is nearest the output pixel's centre
        source = np.minimum(np.floor((out + 0.5) * scale).astype(np.int64), size_in - 1)
        matrix[out, source] = 1.0
    elif interpolation == "bilinear":
        centre = np.maximum((out + 0.5) * scale - 0.5, 0.0)
        low = np.floor(centre).astype(np.int64)
        high = np.minimum(low + 1, size_in - 1)
        fraction = centre - low
        np.add.at(matrix, (out, low), 1.0 - fraction)
        np.add.at(matrix, (out, high), fraction)
    elif interpolation == "bicubic":
        # no clamp on the coordinate for cubic (torch's rule); out-of-range taps repeat the edge
        centre = (out + 0.5) * scale - 0.5
        base = np.floor(centre).astype(np.int64)
        weights = _cubic_weights(centre - base)
        for tap, weight in zip(range(-1, 3), weights, strict=True):
            np.add.at(matrix, (out, np.clip(base + tap, 0, size_in - 1)), weight)
    else:
        raise ValueError(
            f"interpolation must be one of {RESIZE_INTERPOLATIONS}, got {interpolation!r}."
        )
    return matrix


def resize(
    images: Tensor, height: int, width: int, interpolation: str, antialias: bool = False
) -> Tensor:
    """``images`` (batch, h, w, c) resampled to ``(batch, height, width, c)``, differentiably."""
    _, in_h, in_w, _ = images.shape
    dtype = images.dtype
    rows = resize_matrix(in_h, height, interpolation, antialias).T.astype(dtype)  # (in_h, height)
    cols = resize_matrix(in_w, width, interpolation, antialias).T.astype(dtype)  # (in_w, width)
    out = images
    # an axis kept at its size is the identity for every interpolation: skip its product
    if in_w != width:
        # (b, h, c, w) @ (w, width) -> (b, h, c, width)
        out = F.transpose(F.matmul(F.transpose(out, (0, 1, 3, 2)), cols), (0, 1, 3, 2))
    if in_h != height:
        # (b, width, c, h) @ (h, height) -> (b, width, c, height)
        out = F.transpose(F.matmul(F.transpose(out, (0, 2, 3, 1)), rows), (0, 3, 1, 2))
    return out


def resize_array(
    images: np.ndarray, height: int, width: int, interpolation: str, antialias: bool = False
) -> np.ndarray:
    """``resize`` on a NumPy batch (float inputs keep their dtype, others become float32)."""
    data = images if images.dtype.kind == "f" else images.astype(np.float32)
    rows = resize_matrix(data.shape[1], height, interpolation, antialias).astype(data.dtype)
    cols = resize_matrix(data.shape[2], width, interpolation, antialias).astype(data.dtype)
    out = np.einsum("ow,bhwc->bhoc", cols, data)
    return np.einsum("oh,bhwc->bowc", rows, out)


def aspect_crop_box(height: int, width: int, target_h: int, target_w: int) -> tuple:
    """The centred window ``(top, left, h, w)`` of the target's aspect ratio (Keras's rule)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def aspect_pad(height: int, width: int, target_h: int, target_w: int) -> tuple:
    """The rows and columns added on each side to reach the target's aspect ratio (Keras's)."""
    pad_h = max(height, int(float(width * target_h) / target_w))
    pad_w = max(width, int(float(height * target_w) / target_h))
    return int(float(pad_h - height) / 2), int(float(pad_w - width) / 2)


def _fix_index(index: np.ndarray, size: int, fill_mode: str) -> np.ndarray:
    """Indices outside ``[0, size)`` mapped back in, as Keras's map_coordinates does."""
    if fill_mode in ("constant", "nearest"):
        return np.clip(index, 0, size - 1)
    if fill_mode == "wrap":
        return np.mod(index, size)
    # reflect about the edge pixel's outer border: d c b a | a b c d | d c b a
    period = 2 * size
    folded = np.mod(index, period)
    return np.where(folded >= size, period - 1 - folded, folded)


def affine_sample(
    images: np.ndarray,
    transforms: np.ndarray,
    interpolation: str,
    fill_mode: str,
    fill_value: float,
) -> np.ndarray:
    """Each image sampled through its transform ``[a0, a1, a2, b0, b1, b2, c0, c1]``.

    The output pixel ``(x, y)`` reads the input at ``((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k)`` with ``k = c0 x + c1 y + 1`` (Keras's convention: the transform
    maps output points to input points).

    Args:
        images: (batch, height, width, channels).
        transforms: (batch, 8).
    """
    batch, height, width, channels = images.shape
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width), indexing="ij")
    t = transforms.astype(np.float64)[:, :, None, None]
    k = t[:, 6] * xs + t[:, 7] * ys + 1.0
    src_x = (t[:, 0] * xs + t[:, 1] * ys + t[:, 2]) / k  # (batch, height, width)
    src_y = (t[:, 3] * xs + t[:, 4] * ys + t[:, 5]) / k
    if interpolation == "nearest":
        # np.round rounds half to even, as torch.round in Keras's map_coordinates
        taps_y = [(np.round(src_y).astype(np.int64), np.ones_like(src_y))]
        taps_x = [(np.round(src_x).astype(np.int64), np.ones_like(src_x))]
    else:
        low_y, low_x = np.floor(src_y), np.floor(src_x)
        frac_y, frac_x = src_y - low_y, src_x - low_x
        low_y, low_x = low_y.astype(np.int64), low_x.astype(np.int64)
        taps_y = [(low_y, 1.0 - frac_y), (low_y + 1, frac_y)]
        taps_x = [(low_x, 1.0 - frac_x), (low_x + 1, frac_x)]
    batch_index = np.arange(batch)[:, None, None]
    out = np.zeros((batch, height, width, channels), dtype=np.float64)
    for index_y, weight_y in taps_y:
        for index_x, weight_x in taps_x:
            values = images[
                batch_index,
                _fix_index(index_y, height, fill_mode),
                _fix_index(index_x, width, fill_mode),
            ].astype(np.float64)
            if fill_mode == "constant":
                inside = (index_y >= 0) & (index_y < height) & (index_x >= 0) & (index_x < width)
                values = np.where(inside[..., None], values, fill_value)
            out += (weight_y * weight_x)[..., None] * values
    if images.dtype.kind != "f":
        out = np.round(out)
    return out.astype(images.dtype)
