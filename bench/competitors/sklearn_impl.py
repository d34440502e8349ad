"""scikit-learn's MLPClassifier, configured to do the same work as the other iris programs.

Adam with learning_rate_init=1e-3, no L2 penalty (``alpha=0``, as the others have none), the
given batch size, exactly ``max_iter`` epochs (``tol=0`` and an unreachable
``n_iter_no_change`` switch the early stop off), a shuffle per epoch. It computes in the dtype of
its input, float32 here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy


def setup(threads: int | None = None) -> str:
    """Import scikit-learn; return its version."""
    import sklearn

    return sklearn.__version__


def native(array: numpy.ndarray) -> numpy.ndarray:
    """scikit-learn takes NumPy arrays."""
    return array


def build(sizes: Sequence[int], seed: int) -> Any:
    """An unfitted ``MLPClassifier`` with ReLU hidden layers ``sizes[1:-1]``."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=10,
        learning_rate_init=1e-3,
        epsilon=1e-7,
        max_iter=100,
        tol=0.0,
        n_iter_no_change=10**9,
        shuffle=True,
        random_state=seed,
    )


def fit(model: Any, x: numpy.ndarray, y: numpy.ndarray, epochs: int, batch_size: int) -> None:
    """``model.fit`` for exactly ``epochs`` epochs; the end-of-run ConvergenceWarning is noise."""
    from sklearn.exceptions import ConvergenceWarning

    model.set_params(max_iter=epochs, batch_size=batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
