"""Keras's top-level scopes and version: ``keras.name_scope``, ``keras.device``, ``keras.version``.

axonal runs on the CPU only and names weights by their layers, so both scopes are accepted for
the programs that use them: ``name_scope`` changes nothing, and ``device`` accepts a CPU and
refuses an accelerator by name.

Example:
    >>> with device("cpu"):
    ...     model.fit(x, y)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def name_scope(name: str, **kwargs) -> Iterator[None]:
    """Accepted for Keras compatibility; axonal names weights by their layers, not by scopes."""
    if not isinstance(name, str):
        raise TypeError(f"name_scope takes a string name, got {name!r}.")
    yield


@contextlib.contextmanager
def device(device_name: str) -> Iterator[None]:
    """Run the block on ``device_name``: ``'cpu'`` (or ``'cpu:0'``); anything else is refused,
    since axonal has no GPU or TPU support."""
    kind = str(device_name).lower().split(":")[0].lstrip("/").replace("device", "")
    if kind not in ("cpu", "job", ""):
        raise ValueError(
            f"keras.device({device_name!r}): axonal runs on the CPU only; use 'cpu' or remove "
            "the device scope."
        )
    yield


def version() -> str:
    """The version of axonal (Keras's ``keras.version()`` gives the Keras version)."""
    from axonal import __version__

    return __version__


__all__ = ["device", "name_scope", "version"]
