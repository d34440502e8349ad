"""Image files as arrays and back (``keras.utils.load_img``, ``img_to_array``, ``array_to_img``,
``save_img``), through Pillow, an optional dependency (the ``images`` extra:
``pip install -e '.[images]'``).

Pillow is imported when one of these functions runs, never by ``import axonal``.
"""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np

from axonal.backend import floatx
from axonal.layers.data_format import standardize_data_format

# Pillow's resampling filters by the names Keras's load_img takes
_PIL_FILTERS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pil_image():
    """Pillow's ``PIL.Image`` module, or an ImportError naming the extra that installs it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "Reading and writing image files needs Pillow, which is not installed. Install it "
            "with `pip install pillow` (axonal's `images` extra: `pip install -e '.[images]'` "
            "in a checkout)."
        ) from None
    return Image


def load_img(
    path,
    color_mode: str = "rgb",
    target_size: tuple | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
):
    """Read an image file into a PIL image (Keras's ``keras.utils.load_img``).

    Args:
        path: a path (str or ``pathlib.Path``) or an ``io.BytesIO``.
        color_mode: ``"rgb"`` (default), ``"rgba"`` or ``"grayscale"``.
        target_size: ``(height, width)`` to resize to, or None to keep the file's size.
        interpolation: Pillow's filter for resizing: ``"nearest"`` (default), ``"bilinear"``,
            ``"bicubic"``, ``"hamming"``, ``"box"`` or ``"lanczos"``.
        keep_aspect_ratio: resize the largest centred window of the target's aspect ratio
            instead of the whole image (no distortion).

    Returns:
        A ``PIL.Image.Image``; ``img_to_array`` turns it into an array.

    Example:
        >>> x = img_to_array(load_img("cat.png", target_size=(64, 64)))  # (64, 64, 3)
    """
    image_module = pil_image()
    if isinstance(path, io.BytesIO):
        img = image_module.open(path)
    elif isinstance(path, (str, bytes, pathlib.Path)):
        with open(path, "rb") as handle:
            img = image_module.open(io.BytesIO(handle.read()))
    else:
        raise TypeError(f"load_img path must be a path or an io.BytesIO, got {type(path)}.")
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode in ("rgb", "rgba"):
        mode = color_mode.upper()
        if img.mode != mode:
            img = img.convert(mode)
    else:
        raise ValueError(
            f"load_img color_mode must be 'grayscale', 'rgb' or 'rgba', got {color_mode!r}."
        )
    if target_size is None:
        return img
    size = (int(target_size[1]), int(target_size[0]))  # Pillow sizes are (width, height)
    if img.size == size:
        return img
    if interpolation not in _PIL_FILTERS:
        raise ValueError(
            f"load_img interpolation must be one of {_PIL_FILTERS}, got {interpolation!r}."
        )
    resample = getattr(image_module.Resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(size, resample)
    width, height = img.size
    crop_h = min(height, (width * size[1]) // size[0])
    crop_w = min(width, (height * size[0]) // size[1])
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return img.resize(size, resample, box=[left, top, left + crop_w, top + crop_h])


def img_to_array(img, data_format: str | None = None, dtype=None) -> np.ndarray:
    """A PIL image (or anything ``numpy.asarray`` reads) as a ``(height, width, channels)``
    array (channels first for ``data_format="channels_first"``), of ``dtype`` (default
    float32).

    Example:
        >>> img_to_array(load_img("cat.png")).shape  # (h, w, 3)
    """
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or floatx())
    if x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[..., None]
    elif x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    else:
        raise ValueError(f"img_to_array expects an image of rank 2 or 3, got shape {x.shape}.")
    return x


def array_to_img(x, data_format: str | None = None, scale: bool = True, dtype=None):
    """A ``(height, width, channels)`` array (1, 3 or 4 channels) as a PIL image.

    Args:
        x: the image array.
        data_format: the array's layout (default channels-last).
        scale: stretch the values to [0, 255] first (min to 0, max to 255), as Keras does.
        dtype: the type the array is read as first (default float32).

    Example:
        >>> array_to_img(np.zeros((4, 4, 3))).size
        (4, 4)
    """
    image_module = pil_image()
    data_format = standardize_data_format(data_format)
    x = np.array(x, dtype=dtype or floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects one image of rank 3, got shape {x.shape}.")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return image_module.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return image_module.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            # values beyond 8 bits: a 32-bit integer image
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img supports 1, 3 or 4 channels, got {channels}.")


def save_img(
    path, x, data_format: str | None = None, file_format: str | None = None, scale=True, **kwargs
) -> None:
    """Write an image array to a file (format from the extension unless ``file_format``);
    extra keyword arguments go to Pillow's ``Image.save`` (e.g. ``quality``).

    Example:
        >>> save_img("out.png", np.zeros((4, 4, 3)))
    """
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("JPEG stores no alpha channel; saving the image as RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format or None, **kwargs)


__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]
