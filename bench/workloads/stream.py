"""stream: one epoch from a memory-mapped file far larger than what should sit in memory.

Run with ``python -m bench --only stream``. It is not part of the default run, as
``distributed`` is not: at full size it needs 20 GiB free in the temporary directory (many
laptops and CI runners have less, and the default run must work everywhere), writes 10 GiB
(50–60 s on the 2-core development machine) and reads all of it back once per competitor: 1.5
to 5 minutes in all there depending on co-tenants, as long again as the whole default run, and
tens of GB of disk traffic that would disturb any other workload running beside it.

The data: ``settings.stream_gib`` GiB of float32 features (full 10 GiB, quick 64 MiB), 256 per
row, standard normal from a seeded generator, and int64 labels 0/1 (the sign of a fixed random
projection of the row, so there is something to learn). The runner writes them once (``data``),
chunk by chunk, as two raw files in a fresh temporary directory, after checking that the
directory's file system has twice their size free (a clear error otherwise), and deletes the
directory afterwards, also on error or interruption. Each competitor then runs in a fresh
worker process, as ``memory`` does, so its peak RSS is its own:

- the worker first drops the files' pages from the page cache (``posix_fadvise(DONTNEED)``
  after the writer's ``fsync``), so every competitor reads the data from disk as a data set
  larger than memory would be, and none profits from the one before it;
- it opens both files with ``numpy.memmap(mode="r")`` and imports what training needs; the RSS
  then (``VmRSS``) is the baseline, and the peak (``VmHWM``) is reset to it
  (``/proc/self/clear_refs``), so the peak is training's even if an import went higher;
  ``ru_maxrss`` is not used, since after a ``vfork`` it can hold the parent's (the runner's)
  peak;
- it builds the model and trains one epoch, timed, while a thread reads ``/proc/self/status``
  every 10 ms for the peaks of ``RssAnon`` (heap: batches, model, library state) and
  ``RssFile`` (file pages mapped into the process, the memmap's among them), which
  ``VmHWM``, the true peak of their sum, cannot tell apart.

The model is ``Input((256,))`` → ``Dense(16, relu)`` → ``Dense(2, softmax)``, Adam
(learning_rate=1e-3) and sparse categorical cross-entropy, batch 1,024:

- **axonal**: ``Dataset.from_tensor_slices((x, y)).batch(1024).prefetch(2)`` over the two
  memmaps, ``model.fit(ds, epochs=1, verbose=0)``.
- **PyTorch**: a ``torch.utils.data.Dataset`` over the same memmaps whose ``__getitem__`` takes
  the index list of a ``BatchSampler(SequentialSampler(ds), 1024, drop_last=False)`` and
  returns one batch, ``torch.from_numpy(numpy.array(x[start:stop]))`` and the labels alike;
  ``DataLoader(ds, batch_size=None, sampler=...)``; ``nn.Linear(256, 16)``, ``nn.ReLU``,
  ``nn.Linear(16, 2)`` logits, ``F.cross_entropy``, the Adam of the other PyTorch rows, the
  training loop of ``bench.competitors.torch_impl``; torch's default threads (2 here) in the
  ``PyTorch`` row and one in the ``PyTorch, 1 thread`` row, as elsewhere in the suite. The
  1-thread row is cheap here and worth having: a step of this model is a fraction of a
  millisecond, and torch's two OpenMP threads lose several times that whenever a co-tenant
  holds a core (see "Reading the figures on a shared machine" in ``bench/README.md``).

Figures: the primary one is the peak RSS during training (``VmHWM``) minus the baseline, in
MiB, lower is better, with ``vs PyTorch`` on it; throughput in GB/s (1e9 bytes of features and
labels trained on per second) and rows/s, with a ratio column of its own; the baseline, the
peak RSS of the whole process and the sampled peaks of ``RssAnon`` and ``RssFile``. The
project's target: a 10 GB set streamed from a memory-mapped file trains with less than 500 MB
(477 MiB) of RSS.
``results.json`` also holds what the process read from storage during the epoch
(``/proc/self/io`` ``read_bytes``), which shows whether the page-cache drop took effect.

There is one sample per competitor (an epoch is the whole file), so the memory figures, which
do not depend on timing, are the point; the throughput depends on the disk and on co-tenants:
over three full runs on the development machine it ranged from 0.15 to 0.91 GB/s for axonal
and from 0.05 to 1.0 GB/s for PyTorch with two threads.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.workloads import Metric, Ratio

TITLE = (
    "stream: one epoch from a memory-mapped float32 file, 256 features, Dense 16 relu → Dense 2 "
    "softmax, Adam, batch 1,024; peak RSS above the RSS after imports and opening the file"
)
METRICS = (
    Metric("peak_delta_mb", "peak − baseline (MiB)"),
    Metric("gb_per_s", "GB/s"),
    Metric("rows_per_s", "rows/s"),
    Metric("baseline_mb", "baseline (MiB)"),
    Metric("peak_mb", "peak RSS (MiB)"),
    Metric("peak_anon_mb", "peak RssAnon (MiB)"),
    Metric("peak_file_mb", "peak RssFile (MiB)"),
)
PRIMARY = "peak_delta_mb"
HIGHER_IS_BETTER = False
SAMPLE_KEY = None
EXTRA_RATIOS = (Ratio("gb_per_s", "GB/s vs PyTorch", higher_is_better=True),)

FEATURES = 256
BATCH_SIZE = 1_024
HIDDEN = 16
CLASSES = 2
X_FILE = "x.f32"
Y_FILE = "y.i64"
# rows generated and written at a time: 64 MiB of features
_CHUNK_ROWS = 65_536
# how often the sampler thread reads /proc/self/status during the epoch
_SAMPLE_INTERVAL_S = 0.01
_MIB = 1024.0 * 1024.0
_GIB = 1024.0**3


def rows(settings: Settings) -> int:
    """Rows in the data: ``stream_gib`` GiB of float32 features, 256 per row."""
    return max(1, int(settings.stream_gib * _GIB) // (FEATURES * 4))


def data_bytes(settings: Settings) -> int:
    """Bytes of features and labels together."""
    return rows(settings) * (FEATURES * 4 + 8)


@contextlib.contextmanager
def data(settings: Settings, log: Callable[[str], None] = print) -> Iterator[Path]:
    """Write the data set into a fresh temporary directory; yield it; delete it afterwards.

    Raises:
        RuntimeError: when the directory's file system has less than twice the data's size
            free (checked before writing anything).
    """
    directory = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        needed = 2 * data_bytes(settings)
        free = shutil.disk_usage(directory).free
        if free < needed:
            raise RuntimeError(
                f"stream needs {needed / _GIB:.1f} GiB free (twice its "
                f"{data_bytes(settings) / _GIB:.2f} GiB of data) in {directory.parent}, which "
                f"has {free / _GIB:.1f} GiB free; point TMPDIR at a larger disk"
            )
        log(f"stream: writing {data_bytes(settings) / _GIB:.2f} GiB to {directory}")
        started = time.perf_counter()
        _write(directory, settings)
        log(f"stream: written in {time.perf_counter() - started:.1f} s")
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write(directory: Path, settings: Settings) -> None:
    """Features and labels, a chunk at a time, each file fsync'd so its pages can be dropped."""
    n = rows(settings)
    rng = numpy.random.default_rng(settings.seed)
    direction = rng.standard_normal(FEATURES).astype(numpy.float32)
    with open(directory / X_FILE, "wb") as xf, open(directory / Y_FILE, "wb") as yf:
        for start in range(0, n, _CHUNK_ROWS):
            count = min(_CHUNK_ROWS, n - start)
            x = rng.standard_normal((count, FEATURES), dtype=numpy.float32)
            y = (x @ direction > 0).astype(numpy.int64)
            xf.write(memoryview(x).cast("B"))
            yf.write(memoryview(y).cast("B"))
        for handle in (xf, yf):
            handle.flush()
            os.fsync(handle.fileno())


def _drop_page_cache(path: Path) -> None:
    """Ask the kernel to drop the file's (clean, unmapped) pages from the page cache."""
    if not hasattr(os, "posix_fadvise"):
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def _status() -> dict[str, int]:
    """``VmRSS``, ``RssAnon``, ``RssFile`` and ``VmHWM`` from /proc/self/status, in bytes."""
    values = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux 4.0+); whether that worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _read_bytes() -> int | None:
    """Bytes this process has caused to be read from storage (/proc/self/io), if known."""
    try:
        with open("/proc/self/io", encoding="ascii") as io:
            for line in io:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class _Sampler:
    """A thread keeping the largest ``RssAnon`` and ``RssFile`` seen while it runs."""

    def __init__(self) -> None:
        self.peaks = {"RssAnon": 0, "RssFile": 0}
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _take(self) -> None:
        values = _status()
        for key in self.peaks:
            self.peaks[key] = max(self.peaks[key], values.get(key, 0))
        self.count += 1

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_INTERVAL_S):
            self._take()

    def __enter__(self) -> _Sampler:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


# ---- the two competitors ---------------------------------------------------------------------


def _axonal_prepare() -> None:
    import axonal.data  # noqa: F401
    import axonal.layers  # noqa: F401
    import axonal.models  # noqa: F401
    import axonal.optimizers  # noqa: F401


def _axonal_train(x: numpy.memmap, y: numpy.memmap, seed: int) -> None:
    import axonal
    from axonal.layers import Dense, Input
    from axonal.models import Sequential
    from axonal.optimizers import Adam
    from axonal.utils import clear_session, set_random_seed

    clear_session()
    set_random_seed(seed)
    model = Sequential(
        [Input((FEATURES,)), Dense(HIDDEN, activation="relu"), Dense(CLASSES, activation="softmax")]
    )
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy")
    ds = axonal.data.Dataset.from_tensor_slices((x, y)).batch(BATCH_SIZE).prefetch(2)
    model.fit(ds, epochs=1, verbose=0)


def _torch_prepare() -> None:
    import torch.nn.functional  # noqa: F401
    import torch.utils.data  # noqa: F401


def _torch_train(x: numpy.memmap, y: numpy.memmap, seed: int) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler

    from bench.competitors.torch_impl import _adam

    class MemmapBatches(Dataset):
        """Rows of the memmaps; ``__getitem__`` takes a batch's (consecutive) indices."""

        def __init__(self, features: numpy.memmap, labels: numpy.memmap):
            self.features = features
            self.labels = labels

        def __len__(self) -> int:
            return len(self.features)

        def __getitem__(self, indices: list[int]) -> tuple[Any, Any]:
            start, stop = indices[0], indices[-1] + 1
            return (
                torch.from_numpy(numpy.array(self.features[start:stop])),
                torch.from_numpy(numpy.array(self.labels[start:stop])),
            )

    torch.manual_seed(seed)
    module = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))
    optimizer = _adam(module.parameters())
    dataset = MemmapBatches(x, y)
    sampler = BatchSampler(SequentialSampler(dataset), BATCH_SIZE, drop_last=False)
    loader = DataLoader(dataset, batch_size=None, sampler=sampler)
    module.train()
    total = 0.0
    for features, labels in loader:
        loss = F.cross_entropy(module(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)


# per competitor module: (import what training needs, train one epoch)
_LIBRARIES: dict[str, tuple[Callable[[], None], Callable[..., None]]] = {
    "axonal_impl": (_axonal_prepare, _axonal_train),
    "torch_impl": (_torch_prepare, _torch_train),
}


class Session:
    """The page cache dropped, the memmaps open, the libraries imported: the baseline RSS."""

    def __init__(self, impl: ModuleType, settings: Settings):
        library = impl.__name__.rsplit(".", 1)[-1]
        if library not in _LIBRARIES:
            raise RuntimeError(f"no stream benchmark for {library}")
        if not settings.stream_dir:
            raise RuntimeError("stream: no data directory (the runner writes it, see data())")
        prepare, self.train = _LIBRARIES[library]
        directory = Path(settings.stream_dir)
        n = rows(settings)
        for name in (X_FILE, Y_FILE):
            _drop_page_cache(directory / name)
        self.x = numpy.memmap(
            directory / X_FILE, dtype=numpy.float32, mode="r", shape=(n, FEATURES)
        )
        self.y = numpy.memmap(directory / Y_FILE, dtype=numpy.int64, mode="r", shape=(n,))
        self.settings = settings
        prepare()
        gc.collect()
        status = _status()
        if "VmRSS" not in status or "VmHWM" not in status:
            raise RuntimeError("stream reads the RSS from /proc/self/status (Linux only)")
        self.baseline = status["VmRSS"]
        self.peak_before = status["VmHWM"]
        # from here VmHWM is training's peak (otherwise it would keep an import's transient)
        self.peak_reset = _reset_peak()

    def sample(self) -> dict[str, float]:
        """Build, train one epoch (timed), read the peaks. Meaningful once per process."""
        read_before = _read_bytes()
        with _Sampler() as sampler:
            started = time.perf_counter()
            self.train(self.x, self.y, self.settings.seed)
            seconds = time.perf_counter() - started
        read_after = _read_bytes()
        result: dict[str, float] = {
            "fit_s": seconds,
            "baseline_b": self.baseline,
            "peak_before_b": self.peak_before,
            "peak_reset": self.peak_reset,
            "peak_b": _status()["VmHWM"],
            "peak_anon_b": sampler.peaks["RssAnon"],
            "peak_file_b": sampler.peaks["RssFile"],
            "rss_samples": sampler.count,
        }
        if read_before is not None and read_after is not None:
            result["disk_read_b"] = read_after - read_before
        return result


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """MiB and throughput figures from the one sample."""
    (sample,) = samples
    seconds = sample["fit_s"]
    result: dict[str, Any] = {
        "peak_delta_mb": (sample["peak_b"] - sample["baseline_b"]) / _MIB,
        "gb_per_s": data_bytes(settings) / seconds / 1e9,
        "rows_per_s": rows(settings) / seconds,
        "baseline_mb": sample["baseline_b"] / _MIB,
        "peak_mb": sample["peak_b"] / _MIB,
        # VmHWM at the baseline; when it could not be reset, a peak before training above the
        # training peak would hide it
        "peak_before_training_mb": sample["peak_before_b"] / _MIB,
        "peak_reset_at_baseline": bool(sample["peak_reset"]),
        "peak_anon_mb": sample["peak_anon_b"] / _MIB,
        "peak_file_mb": sample["peak_file_b"] / _MIB,
        "rss_samples": int(sample["rss_samples"]),
        "fit_s": seconds,
        "rows": rows(settings),
        "data_gb": data_bytes(settings) / 1e9,
    }
    if "disk_read_b" in sample:
        result["disk_read_gb"] = sample["disk_read_b"] / 1e9
    return result
