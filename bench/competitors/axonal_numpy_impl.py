"""axonal on NumPy alone: the ``axonal`` competitor compiled with ``jit_compile=False``.

Where numba is not installed this is what ``axonal`` is anyway; where it is, the two rows show
what the compiled optimizer update is worth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.competitors import axonal_impl
from bench.competitors.axonal_impl import (  # noqa: F401 - the competitor interface
    fit,
    native,
    native_images,
    predict_many,
    predict_one,
    setup,
)


def build(sizes: Sequence[int], seed: int) -> Any:
    """``axonal_impl.build`` with ``jit_compile=False``."""
    return axonal_impl.build(sizes, seed, jit_compile=False)


def build_cnn(
    input_shape: Sequence[int], layers: Sequence[tuple[Any, ...]], classes: int, seed: int
) -> Any:
    """``axonal_impl.build_cnn`` with ``jit_compile=False``."""
    return axonal_impl.build_cnn(input_shape, layers, classes, seed, jit_compile=False)
