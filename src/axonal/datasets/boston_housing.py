"""Boston housing prices, as ``keras.datasets.boston_housing``."""

from __future__ import annotations

import numpy

from axonal.datasets import _files

FILE = "boston_housing.npz"
ORIGIN = _files.KERAS_ORIGIN + FILE


def load_data(path: str = FILE, test_split: float = 0.2, seed: int = 113):
    """Load the Boston housing table from ``$AXONAL_HOME/boston_housing.npz``.

    The file is Keras's, with ``x`` ``(506, 13)`` and ``y`` ``(506,)``; rows are shuffled
    with ``seed`` and split exactly as Keras splits them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 ``(404, 13)``, ``(404,)``,
        ``(102, 13)``, ``(102,)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1), received {test_split!r}.")
    file = _files.fetch(path, ORIGIN if path == FILE else None, "Boston housing")
    arrays = _files.load_npz(file, ("x", "y"), "Boston housing")
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y):
        raise ValueError(f"{file}: x has {len(x)} rows but y has {len(y)}.")
    # Keras seeds NumPy's global generator and shuffles; the same legacy stream, locally
    indices = numpy.arange(len(x))
    numpy.random.RandomState(seed).shuffle(indices)
    x = x[indices]
    y = y[indices]
    n_train = int(len(x) * (1 - test_split))
    return (numpy.array(x[:n_train]), numpy.array(y[:n_train])), (
        numpy.array(x[n_train:]),
        numpy.array(y[n_train:]),
    )
