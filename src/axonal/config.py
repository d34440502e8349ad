"""Keras's ``keras.config`` surface: float type, fuzz factor, image layout and backend name.

The float type and epsilon live in ``backend``; these functions are the names Keras programs
call. Traceback filtering is a TensorFlow/Keras debugging aid with nothing to filter here, so
its switches are accepted and do nothing.

Example:
    >>> from axonal import config
    >>> config.floatx()
    'float32'
"""

from __future__ import annotations

from axonal import backend as _backend
from axonal.backend import epsilon, floatx, set_epsilon, set_floatx

_IMAGE_DATA_FORMAT = "channels_last"
_TRACEBACK_FILTERING = True


def image_data_format() -> str:
    """Return the default image layout of layers created with ``data_format=None``.

    ``'channels_last'`` (batch, ..., channels) unless ``set_image_data_format`` changed it.
    """
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Set the default layout, ``'channels_last'`` or ``'channels_first'`` (batch, channels, ...).

    Layers compute channels-last and transpose channels-first inputs at their boundary.
    """
    global _IMAGE_DATA_FORMAT
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"The `data_format` must be 'channels_last' or 'channels_first', got {data_format!r}."
        )
    _IMAGE_DATA_FORMAT = value


def backend() -> str:
    """Return the name of the array library computations run on: ``'numpy'``."""
    return _backend.xp.__name__


def disable_traceback_filtering() -> None:
    """Accepted for Keras compatibility; axonal never filters tracebacks."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def enable_traceback_filtering() -> None:
    """Accepted for Keras compatibility; axonal never filters tracebacks."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def is_traceback_filtering_enabled() -> bool:
    """Return the last value set by the enable/disable switches (they change nothing else)."""
    return _TRACEBACK_FILTERING


__all__ = [
    "backend",
    "disable_traceback_filtering",
    "enable_traceback_filtering",
    "epsilon",
    "floatx",
    "image_data_format",
    "is_traceback_filtering_enabled",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
