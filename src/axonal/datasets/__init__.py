"""Small bundled data sets and the two helpers the iris program needs (split and standardise).

The iris table ships inside the package as plain CSV, so ``axonal train`` needs neither
scikit-learn nor a download. ``train_test_split`` and ``standardize`` reproduce scikit-learn's
``train_test_split`` and ``StandardScaler`` exactly, so results match the classic Keras program.

The Keras data sets (``mnist``, ``fashion_mnist``, ``cifar10``, ``imdb``, ``boston_housing``)
are submodules with ``load_data()``, reading files from ``$AXONAL_HOME`` (default
``~/.axonal/datasets``) and never unpickling anything; see each module's docstring.
"""

from __future__ import annotations

import csv
import math
from importlib import resources

import numpy

from axonal import backend
from axonal.datasets import boston_housing, cifar10, fashion_mnist, imdb, mnist

__all__ = [
    "boston_housing",
    "cifar10",
    "fashion_mnist",
    "imdb",
    "load_iris",
    "mnist",
    "standardize",
    "train_test_split",
]

_IRIS_FILE = "iris.csv"
_IRIS_HEADER = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
# scikit-learn's target_names: a species' position is its class number
_IRIS_SPECIES = ("setosa", "versicolor", "virginica")


def load_iris() -> tuple[numpy.ndarray, numpy.ndarray]:
    """Load Fisher's iris table bundled with axonal (150 flowers, 4 measurements, 3 species).

    The values are identical to scikit-learn's ``load_iris()``.

    Returns:
        ``(x, y)``: ``x`` is a float64 array of shape ``(150, 4)`` holding sepal length, sepal
        width, petal length and petal width in cm; ``y`` is an int64 array of shape ``(150,)``
        holding the species as 0 (setosa), 1 (versicolor) or 2 (virginica), as scikit-learn
        numbers them (the CSV holds the names).

    Example:
        >>> x, y = load_iris()
        >>> x.shape, y.shape
        ((150, 4), (150,))
    """
    source = resources.files(__name__).joinpath(_IRIS_FILE)
    with source.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header != _IRIS_HEADER:
            raise ValueError(
                f"{_IRIS_FILE}: expected header {','.join(_IRIS_HEADER)}, "
                f"received {','.join(header)}."
            )
        features = []
        labels = []
        classes = {name: i for i, name in enumerate(_IRIS_SPECIES)}
        for line, row in enumerate(reader, start=2):
            features.append([float(value) for value in row[:4]])
            if row[4] not in classes:
                raise ValueError(
                    f"{_IRIS_FILE}, line {line}: expected a species among "
                    f"{', '.join(_IRIS_SPECIES)}, received {row[4]!r}."
                )
            labels.append(classes[row[4]])
    return numpy.array(features, dtype=numpy.float64), numpy.array(labels, dtype=numpy.int64)


def _split_sizes(n_samples: int, test_size: float | int) -> tuple[int, int]:
    """Return ``(n_train, n_test)`` the way scikit-learn computes them."""
    if isinstance(test_size, bool) or not isinstance(
        test_size, (int, float, numpy.integer, numpy.floating)
    ):
        raise ValueError(
            f"test_size must be a float in (0, 1) or an int in [1, {n_samples - 1}], "
            f"received {test_size!r}."
        )
    if isinstance(test_size, (int, numpy.integer)):
        if not 0 < test_size < n_samples:
            raise ValueError(
                f"test_size={test_size} should be a positive int smaller than the number of "
                f"samples {n_samples}, or a float in the (0, 1) range."
            )
        n_test = int(test_size)
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(
                f"test_size={test_size} should be a float in the (0, 1) range, or a positive "
                f"int smaller than the number of samples {n_samples}."
            )
        n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    if n_train == 0:
        raise ValueError(
            f"With {n_samples} samples and test_size={test_size} the training set would be "
            "empty; lower test_size."
        )
    return n_train, n_test


def train_test_split(
    x, y, test_size: float | int = 0.2, random_state: int | None = None
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Shuffle rows and split them into a training part and a test part.

    With an int ``random_state`` the split is identical to scikit-learn's
    ``train_test_split(x, y, test_size=..., random_state=...)``: the test rows are the first
    ``ceil(test_size * n)`` entries of ``numpy.random.RandomState(random_state).permutation(n)``
    and the training rows are the rest, in permutation order.

    Args:
        x: array-like of shape ``(n, ...)``.
        y: array-like of shape ``(n, ...)``, the same number of rows as ``x``.
        test_size: a float in (0, 1), the share of rows held out (rounded up), or an int, the
            number of rows held out.
        random_state: an int seed for a reproducible split; None draws the permutation from
            axonal's generator, which ``axonal.utils.set_random_seed`` seeds.

    Returns:
        ``(x_train, x_test, y_train, y_test)`` as NumPy arrays.

    Example:
        >>> x, y = load_iris()
        >>> x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=42)
        >>> len(x_train), len(x_test)
        (120, 30)
    """
    x = numpy.asarray(x)
    y = numpy.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"x and y must be arrays with one row per sample, received shapes {x.shape} "
            f"and {y.shape}."
        )
    if len(x) != len(y):
        raise ValueError(
            f"x and y must have the same number of rows, received {len(x)} rows in x and "
            f"{len(y)} in y."
        )
    n_samples = len(x)
    n_train, n_test = _split_sizes(n_samples, test_size)
    if random_state is None:
        permutation = backend.rng().permutation(n_samples)
    elif isinstance(random_state, (int, numpy.integer)) and not isinstance(random_state, bool):
        # the legacy generator is what scikit-learn seeds for an int, so the splits agree
        permutation = numpy.random.RandomState(int(random_state)).permutation(n_samples)
    else:
        raise ValueError(f"random_state must be an int or None, received {random_state!r}.")
    test_rows = permutation[:n_test]
    train_rows = permutation[n_test : n_test + n_train]
    return x[train_rows], x[test_rows], y[train_rows], y[test_rows]


def standardize(x_train, x_test) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Scale each column to zero mean and unit variance, using statistics of the training rows.

    Equals scikit-learn's ``StandardScaler().fit(x_train)`` followed by ``transform`` on both
    arrays: the population standard deviation (ddof=0) is used, and a constant column (zero
    variance) is only centred, with scale 1.

    Args:
        x_train: array-like of shape ``(n_train, features)``; the mean and scale come from it.
        x_test: array-like of shape ``(n_test, features)``, transformed with the same statistics.

    Returns:
        ``(x_train_scaled, x_test_scaled)``, float arrays of the input shapes (float64 unless
        the inputs were another float type).

    Example:
        >>> x_train, x_test = standardize([[1.0], [3.0]], [[2.0]])
        >>> x_train.ravel().tolist(), x_test.ravel().tolist()
        ([-1.0, 1.0], [0.0])
    """
    x_train = numpy.asarray(x_train)
    x_test = numpy.asarray(x_test)
    if x_train.ndim != 2 or x_test.ndim != 2:
        raise ValueError(
            f"standardize expects 2-D arrays (rows, features), received shapes {x_train.shape} "
            f"and {x_test.shape}."
        )
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"x_train and x_test must have the same number of features, received "
            f"{x_train.shape[1]} and {x_test.shape[1]}."
        )
    if len(x_train) == 0:
        raise ValueError("standardize needs at least one training row, received 0.")
    out_dtype = x_train.dtype if x_train.dtype.kind == "f" else numpy.dtype(numpy.float64)
    # statistics in float64 whatever the input type, as scikit-learn does
    train64 = x_train.astype(numpy.float64)
    n_samples = len(train64)
    mean = train64.mean(axis=0)
    var = ((train64 - mean) ** 2).mean(axis=0)
    # a column whose variance is within rounding error of zero is treated as constant
    # (scikit-learn's bound for the two-pass variance)
    eps = numpy.finfo(numpy.float64).eps
    constant = var <= n_samples * eps * var + (n_samples * mean * eps) ** 2
    scale = numpy.where(constant, 1.0, numpy.sqrt(var))
    train_scaled = ((train64 - mean) / scale).astype(out_dtype)
    test_scaled = ((x_test.astype(numpy.float64) - mean) / scale).astype(out_dtype)
    return train_scaled, test_scaled


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
