"""Stateful training metrics with Keras 3 names and semantics, on plain arrays.

A metric accumulates a sample-weighted ``total`` and ``count`` as Python floats (float64), so the
value reported for an epoch is the exact weighted mean over every sample seen, however the epoch
was cut into batches — not a mean of batch means.

Two registry kinds are used, because Keras 3 gives the snake_case name to the class:

* ``"metric"``: the classes, under their class name, their snake_case name and the Keras short
  aliases (``'mse'``, ``'mae'``, ``'mape'``, ``'msle'``). ``get('mse')`` is a ``MeanSquaredError``.
* ``"metric_function"``: the per-sample functions (``binary_accuracy``, ``mean_squared_error``…),
  used by ``MeanMetricWrapper``'s config to find its function again.

This module never imports layers, models, tensors or losses: a loss used as a metric arrives as a
plain array function and is wrapped by ``MeanMetricWrapper``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from axonal import backend, registry
from axonal.backend import xp

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "deserialize",
    "get",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "resolve",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

_KIND = "metric"
_FUNCTION_KIND = "metric_function"

# Loss names (normalised: lower case, no underscores) that decide what 'accuracy' means when the
# shapes are not known yet.
_SPARSE_LOSSES = ("sparsecategoricalcrossentropy",)
_BINARY_LOSSES = ("binarycrossentropy", "bce", "binaryfocalcrossentropy")
_CATEGORICAL_LOSSES = ("categoricalcrossentropy", "cce", "categoricalfocalcrossentropy")


# --------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------


def _float_dtype(array):
    """Return the array's dtype if it is floating, else the default float type."""
    if array.dtype.kind == "f":
        return array.dtype
    return xp.dtype(backend.floatx())


def _check_batch(y_true, y_pred) -> None:
    """Raise if y_true and y_pred do not hold the same number of samples."""
    if y_true.ndim == 0 or y_pred.ndim == 0:
        raise ValueError(
            "y_true and y_pred must have a batch dimension; "
            f"got y_true shape {y_true.shape} and y_pred shape {y_pred.shape}."
        )
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            "y_true and y_pred must hold the same number of samples; got "
            f"{y_true.shape[0]} (y_true shape {y_true.shape}) and {y_pred.shape[0]} "
            f"(y_pred shape {y_pred.shape})."
        )


def _squeeze_or_expand(y_true, y_pred):
    """Make ranks equal when they differ by a trailing axis of size 1 (Keras's rule).

    A rank-1 array facing a ``(batch, 1)`` array is expanded to ``(batch, 1)``; otherwise the
    trailing 1 of the higher-rank array is squeezed away.
    """
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        else:
            y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        else:
            y_pred = y_pred[..., 0]
    return y_true, y_pred


def _aligned(y_true, y_pred):
    """Return y_true and y_pred as arrays of one shape with a trailing feature axis.

    Rank-1 inputs mean one value per sample, so they become ``(batch, 1)``: the per-sample value
    is then the mean over the last axis, exactly as for ``(batch, features)`` inputs.
    """
    y_true = xp.asarray(y_true)
    y_pred = xp.asarray(y_pred)
    _check_batch(y_true, y_pred)
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    if y_true.ndim == 1 and y_pred.ndim == 1:
        y_true = y_true[:, None]
        y_pred = y_pred[:, None]
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must have the same shape; "
            f"got y_true shape {y_true.shape} and y_pred shape {y_pred.shape}."
        )
    return y_true, y_pred


def _regression_inputs(y_true, y_pred):
    """Return aligned y_true and y_pred in y_pred's float type (never upcast a float32 model)."""
    y_true, y_pred = _aligned(y_true, y_pred)
    dtype = _float_dtype(y_pred)
    return y_true.astype(dtype, copy=False), y_pred.astype(dtype, copy=False)


def _sparse_labels(y_true, y_pred):
    """Return integer-label y_true with the shape of y_pred minus its class axis."""
    y_true = xp.asarray(y_true)
    y_pred = xp.asarray(y_pred)
    _check_batch(y_true, y_pred)
    # labels of shape (batch, ..., 1) mean the same as (batch, ...)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            "Sparse labels must have the shape of y_pred without its last (class) axis, "
            f"optionally with a trailing 1: expected {y_pred.shape[:-1]} for y_pred shape "
            f"{y_pred.shape}, got y_true shape {y_true.shape}."
        )
    return y_true, y_pred


def _in_top_k(labels, y_pred, k: int):
    """Return whether each label's score is among the k largest of its row (ties count as in)."""
    num_classes = y_pred.shape[-1]
    if k >= num_classes:
        return xp.ones(labels.shape, dtype=bool)
    labels = labels.astype(xp.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Labels must be class indices in [0, {num_classes}) for y_pred with "
            f"{num_classes} classes; got labels from {labels.min()} to {labels.max()}."
        )
    # the k-th largest score; a label whose score reaches it is in the top k (TF's tie rule)
    kth_largest = xp.partition(y_pred, num_classes - k, axis=-1)[..., num_classes - k]
    label_scores = xp.take_along_axis(y_pred, labels[..., None], axis=-1)[..., 0]
    return label_scores >= kth_largest


def _check_k(k) -> int:
    """Validate the ``k`` of the top-k metrics."""
    if isinstance(k, bool) or not isinstance(k, (int, xp.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got k={k!r}.")
    return int(k)


# --------------------------------------------------------------------------------------------
# Per-sample metric functions
# --------------------------------------------------------------------------------------------


@registry.register(_FUNCTION_KIND, "accuracy")
def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the fraction of entries where y_pred equals y_true exactly.

    Args:
        y_true: targets, shape ``(batch,)`` or ``(batch, ...)``.
        y_pred: predictions of the same shape (a trailing axis of 1 may differ).

    Returns:
        Array of shape ``(batch,)`` (``(batch, ...)`` minus the last axis for higher ranks).

    Example:
        >>> accuracy([[1], [2]], [[1], [3]]).tolist()
        [1.0, 0.0]
    """
    y_true, y_pred = _aligned(y_true, y_pred)
    dtype = _float_dtype(y_pred)
    matches = y_true.astype(y_pred.dtype, copy=False) == y_pred
    return xp.mean(matches, axis=-1, dtype=dtype)


@registry.register(_FUNCTION_KIND, "binary_accuracy")
def binary_accuracy(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5) -> Any:
    """Return, per sample, the fraction of entries where ``y_pred > threshold`` matches y_true.

    Args:
        y_true: 0/1 targets, shape ``(batch,)`` or ``(batch, ...)``.
        y_pred: probabilities of the same shape.
        threshold: a prediction above it counts as 1.

    Returns:
        Array of shape ``(batch,)`` (``(batch, ...)`` minus the last axis for higher ranks).

    Example:
        >>> binary_accuracy([[1], [0]], [[0.9], [0.7]]).tolist()
        [1.0, 0.0]
    """
    y_true, y_pred = _aligned(y_true, y_pred)
    dtype = _float_dtype(y_pred)
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return xp.mean(predicted == y_true, axis=-1, dtype=dtype)


@registry.register(_FUNCTION_KIND, "categorical_accuracy")
def categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, 1.0 where the argmax of y_pred is the argmax of one-hot y_true.

    Args:
        y_true: one-hot targets, shape ``(batch, ..., classes)``.
        y_pred: scores or probabilities, same shape.

    Returns:
        Array of shape ``(batch, ...)`` (the class axis removed).

    Example:
        >>> categorical_accuracy([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]]).tolist()
        [1.0, 0.0]
    """
    y_true = xp.asarray(y_true)
    y_pred = xp.asarray(y_pred)
    _check_batch(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "categorical_accuracy expects one-hot y_true of the same shape as y_pred; got "
            f"y_true shape {y_true.shape} and y_pred shape {y_pred.shape}. For integer labels "
            "use sparse_categorical_accuracy."
        )
    matches = xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1)
    return matches.astype(_float_dtype(y_pred))


@registry.register(_FUNCTION_KIND, "sparse_categorical_accuracy")
def sparse_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, 1.0 where the integer label equals the argmax of y_pred.

    Args:
        y_true: integer labels, shape ``(batch,)`` or ``(batch, 1)`` (or ``(batch, ...)``).
        y_pred: scores or probabilities, shape ``(batch, classes)`` (or ``(batch, ..., classes)``).

    Returns:
        Array of shape ``(batch,)`` (or ``(batch, ...)``).

    Example:
        >>> sparse_categorical_accuracy([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]).tolist()
        [0.0, 1.0]
    """
    labels, y_pred = _sparse_labels(y_true, y_pred)
    matches = labels == xp.argmax(y_pred, axis=-1)
    return matches.astype(_float_dtype(y_pred))


@registry.register(_FUNCTION_KIND, "top_k_categorical_accuracy")
def top_k_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5) -> Any:
    """Return, per sample, 1.0 where the one-hot target's class is among the k top scores.

    Args:
        y_true: one-hot targets, shape ``(batch, ..., classes)``.
        y_pred: scores, same shape.
        k: how many of the highest scores count.

    Returns:
        Array of shape ``(batch, ...)`` (the class axis removed).

    Example:
        >>> top_k_categorical_accuracy([[0, 0, 1]], [[0.5, 0.3, 0.2]], k=2).tolist()
        [0.0]
    """
    k = _check_k(k)
    y_true = xp.asarray(y_true)
    y_pred = xp.asarray(y_pred)
    _check_batch(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "top_k_categorical_accuracy expects one-hot y_true of the same shape as y_pred; "
            f"got y_true shape {y_true.shape} and y_pred shape {y_pred.shape}. For integer "
            "labels use sparse_top_k_categorical_accuracy."
        )
    labels = xp.argmax(y_true, axis=-1)
    return _in_top_k(labels, y_pred, k).astype(_float_dtype(y_pred))


@registry.register(_FUNCTION_KIND, "sparse_top_k_categorical_accuracy")
def sparse_top_k_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5) -> Any:
    """Return, per sample, 1.0 where the integer label is among the k top scores.

    Args:
        y_true: integer labels, shape ``(batch,)`` or ``(batch, 1)``.
        y_pred: scores, shape ``(batch, classes)``.
        k: how many of the highest scores count.

    Returns:
        Array of shape ``(batch,)``.

    Example:
        >>> sparse_top_k_categorical_accuracy([2, 0], [[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], k=2)
        array([0., 1.])
    """
    k = _check_k(k)
    labels, y_pred = _sparse_labels(y_true, y_pred)
    return _in_top_k(labels, y_pred, k).astype(_float_dtype(y_pred))


@registry.register(_FUNCTION_KIND, "mean_squared_error", "mse", "MSE")
def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean over the last axis of ``(y_true - y_pred) ** 2``.

    Args:
        y_true: targets, shape ``(batch,)`` or ``(batch, ..., d)``.
        y_pred: predictions of the same shape.

    Returns:
        Array of shape ``(batch,)`` (``(batch, ...)`` for higher ranks), in y_pred's float type.

    Example:
        >>> mean_squared_error([[0.0, 2.0]], [[1.0, 0.0]]).tolist()
        [2.5]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return xp.mean(xp.square(y_pred - y_true), axis=-1)


@registry.register(_FUNCTION_KIND, "mean_absolute_error", "mae", "MAE")
def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean over the last axis of ``|y_true - y_pred|``.

    Args:
        y_true: targets, shape ``(batch,)`` or ``(batch, ..., d)``.
        y_pred: predictions of the same shape.

    Returns:
        Array of shape ``(batch,)`` (``(batch, ...)`` for higher ranks), in y_pred's float type.

    Example:
        >>> mean_absolute_error([[0.0, 2.0]], [[1.0, 0.0]]).tolist()
        [1.5]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return xp.mean(xp.abs(y_pred - y_true), axis=-1)


@registry.register(_FUNCTION_KIND, "mean_absolute_percentage_error", "mape", "MAPE")
def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, ``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))``.

    Args:
        y_true: targets, shape ``(batch,)`` or ``(batch, ..., d)``.
        y_pred: predictions of the same shape.

    Returns:
        Array of shape ``(batch,)`` (``(batch, ...)`` for higher ranks), in y_pred's float type.

    Example:
        >>> mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 5.0]]).tolist()
        [37.5]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    # epsilon keeps a zero target from dividing by zero, as in Keras
    denominator = xp.maximum(xp.abs(y_true), y_true.dtype.type(backend.epsilon()))
    ratio = xp.abs(y_true - y_pred) / denominator
    return y_pred.dtype.type(100.0) * xp.mean(ratio, axis=-1)


@registry.register(_FUNCTION_KIND, "mean_squared_logarithmic_error", "msle", "MSLE")
def mean_squared_logarithmic_error(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean of ``(log(1 + y_pred) - log(1 + y_true)) ** 2``.

    Values are first clipped below at epsilon, as in Keras, so negatives do not give NaN.

    Args:
        y_true: targets, shape ``(batch,)`` or ``(batch, ..., d)``.
        y_pred: predictions of the same shape.

    Returns:
        Array of shape ``(batch,)`` (``(batch, ...)`` for higher ranks), in y_pred's float type.

    Example:
        >>> round(float(mean_squared_logarithmic_error([[0.0]], [[1.0]])[0]), 4)
        0.4805
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    eps = y_pred.dtype.type(backend.epsilon())
    log_pred = xp.log1p(xp.maximum(y_pred, eps))
    log_true = xp.log1p(xp.maximum(y_true, eps))
    return xp.mean(xp.square(log_pred - log_true), axis=-1)


# --------------------------------------------------------------------------------------------
# Metric classes
# --------------------------------------------------------------------------------------------


def _snake_case(class_name: str) -> str:
    """Return ``'MeanSquaredError'`` as ``'mean_squared_error'``."""
    letters = []
    for index, char in enumerate(class_name):
        if char.isupper() and index > 0:
            letters.append("_")
        letters.append(char.lower())
    return "".join(letters)


def _register_class(*aliases: str) -> Callable:
    """Register a metric class under its class name, its snake_case name and ``aliases``."""

    def decorator(cls):
        names = (cls.__name__, _snake_case(cls.__name__), *aliases)
        return registry.register(_KIND, *names)(cls)

    return decorator


class Metric:
    """Base class of stateful metrics: accumulate with ``update_state``, read with ``result``.

    Subclasses implement ``update_state``, ``result`` and ``reset_state``; state is kept in
    Python floats so results are exact over a whole epoch.

    Args:
        name: the metric's name (the key it gets in History logs); defaults to the snake_case
            class name.
        dtype: nominal dtype of the result, kept for Keras compatibility; results are floats.
    """

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        self.name = name if name is not None else _snake_case(type(self).__name__)
        self.dtype = backend.standardize_dtype(dtype)

    def update_state(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> None:
        """Accumulate the statistics of one batch."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self) -> float:
        """Return the metric's value over everything accumulated since the last reset."""
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self) -> None:
        """Forget everything accumulated (called at the start of each epoch)."""
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state().")

    def __call__(self, *args, **kwargs) -> float:
        """Update with one batch and return the running result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        """Return the constructor arguments as JSON values."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        """Rebuild a metric from ``get_config``'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _weighted_per_sample(values, sample_weight):
    """Return per-sample weighted values and per-sample weights, both ``(batch,)`` float64.

    Follows Keras: values are averaged over the trailing axes the weights lack; weights of the
    values' full shape weight each element, and each sample then counts with its mean weight.
    """
    weights = xp.asarray(sample_weight, dtype=xp.float64)
    if weights.ndim == 0:
        # a scalar weight applies to every sample (so batches of any size count per sample)
        weights = xp.full(values.shape[:1], weights)
    # (batch, 1) weights against (batch,) values and the reverse mean the same thing
    if weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
        weights = weights[..., 0]
    elif values.ndim == weights.ndim + 1 and values.shape[-1] == 1:
        values = values[..., 0]
    if weights.ndim > values.ndim or weights.shape != values.shape[: weights.ndim]:
        raise ValueError(
            f"sample_weight must hold one weight per sample: expected shape "
            f"({values.shape[0]},) or a prefix of the per-sample values' shape {values.shape}, "
            f"got sample_weight shape {weights.shape}."
        )
    if values.ndim > weights.ndim:
        values = xp.mean(values, axis=tuple(range(weights.ndim, values.ndim)))
    # accumulate in float64 whatever the values' dtype, so epoch means stay exact
    weighted = values.astype(xp.float64) * weights
    if weights.ndim > 1:
        trailing = tuple(range(1, weights.ndim))
        weighted = xp.mean(weighted, axis=trailing)
        weights = xp.mean(weights, axis=trailing)
    return weighted, weights


@_register_class()
class Mean(Metric):
    """The (sample-weighted) mean of all values seen since the last reset.

    Args:
        name: the metric's name; defaults to ``'mean'``.
        dtype: nominal result dtype.

    Example:
        >>> m = Mean()
        >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        >>> m.result()
        2.0
    """

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        """Add values to the running mean.

        Args:
            values: a scalar (one value) or an array ``(batch, ...)``; each sample's value is
                the mean over its trailing axes.
            sample_weight: None, a scalar applied to every sample, ``(batch,)`` / ``(batch, 1)``
                weights, or weights of the values' full shape.
        """
        values = xp.asarray(values)
        if values.ndim == 0:
            values = values.reshape(1)
        if sample_weight is None:
            if values.ndim > 1:
                values = xp.mean(values, axis=tuple(range(1, values.ndim)))
            self.total += float(xp.sum(values, dtype=xp.float64))
            self.count += float(values.shape[0])
            return
        weighted, weights = _weighted_per_sample(values, sample_weight)
        self.total += float(xp.sum(weighted))
        self.count += float(xp.sum(weights))

    def result(self) -> float:
        """Return total / count (0.0 before any update)."""
        if self.count == 0.0:
            return 0.0
        return self.total / self.count

    def reset_state(self) -> None:
        """Set total and count back to zero."""
        self.total = 0.0
        self.count = 0.0


def _function_name(fn: Callable) -> str:
    """Return a callable's name (``__name__``, else its class name in snake_case)."""
    name = getattr(fn, "__name__", None)
    if name is None:
        name = _snake_case(type(fn).__name__)
    return name


@_register_class()
class MeanMetricWrapper(Mean):
    """Turn a per-sample function ``fn(y_true, y_pred) -> values`` into a mean metric.

    Args:
        fn: array function returning one value per sample, shape ``(batch,)`` (or
            ``(batch, ...)``, averaged over the trailing axes).
        name: the metric's name; defaults to ``fn.__name__``.
        dtype: nominal result dtype.
        **kwargs: keyword arguments passed on to ``fn`` at every call.

    Example:
        >>> m = MeanMetricWrapper(mean_absolute_error)
        >>> m.update_state([[0.0], [1.0]], [[1.0], [1.0]])
        >>> (m.name, m.result())
        ('mean_absolute_error', 0.5)
    """

    def __init__(
        self, fn: Callable, name: str | None = None, dtype: str | None = None, **kwargs
    ) -> None:
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper expects a function fn(y_true, y_pred), got {fn!r}.")
        if name is None:
            name = _function_name(fn)
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> None:
        """Compute the per-sample values of one batch and add them to the running mean.

        Args:
            y_true: targets, ``(batch, ...)``.
            y_pred: predictions, ``(batch, ...)``.
            sample_weight: None, a scalar, or ``(batch,)`` weights.
        """
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        """Return name, dtype, the function's registered name and its keyword arguments."""
        config = super().get_config()
        config["fn"] = _function_name(self._fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict) -> MeanMetricWrapper:
        """Rebuild the wrapper, finding ``fn`` by name in the ``'metric_function'`` registry."""
        config = dict(config)
        fn = config.pop("fn")
        if isinstance(fn, str):
            fn = registry.lookup(_FUNCTION_KIND, fn)
        return cls(fn, **config)


class _FixedFunctionMetric(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the class (not part of the config)."""

    def get_config(self) -> dict:
        """Return the constructor arguments (name, dtype and the class's own settings)."""
        return Metric.get_config(self)

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        """Rebuild the metric from ``get_config``'s output."""
        return cls(**config)


@_register_class()
class Accuracy(_FixedFunctionMetric):
    """How often predictions equal labels exactly (see ``accuracy``).

    Example:
        >>> m = Accuracy()
        >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        >>> m.result()
        0.75
    """

    def __init__(self, name: str = "accuracy", dtype: str | None = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


@_register_class()
class BinaryAccuracy(_FixedFunctionMetric):
    """How often thresholded predictions match 0/1 labels (see ``binary_accuracy``).

    Args:
        name: the metric's name.
        dtype: nominal result dtype.
        threshold: a prediction above it counts as 1; must lie strictly between 0 and 1.

    Example:
        >>> m = BinaryAccuracy()
        >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        >>> m.result()
        0.75
    """

    def __init__(
        self, name: str = "binary_accuracy", dtype: str | None = None, threshold: float = 0.5
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(
                f"threshold must lie strictly between 0 and 1, got threshold={threshold!r}."
            )
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self) -> dict:
        """Return name, dtype and threshold."""
        return {**super().get_config(), "threshold": self.threshold}


@_register_class()
class CategoricalAccuracy(_FixedFunctionMetric):
    """How often the argmax of predictions matches one-hot labels (see
    ``categorical_accuracy``).

    Example:
        >>> m = CategoricalAccuracy()
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    def __init__(self, name: str = "categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


@_register_class()
class SparseCategoricalAccuracy(_FixedFunctionMetric):
    """How often the argmax of predictions equals integer labels (see
    ``sparse_categorical_accuracy``).

    Example:
        >>> m = SparseCategoricalAccuracy()
        >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Count matches; unweighted ``(batch,)`` labels against ``(batch, classes)`` go direct."""
        if (
            sample_weight is None
            and isinstance(y_true, xp.ndarray)
            and isinstance(y_pred, xp.ndarray)
            and y_true.ndim == 1
            and y_pred.ndim == 2
            and y_true.shape[0] == y_pred.shape[0]
        ):
            # the per-step path of fit: one comparison, no per-sample float array
            self.total += float(xp.count_nonzero(y_true == y_pred.argmax(axis=1)))
            self.count += float(y_true.shape[0])
            return
        super().update_state(y_true, y_pred, sample_weight)


@_register_class()
class TopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the one-hot target is among the k highest scores.

    Args:
        k: how many of the highest scores count (default 5).
        name: the metric's name.
        dtype: nominal result dtype.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    def __init__(
        self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: str | None = None
    ) -> None:
        k = _check_k(k)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self) -> dict:
        """Return name, dtype and k."""
        return {**super().get_config(), "k": self.k}


@_register_class()
class SparseTopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the integer label is among the k highest scores.

    Args:
        k: how many of the highest scores count (default 5).
        name: the metric's name.
        dtype: nominal result dtype.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=1)
        >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: str | None = None,
    ) -> None:
        k = _check_k(k)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self) -> dict:
        """Return name, dtype and k."""
        return {**super().get_config(), "k": self.k}


@_register_class("mse", "MSE")
class MeanSquaredError(_FixedFunctionMetric):
    """Mean of the squared errors over all samples (see ``mean_squared_error``).

    Example:
        >>> m = MeanSquaredError()
        >>> m.update_state([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
        >>> m.result()
        0.25
    """

    def __init__(self, name: str = "mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(mean_squared_error, name=name, dtype=dtype)


@_register_class("mae", "MAE")
class MeanAbsoluteError(_FixedFunctionMetric):
    """Mean of the absolute errors over all samples (see ``mean_absolute_error``).

    Example:
        >>> m = MeanAbsoluteError()
        >>> m.update_state([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
        >>> m.result()
        0.25
    """

    def __init__(self, name: str = "mean_absolute_error", dtype: str | None = None) -> None:
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


@_register_class("mape", "MAPE")
class MeanAbsolutePercentageError(_FixedFunctionMetric):
    """Mean absolute percentage error over all samples (see
    ``mean_absolute_percentage_error``).

    Example:
        >>> m = MeanAbsolutePercentageError()
        >>> m.update_state([[2.0], [4.0]], [[1.0], [5.0]])
        >>> m.result()
        37.5
    """

    def __init__(
        self, name: str = "mean_absolute_percentage_error", dtype: str | None = None
    ) -> None:
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


@_register_class("msle", "MSLE")
class MeanSquaredLogarithmicError(_FixedFunctionMetric):
    """Mean squared logarithmic error over all samples (see
    ``mean_squared_logarithmic_error``).

    Example:
        >>> m = MeanSquaredLogarithmicError()
        >>> m.update_state([[0.0]], [[0.0]])
        >>> m.result()
        0.0
    """

    def __init__(
        self, name: str = "mean_squared_logarithmic_error", dtype: str | None = None
    ) -> None:
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


@_register_class()
class RootMeanSquaredError(_FixedFunctionMetric):
    """Square root of the mean squared error over all samples seen.

    The root is taken of the exact epoch mean, not averaged over batches.

    Example:
        >>> m = RootMeanSquaredError()
        >>> m.update_state([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
        >>> m.result()
        0.5
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(mean_squared_error, name=name, dtype=dtype)

    def result(self) -> float:
        """Return the square root of the running mean squared error."""
        return super().result() ** 0.5


# --------------------------------------------------------------------------------------------
# Lookup and compile-time resolution
# --------------------------------------------------------------------------------------------


def _normalise_loss_name(loss_name: str) -> str:
    """Return ``'SparseCategoricalCrossentropy'`` and the snake form as one comparable key."""
    return loss_name.replace("_", "").lower()


def _accuracy_class(loss_name, y_true_shape, y_pred_shape) -> type[Metric]:
    """Pick the accuracy class 'accuracy' means for these shapes, or else this loss."""
    if y_true_shape is not None and y_pred_shape is not None:
        y_true_shape = tuple(y_true_shape)
        y_pred_shape = tuple(y_pred_shape)
        if len(y_pred_shape) >= 2 and len(y_true_shape) >= 1:
            y_true_last = y_true_shape[-1]
            y_pred_last = y_pred_shape[-1]
            if y_pred_last == 1:
                return BinaryAccuracy
            is_sparse = len(y_true_shape) < len(y_pred_shape) or (
                y_true_last == 1 and y_pred_last is not None and y_pred_last > 1
            )
            if is_sparse:
                return SparseCategoricalAccuracy
            return CategoricalAccuracy
        if len(y_pred_shape) == 1:
            # one prediction per sample: a binary classifier with its last axis squeezed
            return BinaryAccuracy
    if loss_name is not None:
        key = _normalise_loss_name(str(loss_name))
        if key in _SPARSE_LOSSES:
            return SparseCategoricalAccuracy
        if key in _BINARY_LOSSES:
            return BinaryAccuracy
        if key in _CATEGORICAL_LOSSES:
            return CategoricalAccuracy
    if y_pred_shape is not None and len(y_pred_shape) >= 1 and y_pred_shape[-1] == 1:
        return BinaryAccuracy
    # nothing to go on: the Keras 2 default
    return CategoricalAccuracy


def resolve(
    identifier: Any,
    loss_name: str | None = None,
    y_true_shape: tuple | None = None,
    y_pred_shape: tuple | None = None,
) -> Metric | None:
    """Turn one entry of ``compile(metrics=[...])`` into a fresh Metric, the Keras 3 way.

    ``'accuracy'`` / ``'acc'`` become binary, sparse categorical or categorical accuracy from the
    shapes (batch axis included: y_pred last dim 1 → binary; y_true of lower rank, or y_true last
    dim 1 against y_pred last dim > 1 → sparse categorical; else categorical), or from the loss
    name when the shapes are not known. Any other string is looked up in the registry. A string's
    metric is named by the string itself (``'acc'`` logs as ``'acc'``, ``'mse'`` as ``'mse'``).

    Args:
        identifier: a string, a Metric instance (returned as is), a Metric subclass (instantiated),
            a function ``fn(y_true, y_pred)`` (wrapped in MeanMetricWrapper named
            ``fn.__name__``), or None (returns None).
        loss_name: the compiled loss's name, used for 'accuracy' when shapes are unknown.
        y_true_shape: shape of a batch of targets, e.g. ``(None, 1)``.
        y_pred_shape: shape of a batch of predictions, e.g. ``(None, 10)``.

    Returns:
        A Metric, or None for None.

    Example:
        >>> resolve("acc", y_true_shape=(32,), y_pred_shape=(32, 10))
        <SparseCategoricalAccuracy name='acc'>
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            cls = _accuracy_class(loss_name, y_true_shape, y_pred_shape)
            return cls(name=identifier)
        found = registry.lookup(_KIND, identifier)
        metric = _instantiate(found, identifier)
        metric.name = identifier
        return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=_function_name(identifier))
    raise TypeError(
        "Each metric must be a string name, a Metric instance or a function "
        f"fn(y_true, y_pred); got {identifier!r} of type {type(identifier).__name__}."
    )


def _instantiate(found: Any, name: str) -> Metric:
    """Return a Metric from what the registry holds under ``name`` (a class or a function)."""
    if isinstance(found, type) and issubclass(found, Metric):
        return found()
    if isinstance(found, Metric):
        return found
    if callable(found):
        return MeanMetricWrapper(found, name=name)
    raise TypeError(f"The metric registered as {name!r} is not a Metric or function: {found!r}.")


def get(identifier: Any) -> Metric | Callable | None:
    """Return the metric an identifier names, without compile's 'accuracy' shape logic.

    Strings name registered classes (``'mse'``, ``'MeanSquaredError'``, ``'binary_accuracy'``)
    and give a fresh instance; a config dict is deserialised; a Metric or function is returned
    as is.

    Example:
        >>> get("mae")
        <MeanAbsoluteError name='mean_absolute_error'>
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _instantiate(registry.lookup(_KIND, identifier), identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret metric identifier {identifier!r}: expected a string, a config "
        "dict, a Metric or a function."
    )


def serialize(metric: Metric | Callable) -> dict | str:
    """Return a Metric's ``{'class_name', 'config'}`` dict, or a registered function's name."""
    if isinstance(metric, Metric):
        return registry.serialize(metric)
    if callable(metric):
        return _function_name(metric)
    raise TypeError(f"Cannot serialize {metric!r}: expected a Metric or a metric function.")


def deserialize(config: dict | str, custom_objects: dict | None = None) -> Metric | Callable:
    """Rebuild a metric from ``serialize``'s output (a config dict or a function name)."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return custom_objects[config]
        return registry.lookup(_FUNCTION_KIND, config)
    return registry.deserialize(_KIND, config, custom_objects)
