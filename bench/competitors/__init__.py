"""The competitors: who runs which workload, and how to tell whether one is installed.

Each competitor's code lives in its own module (``axonal_impl``, ``torch_impl``…) with the same
small interface, so a workload is written once against it:

- ``setup(threads)``: import and configure the library; return its version string.
- ``native(array)``: a NumPy array in the form the library trains on (a tensor for PyTorch).
- ``build(sizes, seed)``: a fresh, compiled dense stack ``sizes[0] → … → sizes[-1]`` with ReLU
  hidden layers, a softmax output (or logits plus a softmax loss), sparse cross-entropy and
  Adam(learning_rate=1e-3).
- ``native_images(array)``: channels-last float32 images ``(n, h, w, c)`` in the form and
  layout the library trains a CNN on (NCHW for PyTorch); CNN competitors only.
- ``build_cnn(input_shape, layers, classes, seed)``: a fresh, compiled CNN (layer specs as in
  ``bench.workloads.cnn.LAYERS``) with a softmax output (or logits plus a softmax loss), sparse
  cross-entropy and Adam(learning_rate=1e-3); CNN competitors only.
- ``build_transformer(model, seed)``: a fresh, compiled transformer-encoder classifier on token
  ids (sizes in a ``bench.workloads.transformer.Spec``) with a softmax output (or logits plus a
  softmax loss), sparse cross-entropy and Adam(learning_rate=1e-3); transformer competitors only.
- ``fit(model, x, y, epochs, batch_size)``: train with a fresh shuffle every epoch.
- ``predict_one(model)``: a function of one native input row, the library's single-sample call.
- ``predict_many(model, x, batch_size)``: predictions for many rows (``None``: the default).
- ``load_runtime()`` (optional): load what the library would otherwise load lazily during
  training (axonal: numba and its compiled kernels), so the memory workloads' baseline holds
  every library's code, as PyTorch's holds what ``import torch`` loads.

Availability is decided without importing anything (``importlib.util.find_spec``), so a missing
library costs nothing and the main process stays free of torch's and Keras's threads.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Competitor:
    """One row of the tables.

    Attributes:
        key: the name in ``results.json`` and on the command line (``--competitors``).
        label: the name in the printed table.
        module: the implementation module.
        requires: importable top-level modules it needs.
        workloads: the in-process workloads it takes part in (``memory``, ``cnn_memory`` and
            ``stream`` run in a fresh worker each).
        threads: intra-op threads to set (PyTorch only); None leaves the library's default.
    """

    key: str
    label: str
    module: str
    requires: tuple[str, ...]
    workloads: tuple[str, ...]
    threads: int | None = None


COMPETITORS: tuple[Competitor, ...] = (
    Competitor(
        "axonal",
        "axonal",
        "bench.competitors.axonal_impl",
        ("numpy",),
        (
            "iris",
            "mlp",
            "predict",
            "memory",
            "cnn",
            "cnn_memory",
            "digits_cnn",
            "explain_ig",
            "dp",
            "load",
            "stream",
            "transformer",
            "conv1d_ts",
            "bilstm_imdb",
            "curves",
        ),
    ),
    Competitor(
        "axonal_numpy",
        "axonal, NumPy only",
        "bench.competitors.axonal_numpy_impl",
        ("numpy", "numba"),
        ("mlp", "memory"),
    ),
    Competitor(
        "pytorch",
        "PyTorch",
        "bench.competitors.torch_impl",
        ("torch",),
        (
            "iris",
            "mlp",
            "predict",
            "memory",
            "cnn",
            "cnn_memory",
            "digits_cnn",
            "explain_ig",
            "stream",
            "transformer",
            "conv1d_ts",
            "bilstm_imdb",
            "curves",
        ),
    ),
    Competitor(
        "pytorch_1t",
        "PyTorch, 1 thread",
        "bench.competitors.torch_impl",
        ("torch",),
        ("iris", "predict", "cnn", "digits_cnn", "stream", "transformer"),
        threads=1,
    ),
    Competitor(
        "keras",
        "Keras 3",
        "bench.competitors.keras_impl",
        ("keras",),
        (
            "iris",
            "mlp",
            "predict",
            "cnn",
            "digits_cnn",
            "load",
            "transformer",
            "conv1d_ts",
            "bilstm_imdb",
            "curves",
        ),
    ),
    Competitor(
        "sklearn",
        "scikit-learn",
        "bench.competitors.sklearn_impl",
        ("sklearn",),
        ("iris",),
    ),
    Competitor(
        "numpy",
        "NumPy reference",
        "bench.competitors.numpy_impl",
        ("numpy",),
        ("iris", "mlp", "predict", "memory"),
    ),
)

# the two columns every ratio is taken against
REFERENCES = ("pytorch", "numpy")

# Keras 3 backends in order of preference when KERAS_BACKEND is not set
_KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def get(key: str) -> Competitor:
    """The competitor called ``key``."""
    for competitor in COMPETITORS:
        if competitor.key == key:
            return competitor
    known = ", ".join(c.key for c in COMPETITORS)
    raise KeyError(f"unknown competitor {key!r}: expected one of {known}")


def installed(module: str) -> bool:
    """Whether a top-level module can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def keras_backend() -> str | None:
    """The Keras backend to use: ``KERAS_BACKEND`` if set, else the first installed one."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    for backend in _KERAS_BACKENDS:
        if installed(backend):
            return backend
    return None


def missing(modules: tuple[str, ...]) -> list[str]:
    """Those of ``modules`` that cannot be imported here."""
    return [name for name in modules if not installed(name)]


def unavailable_reason(competitor: Competitor) -> str | None:
    """Why ``competitor`` cannot run here, or None when it can."""
    missing_modules = missing(competitor.requires)
    if missing_modules:
        return f"{', '.join(missing_modules)} not installed"
    if competitor.key == "keras":
        backend = keras_backend()
        if backend is None:
            return "no Keras backend installed (tensorflow, jax or torch)"
        if not installed(backend):
            return f"KERAS_BACKEND={backend} is not installed"
    return None


def worker_env_extra(competitor: Competitor) -> dict[str, str]:
    """Environment variables a competitor's worker process needs."""
    if competitor.key == "keras":
        backend = keras_backend()
        if backend:
            return {"KERAS_BACKEND": backend}
    return {}
