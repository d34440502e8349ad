"""Two halves of a batch at once: one on a helper thread, one on the caller's, BLAS on one each.

A convolution's GEMMs are skinny (6 or 16 output channels against tens of thousands of rows),
and OpenBLAS gains little from its second thread on them, while the copies around them (im2col,
col2im, the ReLU mask) run on one core in NumPy. Split by images, every step of a convolution is
independent, so the two halves run side by side with OpenBLAS held to one thread each: NumPy's
loops and BLAS both release the GIL, so the halves really overlap.

``run_pair`` is used only where ``available()``: at least two CPUs for this process and an
OpenBLAS whose thread count can be set at run time (NumPy's bundled one); otherwise callers run
one whole batch as before. The helper thread is started on first use, per process (a forked
child starts its own).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Any

# None: not looked up yet; False: not found; else (set_num_threads, get_num_threads)
_blas: Any = None
_helper: _Helper | None = None
_helper_pid = 0
# held while the helper works: a nested call (a half that itself splits) or one from another
# thread meanwhile runs its two parts in turn instead of waiting for the helper
_in_use = threading.Lock()


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def available() -> bool:
    """Whether ``run_pair`` can run halves in parallel (two CPUs, a controllable OpenBLAS)."""
    return cpu_count() >= 2 and bool(_blas_controls())


def run_pair(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """``(first(), second())``, the first on the helper thread while the caller runs the second,
    with OpenBLAS at one thread until both are done. An exception from either is raised here
    (the first's when both fail), after both have finished."""
    controls = _blas_controls()
    if not controls or not _in_use.acquire(blocking=False):
        return first(), second()
    set_threads, get_threads = controls
    try:
        threads = get_threads()
        helper = _get_helper()
        set_threads(1)
        try:
            helper.submit(first)
            try:
                answer = second()
            finally:
                result, error = helper.wait()
        finally:
            set_threads(threads)
    finally:
        _in_use.release()
    if error is not None:
        raise error
    return result, answer


class _Helper:
    """One daemon thread that runs submitted callables, one at a time."""

    def __init__(self) -> None:
        self._start = threading.Event()
        self._done = threading.Event()
        self._job: Callable[[], Any] | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._serve, name="axonal-half", daemon=True).start()

    def submit(self, job: Callable[[], Any]) -> None:
        self._job = job
        self._done.clear()
        self._start.set()

    def wait(self) -> tuple[Any, BaseException | None]:
        self._done.wait()
        result, error = self._result, self._error
        self._result = self._error = None
        return result, error

    def _serve(self) -> None:
        while True:
            self._start.wait()
            self._start.clear()
            try:
                self._result = self._job()
            except BaseException as error:  # handed to the caller, who re-raises it
                self._error = error
            self._job = None
            self._done.set()


def _get_helper() -> _Helper:
    global _helper, _helper_pid
    if _helper is None or _helper_pid != os.getpid():
        _helper, _helper_pid = _Helper(), os.getpid()
    return _helper


def _blas_controls() -> Any:
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS NumPy loaded, or False."""
    global _blas
    if _blas is None:
        _blas = _find_openblas() or False
    return _blas


def _find_openblas() -> Any:
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        if not path.startswith("/"):
            continue
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        # NumPy's wheels bundle scipy-openblas, whose symbols carry a prefix and suffix
        for prefix, suffix in (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", "")):
            try:
                set_threads = getattr(library, f"{prefix}openblas_set_num_threads{suffix}")
                get_threads = getattr(library, f"{prefix}openblas_get_num_threads{suffix}")
            except AttributeError:
                continue
            set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
            get_threads.argtypes, get_threads.restype = [], ctypes.c_int
            return set_threads, get_threads
    return None
