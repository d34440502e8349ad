"""``keras.ops.image``: image operations on channels-last batches ``(batch, height, width, c)``.

``extract_patches``, ``crop_images``, ``pad_images`` and ``rgb_to_grayscale`` are differentiable
(gathers, concatenations and a weighted sum); ``resize`` gives values (bilinear or nearest,
half-pixel centres as Keras on PyTorch) and, like them, refuses ``data_format="channels_first"``
by name. The colour-space, filter and resampling ops (``rgb_to_hsv``, ``gaussian_blur``,
``affine_transform``, ``map_coordinates``, ``ssim``...) take either layout and are
differentiable in the images.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from axonal import functional as F
from axonal.backend import floatx, make_rng, rng
from axonal.config import image_data_format
from axonal.primitives.numpy_ops import Closure
from axonal.tensor import Tensor, apply, as_tensor

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


def resize(
    images,
    size,
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format=None,
):
    """The images resampled to ``size`` (height, width), as values: ``"bilinear"`` or
    ``"nearest"`` with half-pixel centres."""
    if antialias or crop_to_aspect_ratio or pad_to_aspect_ratio:
        raise ValueError(
            "ops.image.resize with antialias or aspect-ratio cropping/padding is not supported "
            "by axonal."
        )
    images, single = _images(images, data_format)
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


# ---------------------------------------------------------------- colour spaces


def _channels_last(images, data_format) -> tuple:
    """``(batch, h, w, c)`` images, whether they came unbatched, and the layout to return."""
    data_format = image_data_format() if data_format is None else data_format
    images = as_tensor(images)
    if images.data.dtype.kind != "f":
        images = F.cast(images, floatx())
    if data_format == "channels_first":
        images = F.transpose(images, (0, 2, 3, 1) if images.ndim == 4 else (1, 2, 0))
    elif data_format != "channels_last":
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}."
        )
    images, single = _images(images, None)
    return images, single, data_format


def _restore(out: Tensor, single: bool, data_format: str) -> Tensor:
    if data_format == "channels_first":
        out = F.transpose(out, (0, 3, 1, 2))
    return _unbatched(out, single)


def _mask(array) -> np.ndarray:
    return np.asarray(array, dtype=bool)


def rgb_to_hsv(images, data_format=None) -> Tensor:
    """RGB in ``[0, 1]`` to HSV, all channels in ``[0, 1]`` (hue 0 is red), differentiable
    away from the hue's branch points."""
    images, single, data_format = _channels_last(images, data_format)
    red, green, blue = (images[..., i] for i in range(3))
    value = F.max(images, axis=-1)
    smallest = F.min(images, axis=-1)
    spread = F.subtract(value, smallest)
    data = images.data
    grey = spread.data == 0
    safe_spread = F.where(grey, 1.0, spread)
    safe_value = F.where(value.data == 0, 1.0, value)
    saturation = F.where(value.data == 0, 0.0, F.divide(spread, safe_value))
    # the hue sector is set by the largest channel (red first on ties, as TensorFlow)
    is_red = data[..., 0] == value.data
    is_green = ~is_red & (data[..., 1] == value.data)
    hue_red = F.divide(F.subtract(green, blue), safe_spread)
    hue_green = F.add(F.divide(F.subtract(blue, red), safe_spread), 2.0)
    hue_blue = F.add(F.divide(F.subtract(red, green), safe_spread), 4.0)
    hue = F.where(is_red, hue_red, F.where(is_green, hue_green, hue_blue))
    hue = F.where(grey, 0.0, F.divide(hue, 6.0))
    # wrap negative hues into [0, 1): a constant shift, so the gradient is unchanged
    hue = F.add(hue, (hue.data < 0).astype(data.dtype))
    out = F.stack([hue, saturation, value], axis=-1)
    return _restore(out, single, data_format)


def hsv_to_rgb(images, data_format=None) -> Tensor:
    """HSV in ``[0, 1]`` back to RGB (piecewise linear in hue: differentiable)."""
    images, single, data_format = _channels_last(images, data_format)
    hue, saturation, value = (images[..., i] for i in range(3))
    sector = F.multiply(hue, 6.0)

    def ramp(centre: float, rising: bool):
        distance = F.abs(F.subtract(sector, centre))
        shape = F.subtract(distance, 1.0) if rising else F.subtract(2.0, distance)
        return F.clip(shape, 0.0, 1.0)

    channels = [ramp(3.0, True), ramp(2.0, False), ramp(4.0, False)]
    rgb = [
        F.multiply(F.add(F.multiply(F.subtract(c, 1.0), saturation), 1.0), value) for c in channels
    ]
    return _restore(F.stack(rgb, axis=-1), single, data_format)


# ---------------------------------------------------------------- filters


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _per_channel_filter(images: Tensor, kernel2d: np.ndarray, padding: str) -> Tensor:
    """The same 2-D filter over every channel (a depthwise convolution)."""
    channels = images.shape[-1]
    kernel = np.repeat(kernel2d[:, :, None, None], channels, axis=2).astype(images.data.dtype)
    return F.depthwise_conv2d(images, kernel, padding=padding)


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None) -> Tensor:
    """Each channel blurred with a normalized Gaussian kernel, zero padding keeping the size
    (differentiable)."""
    images, single, data_format = _channels_last(images, data_format)
    # Keras reads kernel_size and sigma as (x, y): the first entry spans the columns
    kw, kh = _pair(kernel_size, "kernel_size")
    sigmas = (sigma, sigma) if np.ndim(sigma) == 0 else tuple(sigma)
    kernel = np.outer(_gaussian_1d(kh, float(sigmas[1])), _gaussian_1d(kw, float(sigmas[0])))
    padded = F.zero_padding2d(images, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = _per_channel_filter(padded, kernel, "valid")
    return _restore(out, single, data_format)


def sobel_edges(images, data_format=None) -> Tensor:
    """Sobel gradients of each channel: ``(…, channels, 2)`` holding (vertical, horizontal)
    derivatives, zero padding (differentiable)."""
    images, single, data_format = _channels_last(images, data_format)
    horizontal = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    padded = F.zero_padding2d(images, ((1, 1), (1, 1)))
    edges_y = _per_channel_filter(padded, horizontal.T, "valid")
    edges_x = _per_channel_filter(padded, horizontal, "valid")
    out = F.stack([edges_y, edges_x], axis=-1)
    if data_format == "channels_first":
        out = F.transpose(out, (0, 3, 1, 2, 4))
    return F.squeeze(out, 0) if single else out


def ssim(
    image1,
    image2,
    max_val=1.0,
    filter_size=11,
    filter_sigma=1.5,
    k1=0.01,
    k2=0.03,
    data_format=None,
) -> Tensor:
    """Structural similarity of two image batches: ``(batch,)`` (a scalar for single images),
    Gaussian-weighted local statistics over 'valid' windows, averaged over pixels and channels
    (differentiable)."""
    first, single, data_format = _channels_last(image1, data_format)
    second, _, _ = _channels_last(image2, data_format)
    window = np.outer(
        _gaussian_1d(filter_size, filter_sigma), _gaussian_1d(filter_size, filter_sigma)
    )
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2

    def blur(t):
        return _per_channel_filter(t, window, "valid")

    mu1, mu2 = blur(first), blur(second)
    mu1_sq, mu2_sq, mu12 = F.multiply(mu1, mu1), F.multiply(mu2, mu2), F.multiply(mu1, mu2)
    sigma1 = F.subtract(blur(F.multiply(first, first)), mu1_sq)
    sigma2 = F.subtract(blur(F.multiply(second, second)), mu2_sq)
    sigma12 = F.subtract(blur(F.multiply(first, second)), mu12)
    numerator = F.multiply(F.add(F.multiply(mu12, 2.0), c1), F.add(F.multiply(sigma12, 2.0), c2))
    denominator = F.multiply(F.add(F.add(mu1_sq, mu2_sq), c1), F.add(F.add(sigma1, sigma2), c2))
    out = F.mean(F.divide(numerator, denominator), axis=(1, 2, 3))
    return F.squeeze(out, 0) if single else out


# ---------------------------------------------------------------- resampling


def _mirror(index, size):
    period = size - 1
    if period == 0:
        return np.zeros_like(index)
    return np.abs((index + period) % (2 * period) - period)


_INDEX_FIXERS = {
    "constant": lambda index, size: np.clip(index, 0, size - 1),
    "nearest": lambda index, size: np.clip(index, 0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _mirror,
    "reflect": lambda index, size: (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2,
}


def _corners(coordinates: list, shape: tuple, order: int, fill_mode: str) -> list:
    """Per-combination ``(index tuple, weight, valid)`` of the interpolation (JAX's and Keras's
    ``map_coordinates``): nearest (round half to even) or linear nodes along each axis."""
    if order not in (0, 1):
        raise ValueError(f"map_coordinates supports order 0 and 1, got {order!r}.")
    if fill_mode not in _INDEX_FIXERS:
        raise ValueError(f"fill_mode must be one of {sorted(_INDEX_FIXERS)}, got {fill_mode!r}.")
    per_axis = []
    for coordinate, size in zip(coordinates, shape, strict=False):
        coordinate = np.asarray(coordinate)
        if order == 0 or coordinate.dtype.kind in "iu":
            nodes = [(np.round(coordinate).astype(np.int64), np.ones_like(coordinate, float))]
        else:
            lower = np.floor(coordinate)
            upper_weight = coordinate - lower
            lower = lower.astype(np.int64)
            nodes = [(lower, 1.0 - upper_weight), (lower + 1, upper_weight)]
        fixed = []
        for index, weight in nodes:
            valid = (
                (index >= 0) & (index < size)
                if fill_mode == "constant"
                else np.ones(index.shape, bool)
            )
            fixed.append((_INDEX_FIXERS[fill_mode](index, size), weight, valid))
        per_axis.append(fixed)
    combos = []
    for items in itertools.product(*per_axis):
        index = tuple(item[0] for item in items)
        weight = functools.reduce(np.multiply, [item[1] for item in items])
        valid = functools.reduce(np.logical_and, [item[2] for item in items])
        combos.append((index, weight, valid))
    return combos


def _resample(inputs: Tensor, coordinates: list, order: int, fill_mode: str, fill_value) -> Tensor:
    """Sample ``inputs`` at ``coordinates`` over its leading axes (trailing axes carried),
    differentiable in ``inputs``: the backward pass adds each weighted gradient back at the
    pixels it was read from."""
    combos = _corners(coordinates, inputs.shape, order, fill_mode)
    carried = inputs.ndim - len(coordinates)

    def spread(array):
        return array.reshape(array.shape + (1,) * carried)

    def compute(a):
        out = 0
        for index, weight, valid in combos:
            picked = np.where(spread(valid), a[index], fill_value)
            out = out + picked * spread(weight)
        out = np.asarray(out, dtype=a.dtype)

        def vjp(g):
            grad = np.zeros_like(a)
            for index, weight, valid in combos:
                np.add.at(grad, index, g * spread(weight * valid))
            return (grad,)

        return out, vjp

    return apply(Closure, inputs, compute=compute)


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0) -> Tensor:
    """``inputs`` sampled at ``coordinates`` (``(inputs.ndim, …)``) with nearest (``order=0``)
    or linear (``order=1``) interpolation; out-of-range reads follow ``fill_mode``
    (differentiable in ``inputs``)."""
    inputs = as_tensor(inputs)
    if isinstance(coordinates, (list, tuple)):
        coords = [np.asarray(getattr(c, "data", c)) for c in coordinates]
    else:
        coords = list(np.asarray(getattr(coordinates, "data", coordinates)))
    if len(coords) != inputs.ndim:
        raise ValueError(
            f"map_coordinates: the first axis of coordinates must be the rank of inputs "
            f"({inputs.ndim}), got {len(coords)}."
        )
    return _resample(inputs, list(coords), order, fill_mode, fill_value)


_INTERPOLATIONS = {"nearest": 0, "bilinear": 1}


def _order(interpolation: str) -> int:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be 'nearest' or 'bilinear' in axonal, got {interpolation!r}."
        )
    return _INTERPOLATIONS[interpolation]


def _warp(images: Tensor, rows, cols, order, fill_mode, fill_value) -> Tensor:
    """Sample every image of the batch at its own ``(batch, h, w)`` source rows and columns."""
    batch_index = np.broadcast_to(np.arange(images.shape[0])[:, None, None], rows.shape)
    return _resample(images, [batch_index, rows, cols], order, fill_mode, fill_value)


def _projective_grid(transform: np.ndarray, height: int, width: int) -> tuple:
    """Source (row, col) of each output pixel under ``[a0, a1, a2, b0, b1, b2, c0, c1]``:
    ``x' = (a0 x + a1 y + a2) / k``, ``y' = (b0 x + b1 y + b2) / k``, ``k = c0 x + c1 y + 1``."""
    t = transform[:, :, None, None]
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    k = t[:, 6] * x + t[:, 7] * y + 1.0
    cols = (t[:, 0] * x + t[:, 1] * y + t[:, 2]) / k
    rows = (t[:, 3] * x + t[:, 4] * y + t[:, 5]) / k
    return rows, cols


def affine_transform(
    images,
    transform,
    interpolation="bilinear",
    fill_mode="constant",
    fill_value=0,
    data_format=None,
) -> Tensor:
    """Images warped by projective transforms ``(8,)`` or ``(batch, 8)`` mapping output pixels
    to input pixels (TensorFlow's convention); differentiable in ``images``."""
    images, single, data_format = _channels_last(images, data_format)
    matrix = np.asarray(getattr(transform, "data", transform), dtype=np.float64)
    matrix = np.broadcast_to(matrix.reshape(-1, 8), (images.shape[0], 8))
    rows, cols = _projective_grid(matrix, images.shape[1], images.shape[2])
    out = _warp(images, rows, cols, _order(interpolation), fill_mode, fill_value)
    return _restore(out, single, data_format)


def _homography(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The 8 coefficients mapping each ``end`` point onto its ``start`` point (batched)."""
    out = np.zeros((start.shape[0], 8))
    for b in range(start.shape[0]):
        rows, rhs = [], []
        for (sx, sy), (ex, ey) in zip(start[b], end[b], strict=True):
            rows.append([ex, ey, 1, 0, 0, 0, -sx * ex, -sx * ey])
            rows.append([0, 0, 0, ex, ey, 1, -sy * ex, -sy * ey])
            rhs.extend([sx, sy])
        out[b] = np.linalg.solve(np.array(rows), np.array(rhs))
    return out


def perspective_transform(
    images, start_points, end_points, interpolation="bilinear", fill_value=0, data_format=None
) -> Tensor:
    """Images warped so the four ``start_points`` (x, y) land on ``end_points``; differentiable
    in ``images``."""
    images, single, data_format = _channels_last(images, data_format)
    start = np.asarray(getattr(start_points, "data", start_points), np.float64).reshape(-1, 4, 2)
    end = np.asarray(getattr(end_points, "data", end_points), np.float64).reshape(-1, 4, 2)
    matrix = np.broadcast_to(_homography(start, end), (images.shape[0], 8))
    rows, cols = _projective_grid(matrix, images.shape[1], images.shape[2])
    out = _warp(images, rows, cols, _order(interpolation), "constant", fill_value)
    return _restore(out, single, data_format)


def elastic_transform(
    images,
    alpha=20.0,
    sigma=5.0,
    interpolation="bilinear",
    fill_mode="reflect",
    fill_value=0.0,
    seed=None,
    data_format=None,
) -> Tensor:
    """Images displaced by a smooth random field: Gaussian noise blurred with ``sigma`` and
    scaled by ``alpha`` moves each pixel's source (seeded; differentiable in ``images``)."""
    images, single, data_format = _channels_last(images, data_format)
    batch, height, width, _ = images.shape
    generator = make_rng(seed) if seed is not None else rng()
    size = int(6 * sigma) | 1
    fields = []
    for _ in range(2):
        noise = generator.normal(size=(batch, height, width, 1)) * sigma
        fields.append(
            gaussian_blur(noise, (size, size), (sigma, sigma), "channels_last").data[..., 0]
        )
    dx, dy = fields
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    out = _warp(
        images, y + alpha * dy, x + alpha * dx, _order(interpolation), fill_mode, fill_value
    )
    return _restore(out, single, data_format)


def extract_patches_3d(
    volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None
) -> Tensor:
    """Patches of volumes ``(batch, d, h, w, c)`` as vectors ``(batch, pd, ph, pw,
    sd * sh * sw * c)``, each patch flattened depth-, row-, column-major (differentiable)."""
    if padding != "valid":
        raise ValueError(f"extract_patches_3d supports padding='valid' in axonal, got {padding!r}.")
    data_format = image_data_format() if data_format is None else data_format
    volumes = as_tensor(volumes)
    if data_format == "channels_first":
        volumes = F.transpose(volumes, (0, 2, 3, 4, 1) if volumes.ndim == 5 else (1, 2, 3, 0))
    single = volumes.ndim == 4
    if single:
        volumes = F.expand_dims(volumes, 0)
    sizes = (size,) * 3 if isinstance(size, (int, np.integer)) else tuple(size)
    steps = (
        sizes
        if strides is None
        else ((strides,) * 3 if isinstance(strides, (int, np.integer)) else tuple(strides))
    )
    dilations = (
        (dilation_rate,) * 3
        if isinstance(dilation_rate, (int, np.integer))
        else tuple(dilation_rate)
    )
    out = volumes
    counts = []
    for axis, (k, s, d) in enumerate(zip(sizes, steps, dilations, strict=True), start=1):
        length = volumes.shape[axis]
        count = (length - (k - 1) * d - 1) // s + 1
        counts.append(count)
        index = (np.arange(count) * s)[:, None] + np.arange(k) * d  # (count, k)
        out = F.take(out, index, axis=2 * axis - 1)
    # (b, n1, k1, n2, k2, n3, k3, c) -> (b, n1, n2, n3, k1, k2, k3, c)
    out = F.transpose(out, (0, 1, 3, 5, 2, 4, 6, 7))
    channels = volumes.shape[-1]
    out = F.reshape(out, (-1, *counts, int(np.prod(sizes)) * channels))
    if data_format == "channels_first":
        out = F.transpose(out, (0, 4, 1, 2, 3))
    return F.squeeze(out, 0) if single else out


def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


def _keys_cubic(x):
    # Keys's cubic convolution kernel with a = -0.5, on |x|
    near = ((1.5 * x - 2.5) * x) * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))


def _lanczos(radius: float):
    def kernel(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            value = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi * x) ** 2
        return np.where(x > radius, 0.0, np.where(x > 1e-3, value, 1.0))

    return kernel


_RESAMPLING_KERNELS = {
    "linear": _triangle,
    "bilinear": _triangle,
    "trilinear": _triangle,
    "cubic": _keys_cubic,
    "bicubic": _keys_cubic,
    "tricubic": _keys_cubic,
    "lanczos3": _lanczos(3.0),
    "lanczos5": _lanczos(5.0),
}


def _resampling_weights(size_in: int, size_out: int, scale, translation, kernel, antialias):
    """``(size_in, size_out)`` weights of output samples at ``(j + 0.5 - translation) / scale -
    0.5`` (JAX's ``scale_and_translate``); the kernel widens by ``1 / scale`` when shrinking
    with ``antialias``, each column sums to 1, and samples outside the input get 0."""
    inverse = 1.0 / scale
    widen = max(inverse, 1.0) if antialias else 1.0
    sample = (np.arange(size_out) + 0.5) * inverse - translation * inverse - 0.5
    weights = kernel(np.abs(sample[None, :] - np.arange(size_in)[:, None]) / widen)
    total = weights.sum(axis=0, keepdims=True)
    usable = np.abs(total) > 1000.0 * np.finfo(np.float32).eps
    weights = np.where(usable, weights / np.where(total != 0, total, 1.0), 0.0)
    inside = (sample >= -0.5) & (sample <= size_in - 0.5)
    return np.where(inside[None, :], weights, 0.0)


def scale_and_translate(
    images, output_shape, scale, translation, spatial_dims, method, antialias=True
) -> Tensor:
    """Resample ``images`` along ``spatial_dims`` to ``output_shape`` with ``scale`` and
    ``translation`` per axis and a ``linear``, ``cubic`` or ``lanczos3/5`` kernel (JAX's
    ``scale_and_translate``); one weight matrix per axis, so differentiable in ``images``."""
    if method not in _RESAMPLING_KERNELS:
        raise ValueError(
            f"scale_and_translate: method must be one of {sorted(_RESAMPLING_KERNELS)}, "
            f"got {method!r}."
        )
    images = as_tensor(images)
    integer = images.data.dtype.kind in "iu"
    out = F.cast(images, "float32") if integer else images
    scales = np.asarray(getattr(scale, "data", scale), dtype=np.float64).reshape(-1)
    shifts = np.asarray(getattr(translation, "data", translation), dtype=np.float64).reshape(-1)
    for i, dim in enumerate(spatial_dims):
        dim = dim % images.ndim
        weights = _resampling_weights(
            images.shape[dim],
            int(output_shape[dim]),
            scales[i],
            shifts[i],
            _RESAMPLING_KERNELS[method],
            antialias,
        ).astype(out.data.dtype)
        # bring the axis last, mix it with the weights, and put it back
        order = [a for a in range(out.ndim) if a != dim] + [dim]
        mixed = F.matmul(F.transpose(out, order), weights)
        out = F.transpose(mixed, list(np.argsort(order)))
    if integer:
        data = np.clip(np.round(out.data), images.data.min(), images.data.max())
        return Tensor(data.astype(images.data.dtype))
    return out


__all__ = [
    "affine_transform",
    "crop_images",
    "elastic_transform",
    "extract_patches",
    "extract_patches_3d",
    "gaussian_blur",
    "hsv_to_rgb",
    "map_coordinates",
    "pad_images",
    "perspective_transform",
    "resize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "scale_and_translate",
    "sobel_edges",
    "ssim",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
