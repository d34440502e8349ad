"""Keeping freed memory for the next training step instead of returning it to the kernel.

A training step allocates and frees the same large temporaries every step (attention scores,
activations, their gradients: tens of MiB). glibc's malloc decides per free whether to hand
memory back to the kernel: blocks above its mmap threshold are unmapped, and free space above
its trim threshold at the top of the heap is trimmed. Memory handed back costs a page fault per
4 KiB page when the next step touches it again: a transformer step at batch 32 took 10,700 minor
faults (42 MiB) and a third of its time in them.

glibc adapts both thresholds upward by itself: freeing an mmapped block raises the mmap
threshold to that block's size (up to 32 MiB) and the trim threshold to twice it. So once any
program has freed a 32 MiB array, later temporaries up to 32 MiB come from the heap and up to
64 MiB of free heap is kept. ``keep_freed_memory`` frees one such (never touched) block before
training, reaching that state at once rather than by chance; it changes no allocator setting
and costs nothing on other C libraries or where a program fixed its thresholds with
``mallopt`` (glibc's adaptation is off then).
"""

from __future__ import annotations

from axonal.backend import xp

# glibc's ceiling for the adaptive mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
_ADAPTIVE_CEILING = 32 << 20
_done = False


def keep_freed_memory() -> None:
    """Let the C allocator keep up to 64 MiB of freed memory for reuse (once per process).

    Example:
        >>> keep_freed_memory()  # called by fit, evaluate and predict
    """
    global _done
    if _done:
        return
    _done = True
    # just under the ceiling: malloc's chunk header must still fit below it. Never touched, so
    # no page is faulted in; the free is what moves the thresholds.
    block = xp.empty(_ADAPTIVE_CEILING - (1 << 16), dtype=xp.uint8)
    del block


__all__ = ["keep_freed_memory"]
