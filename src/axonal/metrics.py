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

import re
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from axonal import backend, registry
from axonal.backend import xp

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "IoU",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "accuracy",
    "binary_accuracy",
    "binary_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_hinge",
    "concordance_correlation",
    "cosine_similarity",
    "deserialize",
    "get",
    "hinge",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "pearson_correlation",
    "poisson",
    "resolve",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "squared_hinge",
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


def _hinge_labels(y_true):
    """0/1 labels become -1/1 (Keras converts only when every label of the batch is 0 or 1)."""
    if bool(xp.all((y_true == 0) | (y_true == 1))):
        return 2 * y_true - 1
    return y_true


@registry.register(_FUNCTION_KIND, "hinge")
def hinge(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean over the last axis of ``max(1 - y_true * y_pred, 0)``.

    Labels are -1/1; a batch of 0/1 labels is converted to -1/1 first, as in Keras.

    Example:
        >>> hinge([[0.0, 1.0]], [[0.6, 0.4]]).tolist()
        [1.1]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    margin = 1 - _hinge_labels(y_true) * y_pred
    return xp.mean(xp.maximum(margin, 0), axis=-1)


@registry.register(_FUNCTION_KIND, "squared_hinge")
def squared_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean over the last axis of ``max(1 - y_true * y_pred, 0) ** 2``.

    Example:
        >>> round(float(squared_hinge([[0.0, 1.0]], [[0.6, 0.4]])[0]), 2)
        1.46
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    margin = 1 - _hinge_labels(y_true) * y_pred
    return xp.mean(xp.square(xp.maximum(margin, 0)), axis=-1)


@registry.register(_FUNCTION_KIND, "categorical_hinge")
def categorical_hinge(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, ``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``.

    Example:
        >>> round(float(categorical_hinge([[0.0, 1.0]], [[0.6, 0.4]])[0]), 2)
        1.2
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    positive = xp.sum(y_true * y_pred, axis=-1)
    negative = xp.max((1 - y_true) * y_pred, axis=-1)
    return xp.maximum(negative - positive + 1, 0)


@registry.register(_FUNCTION_KIND, "kl_divergence")
def kl_divergence(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, ``sum(y_true * log(y_true / y_pred))`` with both clipped to [eps, 1].

    Example:
        >>> round(float(kl_divergence([[0.5, 0.5]], [[0.25, 0.75]])[0]), 4)
        0.1438
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    eps = y_pred.dtype.type(backend.epsilon())
    t = xp.clip(y_true, eps, 1)
    p = xp.clip(y_pred, eps, 1)
    return xp.sum(t * (xp.log(t) - xp.log(p)), axis=-1)


@registry.register(_FUNCTION_KIND, "poisson")
def poisson(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean over the last axis of ``y_pred - y_true * log(y_pred + eps)``.

    Example:
        >>> round(float(poisson([[1.0]], [[1.0]])[0]), 4)
        1.0
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    eps = y_pred.dtype.type(backend.epsilon())
    return xp.mean(y_pred - y_true * xp.log(y_pred + eps), axis=-1)


@registry.register(_FUNCTION_KIND, "log_cosh")
def log_cosh(y_true: ArrayLike, y_pred: ArrayLike) -> Any:
    """Return, per sample, the mean over the last axis of ``log(cosh(y_pred - y_true))``.

    Example:
        >>> round(float(log_cosh([[0.0]], [[1.0]])[0]), 4)
        0.4338
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + softplus(-2x) - log(2): no exp of a large positive number
    log_2 = y_pred.dtype.type(0.6931471805599453)
    return xp.mean(x + xp.logaddexp(0, -2 * x) - log_2, axis=-1)


def _l2_normalize(x, axis):
    """``x / max(||x||, epsilon)`` along ``axis`` (Keras's ``normalize``)."""
    norm = xp.sqrt(xp.sum(xp.square(x), axis=axis, keepdims=True))
    return x / xp.maximum(norm, x.dtype.type(backend.epsilon()))


@registry.register(_FUNCTION_KIND, "cosine_similarity")
def cosine_similarity(y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1) -> Any:
    """Return the cosine similarity of y_true and y_pred along ``axis`` (1: same direction).

    Example:
        >>> cosine_similarity([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).round(4).tolist()
        [0.0, 1.0]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return xp.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


@registry.register(_FUNCTION_KIND, "pearson_correlation")
def pearson_correlation(y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1) -> Any:
    """Return the Pearson correlation of y_true and y_pred along ``axis`` (Keras's formula).

    Example:
        >>> pearson_correlation([[1.0, 2.0, 3.0]], [[2.0, 4.0, 7.0]]).round(4).tolist()
        [0.9934]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    true_centred = y_true - xp.mean(y_true, axis=axis, keepdims=True)
    pred_centred = y_pred - xp.mean(y_pred, axis=axis, keepdims=True)
    true_centred = true_centred / xp.std(true_centred, axis=axis, keepdims=True)
    pred_centred = pred_centred / xp.std(pred_centred, axis=axis, keepdims=True)
    return xp.mean(true_centred * pred_centred, axis=axis)


@registry.register(_FUNCTION_KIND, "concordance_correlation")
def concordance_correlation(y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1) -> Any:
    """Return Keras 3's concordance correlation of y_true and y_pred along ``axis``.

    Computed exactly as Keras does (so values agree): the mean over ``axis`` of
    ``2 (y_true - mean(y_pred)) (y_pred - mean(y_pred)) / (var(y_true) + var(y_pred) +
    (mean(y_true) - mean(y_pred)) ** 2 + eps)``. Note that Keras centres y_true on y_pred's mean.
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    true_mean = xp.mean(y_true, axis=axis, keepdims=True)
    pred_mean = xp.mean(y_pred, axis=axis, keepdims=True)
    true_var = xp.var(y_true - true_mean, axis=axis, keepdims=True)
    pred_var = xp.var(y_pred - pred_mean, axis=axis, keepdims=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + xp.square(true_mean - pred_mean)
    eps = y_pred.dtype.type(backend.epsilon())
    return xp.mean(2 * covariance / (norm + eps), axis=axis)


def _log_sigmoid(x):
    """``log(sigmoid(x))`` without overflow: ``-softplus(-x)``."""
    return -xp.logaddexp(0, -x)


@registry.register(_FUNCTION_KIND, "binary_crossentropy")
def binary_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Return, per sample, the binary cross-entropy averaged over ``axis``.

    Probabilities are clipped to [eps, 1 - eps] as in Keras; logits go through a stable
    log-sigmoid.

    Example:
        >>> binary_crossentropy([[0.0, 1.0]], [[0.4, 0.6]]).round(4).tolist()
        [0.5108]
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        log_p, log_not_p = _log_sigmoid(y_pred), _log_sigmoid(-y_pred)
    else:
        eps = y_pred.dtype.type(backend.epsilon())
        p = xp.clip(y_pred, eps, 1 - eps)
        log_p, log_not_p = xp.log(p), xp.log(1 - p)
    return -xp.mean(y_true * log_p + (1 - y_true) * log_not_p, axis=axis)


def _log_probabilities(y_pred, from_logits: bool, axis: int):
    """Log class probabilities: log-softmax of logits, or log of renormalised clipped probs."""
    if from_logits:
        shifted = y_pred - xp.max(y_pred, axis=axis, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    eps = y_pred.dtype.type(backend.epsilon())
    p = y_pred / xp.sum(y_pred, axis=axis, keepdims=True)
    return xp.log(xp.clip(p, eps, 1 - eps))


@registry.register(_FUNCTION_KIND, "categorical_crossentropy")
def categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    """Return, per sample, the cross-entropy of one-hot (or probability) targets over ``axis``.

    Example:
        >>> categorical_crossentropy([[0.0, 1.0]], [[0.4, 0.6]]).round(4).tolist()
        [0.5108]
    """
    y_true = xp.asarray(y_true)
    y_pred = xp.asarray(y_pred)
    _check_batch(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "categorical_crossentropy expects one-hot y_true of the same shape as y_pred; got "
            f"y_true shape {y_true.shape} and y_pred shape {y_pred.shape}. For integer labels "
            "use sparse_categorical_crossentropy."
        )
    dtype = _float_dtype(y_pred)
    y_true = y_true.astype(dtype, copy=False)
    y_pred = y_pred.astype(dtype, copy=False)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = y_true * (1 - label_smoothing) + label_smoothing / classes
    return -xp.sum(y_true * _log_probabilities(y_pred, from_logits, axis), axis=axis)


@registry.register(_FUNCTION_KIND, "sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    """Return, per sample, the cross-entropy of integer labels (0 where ``ignore_class``).

    Example:
        >>> sparse_categorical_crossentropy([1], [[0.4, 0.6]]).round(4).tolist()
        [0.5108]
    """
    y_pred = xp.asarray(y_pred)
    y_pred = y_pred.astype(_float_dtype(y_pred), copy=False)
    if axis not in (-1, y_pred.ndim - 1):
        y_pred = xp.moveaxis(y_pred, axis, -1)
    labels, y_pred = _sparse_labels(y_true, y_pred)
    labels = labels.astype(xp.int64)
    keep = None
    if ignore_class is not None:
        keep = labels != ignore_class
        labels = xp.where(keep, labels, 0)
    num_classes = y_pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Labels must be class indices in [0, {num_classes}) for y_pred with "
            f"{num_classes} classes; got labels from {labels.min()} to {labels.max()}."
        )
    log_p = _log_probabilities(y_pred, from_logits, -1)
    values = -xp.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    if keep is not None:
        values = xp.where(keep, values, 0)
    return values


# --------------------------------------------------------------------------------------------
# Metric classes
# --------------------------------------------------------------------------------------------


def _snake_case(class_name: str) -> str:
    """Return ``'MeanSquaredError'`` as ``'mean_squared_error'`` and ``'AUC'`` as ``'auc'``.

    Keras's rule (``keras.utils.naming.to_snake_case``): a capital starting a lower-case word
    and a capital after a lower-case letter each begin a new word, so acronyms stay whole.
    """
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


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


@_register_class()
class Hinge(_FixedFunctionMetric):
    """Mean hinge loss over all samples (see ``hinge``).

    Example:
        >>> m = Hinge()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 2)
        1.3
    """

    def __init__(self, name: str = "hinge", dtype: str | None = None) -> None:
        super().__init__(hinge, name=name, dtype=dtype)


@_register_class()
class SquaredHinge(_FixedFunctionMetric):
    """Mean squared hinge loss over all samples (see ``squared_hinge``)."""

    def __init__(self, name: str = "squared_hinge", dtype: str | None = None) -> None:
        super().__init__(squared_hinge, name=name, dtype=dtype)


@_register_class()
class CategoricalHinge(_FixedFunctionMetric):
    """Mean categorical hinge loss over all samples (see ``categorical_hinge``)."""

    def __init__(self, name: str = "categorical_hinge", dtype: str | None = None) -> None:
        super().__init__(categorical_hinge, name=name, dtype=dtype)


@_register_class()
class KLDivergence(_FixedFunctionMetric):
    """Mean Kullback-Leibler divergence over all samples (see ``kl_divergence``)."""

    def __init__(self, name: str = "kl_divergence", dtype: str | None = None) -> None:
        super().__init__(kl_divergence, name=name, dtype=dtype)


@_register_class()
class Poisson(_FixedFunctionMetric):
    """Mean Poisson loss over all samples (see ``poisson``)."""

    def __init__(self, name: str = "poisson", dtype: str | None = None) -> None:
        super().__init__(poisson, name=name, dtype=dtype)


@_register_class()
class LogCoshError(_FixedFunctionMetric):
    """Mean log-cosh error over all samples (see ``log_cosh``); Keras names it ``'logcosh'``."""

    def __init__(self, name: str = "logcosh", dtype: str | None = None) -> None:
        super().__init__(log_cosh, name=name, dtype=dtype)


class _AxisFunctionMetric(_FixedFunctionMetric):
    """A fixed-function metric whose function takes an ``axis``."""

    def __init__(self, fn: Callable, name: str, dtype: str | None, axis: int) -> None:
        super().__init__(fn, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self) -> dict:
        """Return name, dtype and axis."""
        return {**super().get_config(), "axis": self.axis}


@_register_class()
class CosineSimilarity(_AxisFunctionMetric):
    """Mean cosine similarity of predictions and targets over all samples.

    Example:
        >>> m = CosineSimilarity()
        >>> m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
        >>> round(m.result(), 4)
        0.5
    """

    def __init__(
        self, name: str = "cosine_similarity", dtype: str | None = None, axis: int = -1
    ) -> None:
        super().__init__(cosine_similarity, name, dtype, axis)


@_register_class()
class PearsonCorrelation(_AxisFunctionMetric):
    """Mean Pearson correlation over all samples (see ``pearson_correlation``)."""

    def __init__(
        self, name: str = "pearson_correlation", dtype: str | None = None, axis: int = -1
    ) -> None:
        super().__init__(pearson_correlation, name, dtype, axis)


@_register_class()
class ConcordanceCorrelation(_AxisFunctionMetric):
    """Mean concordance correlation over all samples (see ``concordance_correlation``)."""

    def __init__(
        self, name: str = "concordance_correlation", dtype: str | None = None, axis: int = -1
    ) -> None:
        super().__init__(concordance_correlation, name, dtype, axis)


@_register_class("bce", "BCE")
class BinaryCrossentropy(_FixedFunctionMetric):
    """Mean binary cross-entropy over all samples (see ``binary_crossentropy``).

    Example:
        >>> m = BinaryCrossentropy()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        0.8149
    """

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ) -> None:
        super().__init__(
            binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def get_config(self) -> dict:
        """Return name, dtype, from_logits and label_smoothing."""
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return config


@_register_class()
class CategoricalCrossentropy(_FixedFunctionMetric):
    """Mean categorical cross-entropy over all samples (see ``categorical_crossentropy``)."""

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self) -> dict:
        """Return name, dtype, from_logits, label_smoothing and axis."""
        config = super().get_config()
        config.update(
            from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis
        )
        return config


@_register_class()
class SparseCategoricalCrossentropy(_FixedFunctionMetric):
    """Mean cross-entropy of integer labels over all samples (see
    ``sparse_categorical_crossentropy``).

    Labels equal to ``ignore_class`` contribute 0. As in Keras 3, they are left out of the
    count only when ``sample_weight`` is given (Keras applies the loss's mask through the
    weights); unweighted, they count as samples of value 0.
    """

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add one batch; with sample weights, ignored labels get weight 0."""
        if self.ignore_class is None or sample_weight is None:
            super().update_state(y_true, y_pred, sample_weight)
            return
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        labels = xp.asarray(y_true)
        if labels.ndim > values.ndim and labels.shape[-1] == 1:
            labels = labels[..., 0]
        sample_weight = xp.asarray(sample_weight, dtype=xp.float64)
        if sample_weight.ndim > values.ndim and sample_weight.shape[-1] == 1:
            sample_weight = sample_weight[..., 0]
        while sample_weight.ndim < values.ndim:
            sample_weight = sample_weight[..., None]
        weights = (labels != self.ignore_class) * sample_weight
        Mean.update_state(self, values, sample_weight=weights)

    def get_config(self) -> dict:
        """Return name, dtype, from_logits, ignore_class and axis."""
        config = super().get_config()
        config.update(from_logits=self.from_logits, ignore_class=self.ignore_class, axis=self.axis)
        return config


@_register_class()
class Sum(Metric):
    """The (sample-weighted) sum of all values seen since the last reset.

    Example:
        >>> m = Sum()
        >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        >>> m.result()
        4.0
    """

    def __init__(self, name: str = "sum", dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0

    def update_state(self, values: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        """Add the values (times their weights) to the running sum."""
        values = xp.asarray(values, dtype=xp.float64)
        if sample_weight is not None:
            weights = xp.asarray(sample_weight, dtype=xp.float64)
            values, weights = _squeeze_or_expand(values, weights)
            while weights.ndim < values.ndim:
                weights = weights[..., None]
            values = values * weights
        self.total += float(xp.sum(values))

    def result(self) -> float:
        """Return the running sum."""
        return self.total

    def reset_state(self) -> None:
        """Set the sum back to zero."""
        self.total = 0.0


# --------------------------------------------------------------------------------------------
# Confusion-matrix metrics (thresholded counts)
# --------------------------------------------------------------------------------------------

# the score a top_k filter gives the predictions outside the top k (Keras's NEG_INF)
_NEG_INF = -1e10


def _divide_no_nan(numerator, denominator):
    """``numerator / denominator``, 0 where the denominator is 0 (Keras's divide_no_nan)."""
    numerator = xp.asarray(numerator, dtype=xp.float64)
    denominator = xp.asarray(denominator, dtype=xp.float64)
    safe = xp.where(denominator == 0, 1.0, denominator)
    return xp.where(denominator == 0, 0.0, numerator / safe)


def _as_list(value) -> list:
    """A float or a sequence of floats as a list."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, xp.ndarray):
        return value.tolist()
    return [value]


def _config_thresholds(thresholds):
    """Thresholds as given, with a tuple as a list (JSON has no tuples)."""
    return list(thresholds) if isinstance(thresholds, tuple) else thresholds


def _parse_thresholds(thresholds, default: float) -> list:
    """Keras's ``parse_init_thresholds``: check the given ones lie in [0, 1], else the default."""
    if thresholds is None:
        return [default]
    thresholds = _as_list(thresholds)
    invalid = [t for t in thresholds if t is None or t < 0 or t > 1]
    if invalid:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return [float(t) for t in thresholds]


def _evenly_distributed(thresholds) -> bool:
    """Whether thresholds are ``i / (n - 1)`` for i = 0..n-1 (n >= 3), within epsilon."""
    n = len(thresholds)
    if n < 3:
        return False
    even = xp.arange(n, dtype=xp.float32) / (n - 1)
    return bool(xp.allclose(thresholds, even, atol=backend.epsilon()))


def _filter_top_k(scores, k: int):
    """Keep each row's k highest scores; the others become ``_NEG_INF``."""
    k = min(int(k), scores.shape[-1])
    top = xp.argpartition(-scores, k - 1, axis=-1)[..., :k]
    keep = xp.zeros(scores.shape, dtype=bool)
    xp.put_along_axis(keep, top, True, axis=-1)
    return xp.where(keep, scores, _NEG_INF)


def _confusion_counts(
    y_true,
    y_pred,
    thresholds,
    evenly: bool = False,
    top_k=None,
    class_id=None,
    sample_weight=None,
    multi_label: bool = False,
    label_weights=None,
) -> dict:
    """Weighted true/false positive/negative counts at each threshold, as Keras counts them.

    A prediction is positive at a threshold when it is strictly greater. Everything runs in
    float64. For evenly spread thresholds the counts come from one bucket per prediction (Keras's
    optimised path, which also clips predictions to [0, 1]); otherwise every prediction is
    compared with every threshold.

    Returns:
        ``{'tp', 'fp', 'tn', 'fn'}``, each ``(len(thresholds),)``, or ``(len(thresholds),
        labels)`` with ``multi_label``.
    """
    thresholds = xp.asarray(thresholds, dtype=xp.float64)
    y_true = xp.asarray(y_true, dtype=xp.float64)
    y_pred = xp.asarray(y_pred, dtype=xp.float64)
    _check_batch(y_true, y_pred)
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must have the same shape; "
            f"got y_true shape {y_true.shape} and y_pred shape {y_pred.shape}."
        )
    weights = None
    if sample_weight is not None:
        # Keras's rule: a trailing axis is added, and dropped again when that gives the weights
        # one axis more than y_true; so (batch,) weights apply to every prediction of a row
        weights = xp.asarray(sample_weight, dtype=xp.float64)[..., None]
        if weights.ndim == y_true.ndim + 1:
            weights = weights[..., 0]
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {y_pred.shape}"
            )
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    if weights is not None:
        try:
            weights = xp.broadcast_to(weights, y_pred.shape)
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {xp.shape(sample_weight)} does not broadcast to the "
                f"predictions' shape {y_pred.shape}."
            ) from None
    if label_weights is not None and not multi_label:
        label_weights = xp.broadcast_to(xp.asarray(label_weights, dtype=xp.float64), y_pred.shape)
        weights = label_weights if weights is None else weights * label_weights
    if weights is None:
        weights = xp.ones(y_pred.shape)
    positive = y_true != 0
    if not multi_label:
        positive = positive.reshape(-1)
        y_pred = y_pred.reshape(-1)
        weights = weights.reshape(-1)
    true_weights = xp.where(positive, weights, 0.0)
    false_weights = xp.where(positive, 0.0, weights)
    num_thresholds = thresholds.shape[0]
    if evenly:
        with_epsilon = bool(thresholds[0] < 0.0 or thresholds[-1] > 1.0)
        # bucket b holds predictions above thresholds 0..b: ceil(p * (n - 1)) - 1
        buckets = xp.ceil(xp.clip(y_pred, 0.0, 1.0) * (num_thresholds - 1)) - 1
        if with_epsilon:
            buckets = xp.maximum(buckets, 0)
        buckets = buckets.astype(xp.int64)
        tp = _reverse_cumsum(_bucket_sums(buckets, true_weights, num_thresholds))
        fp = _reverse_cumsum(_bucket_sums(buckets, false_weights, num_thresholds))
    else:
        shape = (num_thresholds,) + (1,) * y_pred.ndim
        above = y_pred[None] > thresholds.reshape(shape)
        tp = xp.sum(xp.where(above, true_weights[None], 0.0), axis=1)
        fp = xp.sum(xp.where(above, false_weights[None], 0.0), axis=1)
    tn = xp.sum(false_weights, axis=0) - fp
    fn = xp.sum(true_weights, axis=0) - tp
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def _bucket_sums(buckets, weights, num_buckets: int):
    """Sum ``weights`` per bucket index along the first axis (indices < 0 are dropped)."""
    kept = buckets >= 0
    if buckets.ndim == 1:
        return xp.bincount(buckets[kept], weights=weights[kept], minlength=num_buckets)
    sums = xp.zeros((num_buckets, buckets.shape[1]))
    columns = xp.broadcast_to(xp.arange(buckets.shape[1]), buckets.shape)
    xp.add.at(sums, (buckets[kept], columns[kept]), weights[kept])
    return sums


def _reverse_cumsum(values):
    """Cumulative sums from the last bucket down (counts above each threshold)."""
    return xp.flip(xp.cumsum(xp.flip(values, axis=0), axis=0), axis=0)


class _ConfusionMatrixConditionCount(Metric):
    """A weighted count of one confusion-matrix cell at each threshold."""

    _cell = ""

    def __init__(self, thresholds=None, name: str | None = None, dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, 0.5)
        self._evenly = _evenly_distributed(self.thresholds)
        self.accumulator = xp.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's count at each threshold."""
        counts = _confusion_counts(
            y_true, y_pred, self.thresholds, self._evenly, sample_weight=sample_weight
        )
        self.accumulator = self.accumulator + counts[self._cell]

    def result(self):
        """The count (a float), or one per threshold (an array) for several thresholds."""
        if len(self.thresholds) == 1:
            return float(self.accumulator[0])
        return self.accumulator.copy()

    def reset_state(self) -> None:
        """Set the counts back to zero."""
        self.accumulator = xp.zeros(len(self.thresholds))

    def get_config(self) -> dict:
        """Return name, dtype and thresholds."""
        return {**super().get_config(), "thresholds": _config_thresholds(self.init_thresholds)}


@_register_class()
class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted count of positives predicted above the threshold(s) (default 0.5).

    Example:
        >>> m = TruePositives()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> m.result()
        2.0
    """

    _cell = "tp"


@_register_class()
class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted count of negatives predicted above the threshold(s) (default 0.5)."""

    _cell = "fp"


@_register_class()
class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of negatives predicted at or below the threshold(s) (default 0.5)."""

    _cell = "tn"


@_register_class()
class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of positives predicted at or below the threshold(s) (default 0.5)."""

    _cell = "fn"


class _PrecisionRecall(Metric):
    """Shared state of Precision and Recall: counts at each threshold, optional top_k and
    class_id."""

    _cells = ("tp",)

    def __init__(
        self,
        thresholds=None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # with top_k, everything in the top k counts as predicted positive
        default = 0.5 if top_k is None else _NEG_INF
        self.thresholds = _parse_thresholds(thresholds, default)
        self._evenly = _evenly_distributed(self.thresholds)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's counts at each threshold."""
        counts = _confusion_counts(
            y_true,
            y_pred,
            self.thresholds,
            self._evenly,
            top_k=self.top_k,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )
        self.true_positives = self.true_positives + counts["tp"]
        self._other = self._other + counts[self._cells[1]]

    def _value(self, ratio):
        return float(ratio[0]) if len(self.thresholds) == 1 else ratio

    def reset_state(self) -> None:
        """Set the counts back to zero."""
        self.true_positives = xp.zeros(len(self.thresholds))
        self._other = xp.zeros(len(self.thresholds))

    def get_config(self) -> dict:
        """Return name, dtype, thresholds, top_k and class_id."""
        config = super().get_config()
        config.update(
            thresholds=_config_thresholds(self.init_thresholds),
            top_k=self.top_k,
            class_id=self.class_id,
        )
        return config


@_register_class()
class Precision(_PrecisionRecall):
    """Precision ``tp / (tp + fp)`` over everything seen, at each threshold.

    Args:
        thresholds: a float or list of floats in [0, 1]; a prediction above it counts as
            positive (default 0.5, or every top-k prediction when ``top_k`` is set).
        top_k: only the k highest scores of each row count as predicted positive.
        class_id: compute the metric for this class (column) only.
        name, dtype: as for every metric.

    Example:
        >>> m = Precision()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """

    _cells = ("tp", "fp")

    @property
    def false_positives(self):
        """The weighted false-positive count at each threshold."""
        return self._other

    def result(self):
        """Precision (a float), or one per threshold (an array)."""
        return self._value(_divide_no_nan(self.true_positives, self.true_positives + self._other))


@_register_class()
class Recall(_PrecisionRecall):
    """Recall ``tp / (tp + fn)`` over everything seen, at each threshold (arguments as for
    ``Precision``).

    Example:
        >>> m = Recall()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """

    _cells = ("tp", "fn")

    @property
    def false_negatives(self):
        """The weighted false-negative count at each threshold."""
        return self._other

    def result(self):
        """Recall (a float), or one per threshold (an array)."""
        return self._value(_divide_no_nan(self.true_positives, self.true_positives + self._other))


class _SensitivitySpecificityBase(Metric):
    """Counts at ``num_thresholds`` evenly spread thresholds, for the "X at fixed Y" metrics."""

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds}"
            )
        self.value = value
        self.class_id = class_id
        self.num_thresholds = num_thresholds
        if num_thresholds == 1:
            self.thresholds = [0.5]
            self._evenly = False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
            self._evenly = True
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's counts at each threshold."""
        counts = _confusion_counts(
            y_true,
            y_pred,
            self.thresholds,
            self._evenly,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )
        self.true_positives = self.true_positives + counts["tp"]
        self.false_positives = self.false_positives + counts["fp"]
        self.true_negatives = self.true_negatives + counts["tn"]
        self.false_negatives = self.false_negatives + counts["fn"]

    def reset_state(self) -> None:
        """Set the counts back to zero."""
        size = len(self.thresholds)
        self.true_positives = xp.zeros(size)
        self.false_positives = xp.zeros(size)
        self.true_negatives = xp.zeros(size)
        self.false_negatives = xp.zeros(size)

    def _rates(self):
        recall = _divide_no_nan(self.true_positives, self.true_positives + self.false_negatives)
        specificity = _divide_no_nan(
            self.true_negatives, self.true_negatives + self.false_positives
        )
        precision = _divide_no_nan(self.true_positives, self.true_positives + self.false_positives)
        return recall, specificity, precision

    def _max_under_constraint(self, constrained, dependent) -> float:
        """The best ``dependent`` among thresholds where ``constrained >= value`` (else 0)."""
        feasible = constrained >= self.value
        return float(xp.max(xp.where(feasible, dependent, 0.0), initial=0.0))

    def get_config(self) -> dict:
        """Return name, dtype, class_id and num_thresholds."""
        config = super().get_config()
        config.update(class_id=self.class_id, num_thresholds=self.num_thresholds)
        return config


def _check_unit_interval(name: str, value: float) -> None:
    if value < 0 or value > 1:
        raise ValueError(f"Argument `{name}` must be in the range [0, 1]. Received: {name}={value}")


@_register_class()
class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (recall) at a threshold whose specificity is at least
    ``specificity``.

    Example:
        >>> m = SensitivityAtSpecificity(0.5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
        >>> m.result()
        0.5
    """

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        _check_unit_interval("specificity", specificity)
        self.specificity = specificity
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        """Sensitivity at the required specificity."""
        recall, specificity, _ = self._rates()
        return self._max_under_constraint(specificity, recall)

    def get_config(self) -> dict:
        """Return name, dtype, class_id, num_thresholds and specificity."""
        return {**super().get_config(), "specificity": self.specificity}


@_register_class()
class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity at a threshold whose sensitivity is at least ``sensitivity``."""

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        _check_unit_interval("sensitivity", sensitivity)
        self.sensitivity = sensitivity
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        """Specificity at the required sensitivity."""
        recall, specificity, _ = self._rates()
        return self._max_under_constraint(recall, specificity)

    def get_config(self) -> dict:
        """Return name, dtype, class_id, num_thresholds and sensitivity."""
        return {**super().get_config(), "sensitivity": self.sensitivity}


@_register_class()
class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision at a threshold whose recall is at least ``recall``."""

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        _check_unit_interval("recall", recall)
        self.recall = recall
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        """Precision at the required recall."""
        recall, _, precision = self._rates()
        return self._max_under_constraint(recall, precision)

    def get_config(self) -> dict:
        """Return name, dtype, class_id, num_thresholds and recall."""
        return {**super().get_config(), "recall": self.recall}


@_register_class()
class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall at a threshold whose precision is at least ``precision``."""

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        _check_unit_interval("precision", precision)
        self.precision = precision
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        """Recall at the required precision."""
        recall, _, precision = self._rates()
        return self._max_under_constraint(precision, recall)

    def get_config(self) -> dict:
        """Return name, dtype, class_id, num_thresholds and precision."""
        return {**super().get_config(), "precision": self.precision}


_AUC_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_AUC_SUMMATIONS = ("interpolation", "majoring", "minoring")


@_register_class()
class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at ``num_thresholds``
    thresholds (a Riemann sum, as Keras computes it).

    Args:
        num_thresholds: how many thresholds (> 1) discretise the curve.
        curve: ``'ROC'`` (default), ``'PR'`` or ``'PRGAIN'``.
        summation_method: ``'interpolation'`` (default; for PR, Davis & Goadrich's
            interpolation), ``'majoring'`` or ``'minoring'``.
        name, dtype: as for every metric.
        thresholds: explicit thresholds in [0, 1] instead of evenly spread ones (a threshold
            just below 0 and one just above 1 are added).
        multi_label: one curve per label (column) of ``(batch, labels)`` data, averaged; else
            every prediction is one point of a single curve.
        num_labels: the number of labels with ``multi_label``, if known before the first update.
        label_weights: per-label weights (the average's weights with ``multi_label``, else
            weights of each label's predictions).
        from_logits: apply a sigmoid to ``y_pred`` first.

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> m.result()
        0.75
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: str | None = None,
        thresholds=None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights=None,
        from_logits: bool = False,
    ) -> None:
        if str(curve).lower() not in _AUC_CURVES:
            raise ValueError(
                f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]'
            )
        if str(summation_method).lower() not in _AUC_SUMMATIONS:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". Expected values '
                'are ["interpolation", "majoring", "minoring"]'
            )
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            thresholds = sorted(_parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(thresholds) + 2
            self._evenly = _evenly_distributed([0.0] + thresholds + [1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        eps = backend.epsilon()
        # just outside [0, 1], so predictions of exactly 0 and 1 land inside the curve
        self._thresholds = [0.0 - eps] + thresholds + [1.0 + eps]
        self.curve = _AUC_CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        if label_weights is not None:
            label_weights = [float(w) for w in _as_list(label_weights)]
        self.label_weights = label_weights
        self.from_logits = from_logits
        if not multi_label and num_labels:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self._num_labels = num_labels if multi_label else None
        self._built = not multi_label or bool(num_labels)
        self.reset_state()

    @property
    def thresholds(self) -> list:
        """Every threshold, the two outside [0, 1] included."""
        return list(self._thresholds)

    def _shape(self) -> tuple:
        if self.multi_label:
            return (self.num_thresholds, self._num_labels)
        return (self.num_thresholds,)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's counts at each threshold."""
        y_pred = xp.asarray(y_pred, dtype=xp.float64)
        if not self._built:
            if y_pred.ndim != 2:
                raise ValueError(
                    "`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                    f"{y_pred.ndim}. Full shape received for `y_pred`: {y_pred.shape}"
                )
            self._num_labels = y_pred.shape[1]
            self._built = True
            self.reset_state()
        if self.from_logits:
            y_pred = 0.5 * (1.0 + xp.tanh(0.5 * y_pred))  # sigmoid, without overflow
        counts = _confusion_counts(
            y_true,
            y_pred,
            self._thresholds,
            self._evenly,
            sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )
        self.true_positives = self.true_positives + counts["tp"]
        self.false_positives = self.false_positives + counts["fp"]
        self.true_negatives = self.true_negatives + counts["tn"]
        self.false_negatives = self.false_negatives + counts["fn"]

    def reset_state(self) -> None:
        """Set the counts back to zero."""
        shape = self._shape() if self._built else (self.num_thresholds,)
        self.true_positives = xp.zeros(shape)
        self.false_positives = xp.zeros(shape)
        self.true_negatives = xp.zeros(shape)
        self.false_negatives = xp.zeros(shape)

    def _average(self, by_label) -> float:
        """The labels' areas averaged (weighted by ``label_weights``), or the one area."""
        if not self.multi_label:
            return float(xp.sum(by_label))
        by_label = xp.sum(by_label, axis=0)
        if self.label_weights is None:
            return float(xp.mean(by_label))
        weights = xp.asarray(self.label_weights, dtype=xp.float64)
        return float(_divide_no_nan(xp.sum(by_label * weights), xp.sum(weights)))

    def _interpolate_pr_auc(self) -> float:
        """PR area with precision interpolated between thresholds (Davis & Goadrich, 2006)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, xp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = xp.where(
            both_positive, _divide_no_nan(p[:-1], xp.maximum(p[1:], 0)), xp.ones_like(p[1:])
        )
        increments = _divide_no_nan(
            slope * (dtp + intercept * xp.log(ratio)), xp.maximum(tp[1:] + fn[1:], 0)
        )
        return self._average(increments)

    def result(self) -> float:
        """The area under the curve."""
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:
            scaling = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * _divide_no_nan(fn, tp)
            precision_gain = 1.0 - scaling * _divide_no_nan(fp, tp)
            x = xp.maximum(xp.where(tp == 0, 0.0, recall_gain), 0.0)
            y = xp.where(tp == 0, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = xp.minimum(y[:-1], y[1:])
        else:
            heights = xp.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        """Return the constructor arguments (``thresholds`` only when they were given)."""
        config = super().get_config()
        config.update(
            num_thresholds=self.num_thresholds,
            curve=self.curve,
            summation_method=self.summation_method,
            multi_label=self.multi_label,
            num_labels=self.num_labels,
            label_weights=self.label_weights,
            from_logits=self.from_logits,
        )
        if self._init_from_thresholds:
            config["thresholds"] = self._thresholds[1:-1]
        return config


# --------------------------------------------------------------------------------------------
# F-scores and R2
# --------------------------------------------------------------------------------------------


def _two_dimensional(metric: str, y_true, y_pred) -> None:
    if y_pred.ndim != 2 or y_true.ndim != 2:
        raise ValueError(
            f"{metric} expects 2D inputs with shape (batch_size, output_dim). Received input "
            f"shapes: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}."
        )


@_register_class()
class FBetaScore(Metric):
    """F-beta score of multi-label (or one-hot) predictions, per class or averaged.

    Args:
        average: None (one score per class), ``'micro'`` (from the counts of every class
            together), ``'macro'`` (mean of the per-class scores) or ``'weighted'`` (mean
            weighted by each class's number of true instances).
        beta: how much more recall counts than precision (a float > 0).
        threshold: predictions above it count as positive; None takes each row's highest
            score(s) as the prediction.
        name, dtype: as for every metric.

    Example:
        >>> m = FBetaScore(beta=2.0, threshold=0.5, average="micro")
        >>> m.update_state([[0, 1], [1, 0]], [[0.2, 0.7], [0.4, 0.3]])
        >>> round(m.result(), 4)
        0.5556
    """

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                f"'weighted'}}. Received: average={average}"
            )
        if not isinstance(beta, float):
            raise ValueError(
                "Invalid `beta` argument value. It should be a Python float. "
                f"Received: beta={beta} of type '{type(beta)}'"
            )
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: {beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    "Invalid `threshold` argument value. It should be a Python float. "
                    f"Received: threshold={threshold} of type '{type(threshold)}'"
                )
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(
                    "Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                    f"Received: threshold={threshold}"
                )
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's per-class (or, for 'micro', total) counts."""
        y_true = xp.asarray(y_true, dtype=xp.float64)
        y_pred = xp.asarray(y_pred, dtype=xp.float64)
        _two_dimensional("FBetaScore", y_true, y_pred)
        _check_batch(y_true, y_pred)
        if self.threshold is None:
            # each row's highest score(s) are the prediction (unless they are 0)
            highest = xp.max(y_pred, axis=-1, keepdims=True)
            predicted = (y_pred >= highest) & (xp.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(xp.float64)

        def weighted_sum(values):
            if sample_weight is not None:
                weights = xp.asarray(sample_weight, dtype=xp.float64)
                values = values * weights.reshape(-1, 1) if weights.ndim else values * weights
            return xp.sum(values, axis=self.axis)

        self.true_positives = self.true_positives + weighted_sum(predicted * y_true)
        self.false_positives = self.false_positives + weighted_sum(predicted * (1 - y_true))
        self.false_negatives = self.false_negatives + weighted_sum((1 - predicted) * y_true)
        self.intermediate_weights = self.intermediate_weights + weighted_sum(y_true)

    def result(self):
        """The score: an array of one per class for ``average=None``, else a float."""
        eps = backend.epsilon()
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        beta_squared = self.beta**2
        score = precision * recall / (beta_squared * precision + recall + eps) * (1 + beta_squared)
        if self.average == "weighted":
            weights = self.intermediate_weights / (xp.sum(self.intermediate_weights) + eps)
            return float(xp.sum(score * weights))
        if self.average is not None:
            return float(xp.mean(score))
        return xp.asarray(score, dtype=xp.float64)

    def reset_state(self) -> None:
        """Set the counts back to zero (0-d until the first batch shows the class count)."""
        self.true_positives = 0.0
        self.false_positives = 0.0
        self.false_negatives = 0.0
        self.intermediate_weights = 0.0

    def get_config(self) -> dict:
        """Return name, dtype, average, beta and threshold."""
        config = super().get_config()
        config.update(average=self.average, beta=self.beta, threshold=self.threshold)
        return config


@_register_class()
class F1Score(FBetaScore):
    """F1 score: the F-beta score with beta = 1 (arguments as for ``FBetaScore``).

    Example:
        >>> m = F1Score(threshold=0.5)
        >>> m.update_state([[0, 1], [1, 0]], [[0.2, 0.7], [0.4, 0.3]])
        >>> m.result().round(4).tolist()
        [0.0, 0.6667]
    """

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: str | None = None,
    ) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        """Return name, dtype, average and threshold."""
        config = super().get_config()
        del config["beta"]
        return config


@_register_class()
class R2Score(Metric):
    """Coefficient of determination over everything seen, per output column then aggregated.

    Args:
        class_aggregation: ``'uniform_average'`` (default), ``'variance_weighted_average'`` or
            None (one score per column).
        num_regressors: for the adjusted R2 score (0: plain R2).
        name, dtype: as for every metric.

    Example:
        >>> m = R2Score()
        >>> m.update_state([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]])
        >>> round(m.result(), 4)
        0.5714
    """

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(
                f"Invalid value for argument `class_aggregation`. Expected one of {valid}. "
                f"Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(
                "Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's weighted sums per output column."""
        y_true = xp.asarray(y_true, dtype=xp.float64)
        y_pred = xp.asarray(y_pred, dtype=xp.float64)
        _check_batch(y_true, y_pred)
        y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
        _two_dimensional("R2Score", y_true, y_pred)
        weights = xp.asarray(1.0 if sample_weight is None else sample_weight, dtype=xp.float64)
        if weights.ndim == 1:
            weights = weights[:, None]
        weights = xp.broadcast_to(weights, y_true.shape)
        weighted_true = y_true * weights
        self.sum = self.sum + xp.sum(weighted_true, axis=0)
        self.squared_sum = self.squared_sum + xp.sum(y_true * weighted_true, axis=0)
        self.total_mse = self.total_mse + xp.sum(xp.square(y_true - y_pred) * weights, axis=0)
        self.count = self.count + xp.sum(weights, axis=0)
        self.num_samples += y_true.size

    def result(self):
        """The (aggregated) score; an array of one per column for ``class_aggregation=None``."""
        if self.num_samples == 0:
            return 0.0
        with xp.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw_scores = 1 - self.total_mse / total
        raw_scores = xp.where(xp.isinf(raw_scores), 0.0, raw_scores)
        if self.class_aggregation == "uniform_average":
            score = xp.mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            score = xp.sum(total * raw_scores) / xp.sum(total)
        else:
            score = raw_scores
        if self.num_regressors != 0:
            n, p = self.num_samples, self.num_regressors
            if p > n - 1:
                warnings.warn(
                    "More independent predictors than datapoints in adjusted R2 score. "
                    "Falling back to standard R2 score.",
                    stacklevel=2,
                )
            elif p == n - 1:
                warnings.warn(
                    "Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                    stacklevel=2,
                )
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        if xp.ndim(score) == 0:
            return float(score)
        return score

    def reset_state(self) -> None:
        """Set every sum back to zero (the column count is set by the first batch)."""
        self.sum = 0.0
        self.squared_sum = 0.0
        self.total_mse = 0.0
        self.count = 0.0
        self.num_samples = 0

    def get_config(self) -> dict:
        """Return name, dtype, class_aggregation and num_regressors."""
        config = super().get_config()
        config.update(class_aggregation=self.class_aggregation, num_regressors=self.num_regressors)
        return config


# --------------------------------------------------------------------------------------------
# Intersection over union
# --------------------------------------------------------------------------------------------


class _IoUBase(Metric):
    """A weighted ``(num_classes, num_classes)`` confusion matrix, rows true, columns predicted.

    The matrix is kept in float64, so fractional sample weights count as given (Keras's default
    integer dtype truncates them, with a warning).
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(name=name, dtype=dtype or "int32")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add the batch's (weighted) true-class / predicted-class pairs."""
        y_true = xp.asarray(y_true)
        y_pred = xp.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = xp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = xp.argmax(y_pred, axis=self.axis)
        # class ids as integers (a float id is truncated, as Keras's integer cast does)
        y_true = y_true.astype(xp.int64).reshape(-1)
        y_pred = y_pred.astype(xp.int64).reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                "y_true and y_pred must hold the same number of class ids; got "
                f"{y_true.size} and {y_pred.size}."
            )
        weights = xp.asarray(1.0 if sample_weight is None else sample_weight, dtype=xp.float64)
        weights = xp.broadcast_to(
            weights.reshape(-1) if weights.ndim > 1 else weights, y_true.shape
        )
        valid = (y_true >= 0) & (y_true < self.num_classes)
        valid &= (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            valid &= y_true != self.ignore_class
        cells = y_true[valid] * self.num_classes + y_pred[valid]
        counts = xp.bincount(cells, weights=weights[valid], minlength=self.num_classes**2)
        self.total_cm = self.total_cm + counts.reshape(self.num_classes, self.num_classes)

    def reset_state(self) -> None:
        """Set the confusion matrix back to zeros."""
        self.total_cm = xp.zeros((self.num_classes, self.num_classes))


@_register_class()
class IoU(_IoUBase):
    """Mean intersection-over-union of the classes in ``target_class_ids``:
    ``tp / (tp + fp + fn)`` per class from the accumulated confusion matrix.

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes whose IoU is averaged.
        name, dtype: as for every metric (Keras's default dtype is ``'int32'``).
        ignore_class: a true class id that is not counted.
        sparse_y_true: whether ``y_true`` holds class ids (else one-hot / scores).
        sparse_y_pred: whether ``y_pred`` holds class ids (else scores, argmax taken).
        axis: the class axis of non-sparse inputs.

    Example:
        >>> m = IoU(num_classes=2, target_class_ids=[0])
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )
        target_class_ids = [int(i) for i in target_class_ids]
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"Target class id {max(target_class_ids)} is out of range, which is "
                f"[0, {num_classes})."
            )
        self.target_class_ids = target_class_ids

    def result(self) -> float:
        """Mean IoU over the target classes that occurred (predicted or true)."""
        cm = self.total_cm
        true_positives = xp.diag(cm)
        denominator = cm.sum(axis=0) + cm.sum(axis=1) - true_positives
        true_positives = true_positives[self.target_class_ids]
        denominator = denominator[self.target_class_ids]
        valid = denominator > 1e-9
        eps = backend.epsilon()
        iou = xp.where(valid, true_positives / (denominator + eps), 0.0)
        return float(xp.sum(iou) / (xp.sum(valid) + eps))

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            target_class_ids=self.target_class_ids,
            ignore_class=self.ignore_class,
            sparse_y_true=self.sparse_y_true,
            sparse_y_pred=self.sparse_y_pred,
            axis=self.axis,
        )
        return config


@_register_class()
class BinaryIoU(IoU):
    """IoU of binary predictions: ``y_pred >= threshold`` is class 1, else class 0.

    Example:
        >>> m = BinaryIoU(target_class_ids=[1])
        >>> m.update_state([0, 1, 0, 1], [0.1, 0.9, 0.6, 0.4])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(
        self,
        target_class_ids=(0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Threshold the predictions, then add the batch."""
        predicted = (xp.asarray(y_pred, dtype=xp.float64) >= self.threshold).astype(xp.int64)
        super().update_state(y_true, predicted, sample_weight)

    def get_config(self) -> dict:
        """Return target_class_ids, threshold, name and dtype."""
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


@_register_class()
class MeanIoU(IoU):
    """IoU averaged over every class (arguments as for ``IoU``, without target_class_ids).

    Example:
        >>> m = MeanIoU(num_classes=2)
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes,
            list(range(num_classes)),
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        config = super().get_config()
        del config["target_class_ids"]
        return config


@_register_class()
class OneHotIoU(IoU):
    """IoU of one-hot targets against class scores (argmax taken); see ``IoU``."""

    def __init__(
        self,
        num_classes: int,
        target_class_ids,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes,
            target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        config = super().get_config()
        del config["sparse_y_true"]
        return config


@_register_class()
class OneHotMeanIoU(MeanIoU):
    """Mean IoU of one-hot targets against class scores (argmax taken); see ``MeanIoU``."""

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        config = super().get_config()
        del config["sparse_y_true"]
        return config


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


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
