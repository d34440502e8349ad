"""Elementwise passes over large arrays split across two threads.

NumPy's elementwise loops run on one core, while BLAS uses them all: on a two-core machine a
transformer step's GEMMs ran twice as fast with both cores but its softmax and its Jacobian,
about a fifth of the step, did not. NumPy releases the GIL inside those loops, so running the
two halves of an array on two threads uses both cores. Only arrays of ``MIN_BYTES`` or more
are split (below that the hand-off costs more than it saves); results are identical, since
each element is computed by the same loop either way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

MIN_BYTES = 1 << 21

_pool: ThreadPoolExecutor | None = None
_HELPER_NAME = "axonal-halves"
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _forget_pool() -> None:
    # a forked child has the pool object but not its thread: work sent there would never run
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _split(a, first) -> bool:
    # broadcast operands (a bias row, a mask of fewer axes or of batch 1) and non-arrays (None)
    # go whole to both halves
    return getattr(a, "ndim", 0) == first.ndim and a.shape[0] == first.shape[0]


def in_halves(function: Callable, *arrays) -> None:
    """Run ``function(*arrays)`` as two calls on the halves of the arrays' leading axis.

    ``function`` writes its results into its arguments (NumPy ``out=``) and returns nothing.
    Arrays whose leading axis differs from the first array's (broadcast operands) and other
    arguments (None) are passed whole to both calls.
    """
    global _pool
    first = arrays[0]
    rows = first.shape[0] if first.ndim else 0
    # the helper thread itself runs its share whole: work it sent to itself would never start
    helper = threading.current_thread().name.startswith(_HELPER_NAME)
    if first.nbytes < MIN_BYTES or rows < 2 or (_CORES or 1) < 2 or helper:
        function(*arrays)
        return
    if _pool is None:
        # imported here: concurrent.futures brings logging and queue, ~10 ms of every start-up
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_HELPER_NAME)
    half = rows // 2
    lower = [a[:half] if _split(a, first) else a for a in arrays]
    upper = [a[half:] if _split(a, first) else a for a in arrays]
    pending = _pool.submit(function, *lower)
    function(*upper)
    pending.result()


__all__ = ["MIN_BYTES", "in_halves"]
