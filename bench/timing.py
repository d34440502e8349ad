"""Timing primitives on ``time.perf_counter``; best-of-N is taken over rounds by the runner.

The machine is shared and noisy, so every figure is the best (smallest) of several samples:
noise only ever adds time. Warm-up happens once per worker, in each workload's ``Session``.
The garbage collector stays on, as in real training (a library whose graphs make reference
cycles pays for collecting them), but each sample starts after a collection so it does not pay
for the previous sample's garbage.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes, after a garbage collection."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def calibrate(fn: Callable[[], Any], min_block_s: float) -> int:
    """Calls per block for a fast call, like ``timeit.autorange``; doubles as the warm-up.

    The block size doubles from 1 until a block of back-to-back calls lasts ``min_block_s``, so
    the timer's resolution and the loop's overhead are negligible.
    """
    number = 1
    while number < 1 << 20:
        if _block(fn, number) >= min_block_s:
            break
        number *= 2
    return number


def per_call(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over one block of ``number`` back-to-back calls."""
    gc.collect()
    return _block(fn, number) / number


def _block(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - start
