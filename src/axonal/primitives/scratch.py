"""A pool of released work arrays, reused by shape and dtype from one training step to the next.

Large temporaries (im2col matrices, column gradients, pooling windows, padded copies) are made
and dropped once per layer per step. Fresh memory from the OS costs a page fault per page on
first touch, which made these copies several times slower than the copy itself (a LeNet step
went from 20 to 11 ms once they were reused); so a released array waits here for the next array
of its shape and dtype. Only arrays no one else can see are released: an op's own temporaries,
and what it saved for backward once the graph has dropped the op.
"""

from __future__ import annotations

from axonal.backend import xp

_POOL: dict[tuple, list] = {}
_PER_KEY = 4
MIN_BYTES = 1 << 18
_MAX_BYTES = 1 << 28
_pooled_bytes = 0


def take(shape: tuple, dtype):
    """An uninitialised array of ``shape``: a released one when available, else a new one."""
    global _pooled_bytes
    free = _POOL.get((tuple(shape), xp.dtype(dtype).str))
    if free:
        array = free.pop()
        _pooled_bytes -= array.nbytes
        return array
    return xp.empty(shape, dtype=dtype)


def release(array) -> None:
    """Offer ``array`` (from ``take``, no longer read by anyone) for reuse."""
    global _pooled_bytes
    if array is None or array.nbytes < MIN_BYTES or not array.flags.c_contiguous:
        return
    if _pooled_bytes + array.nbytes > _MAX_BYTES:
        # too much parked (many shapes: varying batch sizes): start over rather than hoard
        _POOL.clear()
        _pooled_bytes = 0
    free = _POOL.setdefault((array.shape, array.dtype.str), [])
    if len(free) < _PER_KEY:
        free.append(array)
        _pooled_bytes += array.nbytes
