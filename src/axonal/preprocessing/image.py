"""``keras.preprocessing.image``: image files as arrays (``load_img``, ``img_to_array``,
``array_to_img``, ``save_img``, with Pillow) and ``smart_resize``."""

from __future__ import annotations

import numpy as np

from axonal.layers.preprocessing import _image_ops
from axonal.utils.image_utils import array_to_img, img_to_array, load_img, save_img


def smart_resize(x, size, interpolation: str = "bilinear", data_format: str = "channels_last"):
    """Resize an image (or a batch) to ``size`` without distorting it: crop the largest
    centred window with the target's aspect ratio, then resize (Keras's ``smart_resize``).

    Args:
        x: ``(height, width, channels)`` or ``(batch, height, width, channels)`` (channels
            first for ``data_format="channels_first"``).
        size: ``(height, width)``.
        interpolation: ``"bilinear"`` (default), ``"nearest"`` or ``"bicubic"``.

    Returns:
        A float array of the new size.

    Example:
        >>> smart_resize(np.ones((40, 60, 3)), (20, 20)).shape
        (20, 20, 3)
    """
    if len(size) != 2:
        raise ValueError(f"smart_resize size must be (height, width), got {size!r}.")
    images = np.asarray(x)
    if images.ndim not in (3, 4):
        raise ValueError(
            "smart_resize expects (height, width, channels) or (batch, height, width, "
            f"channels), got shape {images.shape}."
        )
    single = images.ndim == 3
    batch = images[None] if single else images
    if data_format == "channels_first":
        batch = batch.transpose(0, 2, 3, 1)
    height, width = int(size[0]), int(size[1])
    top, left, crop_h, crop_w = _image_ops.aspect_crop_box(
        batch.shape[1], batch.shape[2], height, width
    )
    batch = batch[:, top : top + crop_h, left : left + crop_w]
    out = _image_ops.resize_array(batch, height, width, interpolation)
    if data_format == "channels_first":
        out = out.transpose(0, 3, 1, 2)
    return out[0] if single else out


__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
