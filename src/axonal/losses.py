"""Loss functions by name, function or class, with Keras 3 names, defaults and reduction.

A loss function maps ``(y_true, y_pred)`` to one value per sample; a ``Loss`` object also
weights and reduces them (``'sum_over_batch_size'``: the weighted sum divided by the number of
values). When ``y_pred`` came straight out of a softmax or sigmoid, the cross-entropies use the
logits underneath, so the result stays finite and exact even where probabilities round to 0 or 1.

Example:
    >>> loss = SparseCategoricalCrossentropy()
    >>> value = loss(labels, probabilities)
"""

from __future__ import annotations

import math

from axonal import functional as F
from axonal import primitives as P
from axonal.backend import epsilon, standardize_dtype, xp
from axonal.registry import deserialize as _deserialize
from axonal.registry import lookup, register
from axonal.registry import serialize as _serialize
from axonal.tensor import Tensor, as_tensor

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _prepare(y_true, y_pred) -> tuple[Tensor, Tensor]:
    """Tensors of matching rank and float dtype (y_true takes y_pred's dtype)."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, dtype=y_pred.dtype)
    # Keras's squeeze_or_expand_to_same_rank: when the ranks differ by one and the longer side
    # ends in 1, a rank-1 side gains a trailing axis, otherwise the longer side loses it
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = F.expand_dims(y_true, -1)
        else:
            y_pred = _keep_logits(F.squeeze(y_pred, -1), y_pred, lambda t: F.squeeze(t, -1))
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = _keep_logits(F.expand_dims(y_pred, -1), y_pred, lambda t: F.expand_dims(t, -1))
        else:
            y_true = F.squeeze(y_true, -1)
    return y_true, y_pred


def _keep_logits(reshaped: Tensor, original: Tensor, reshape) -> Tensor:
    """``reshaped`` still knows the sigmoid logits of ``original`` (elementwise, so reshapeable)."""
    logits = _logits_of(original, "sigmoid")
    if logits is not None:
        reshaped._logits = ("sigmoid", reshape(logits))
    return reshaped


def _logits_of(y_pred, activation: str):
    """The pre-activation tensor if ``y_pred`` was produced by that activation, else None."""
    origin = getattr(y_pred, "_logits", None)
    if origin is not None and origin[0] == activation:
        return origin[1]
    return None


# ---------------------------------------------------------------- per-sample functions


@register("loss", "mean_squared_error", "mse", "MSE")
def mean_squared_error(y_true, y_pred) -> Tensor:
    """Mean of squared differences over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return F.mean(F.square(F.subtract(y_pred, y_true)), axis=-1)


@register("loss", "mean_absolute_error", "mae", "MAE")
def mean_absolute_error(y_true, y_pred) -> Tensor:
    """Mean of absolute differences over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return F.mean(F.abs(F.subtract(y_pred, y_true)), axis=-1)


@register("loss", "huber")
def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """Quadratic below ``delta``, linear above it; mean over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    error = F.abs(F.subtract(y_pred, y_true))
    quadratic = F.multiply(F.square(error), 0.5)
    linear = F.subtract(F.multiply(error, delta), 0.5 * delta * delta)
    return F.mean(F.where(error.data <= delta, quadratic, linear), axis=-1)


@register("loss", "log_cosh", "logcosh")
def log_cosh(y_true, y_pred) -> Tensor:
    """Mean of ``log(cosh(y_pred - y_true))`` over the last axis, without overflow."""
    y_true, y_pred = _prepare(y_true, y_pred)
    x = F.subtract(y_pred, y_true)
    # log(cosh(x)) = x + softplus(-2x) - log(2): no exp of a large positive number
    value = F.subtract(F.add(x, F.softplus(F.multiply(x, -2.0))), math.log(2.0))
    return F.mean(value, axis=-1)


@register("loss", "binary_crossentropy", "bce", "BCE")
def binary_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """Binary cross-entropy, mean over ``axis``; targets may be smoothed towards 0.5."""
    y_true, y_pred = _prepare(y_true, y_pred)
    if label_smoothing:
        y_true = F.add(F.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    logits = y_pred if from_logits else _logits_of(y_pred, "sigmoid")
    if logits is not None:
        return F.mean(F.sigmoid_cross_entropy(logits, y_true), axis=axis)
    eps = epsilon()
    p = F.clip(y_pred, eps, 1.0 - eps)
    one_minus = F.subtract(1.0, y_true)
    value = F.add(F.multiply(y_true, F.log(p)), F.multiply(one_minus, F.log(F.subtract(1.0, p))))
    return F.negative(F.mean(value, axis=axis))


@register("loss", "categorical_crossentropy", "cce")
def categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """Cross-entropy of one-hot (or probability) targets; sums over ``axis``."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, dtype=y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"categorical_crossentropy needs y_true and y_pred of the same shape (one-hot "
            f"targets), got {y_true.shape} and {y_pred.shape}; for integer labels use "
            "sparse_categorical_crossentropy."
        )
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = F.add(F.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    logits = y_pred if from_logits else _logits_of(y_pred, "softmax")
    if logits is not None:
        return F.softmax_cross_entropy(logits, y_true, axis=axis)
    eps = epsilon()
    p = F.divide(y_pred, F.sum(y_pred, axis=axis, keepdims=True))
    p = F.clip(p, eps, 1.0 - eps)
    return F.negative(F.sum(F.multiply(y_true, F.log(p)), axis=axis))


@register("loss", "sparse_categorical_crossentropy", "scce")
def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, ignore_class: int | None = None, axis: int = -1
) -> Tensor:
    """Cross-entropy of integer labels against class probabilities (or logits)."""
    y_pred = as_tensor(y_pred)
    labels = y_true.data if isinstance(y_true, Tensor) else xp.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(xp.intp, copy=False)
    if axis not in (-1, y_pred.ndim - 1):
        y_pred = F.transpose(
            y_pred,
            [i for i in range(y_pred.ndim) if i != axis % y_pred.ndim] + [axis % y_pred.ndim],
        )
    keep = None
    if ignore_class is not None:
        keep = labels != ignore_class
        labels = xp.where(keep, labels, 0)
    logits = y_pred if from_logits else _logits_of(y_pred, "softmax")
    if logits is not None:
        value = F.sparse_softmax_cross_entropy(logits, labels)
    else:
        eps = epsilon()
        p = F.divide(y_pred, F.sum(y_pred, axis=-1, keepdims=True))
        log_p = F.log(F.clip(p, eps, 1.0 - eps))
        positions = P.label_positions(labels.reshape(-1), y_pred.shape[-1])
        picked = F.take(F.reshape(log_p, (-1,)), positions.reshape(labels.shape))
        value = F.negative(F.reshape(picked, labels.shape))
    if keep is not None:
        value = F.multiply(value, keep.astype(value.dtype))
    return value


@register("loss", "mean_absolute_percentage_error", "mape", "MAPE")
def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    """``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))`` over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    denominator = F.maximum(F.abs(y_true), epsilon())
    ratio = F.divide(F.abs(F.subtract(y_true, y_pred)), denominator)
    return F.multiply(F.mean(ratio, axis=-1), 100.0)


@register("loss", "mean_squared_logarithmic_error", "msle", "MSLE")
def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    """Mean of ``(log1p(max(y_pred, eps)) - log1p(max(y_true, eps))) ** 2`` over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    eps = epsilon()
    log_pred = F.log1p(F.maximum(y_pred, eps))
    log_true = F.log1p(F.maximum(y_true, eps))
    return F.mean(F.square(F.subtract(log_pred, log_true)), axis=-1)


def _l2_normalize(x: Tensor, axis) -> Tensor:
    """``x / max(||x||, epsilon)`` along ``axis`` (Keras's ``normalize``), finite gradient at 0."""
    eps = epsilon()
    # clamping the squared norm (not the norm) keeps sqrt's gradient finite for a zero vector
    squared = F.maximum(F.sum(F.square(x), axis=axis, keepdims=True), eps * eps)
    return F.divide(x, F.sqrt(squared))


@register("loss", "cosine_similarity")
def cosine_similarity(y_true, y_pred, axis: int = -1) -> Tensor:
    """Negative cosine similarity along ``axis``: -1 for parallel vectors, 1 for opposite ones."""
    y_true, y_pred = _prepare(y_true, y_pred)
    product = F.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis))
    return F.negative(F.sum(product, axis=axis))


def _hinge_labels(y_true: Tensor) -> Tensor:
    """0/1 labels become -1/1 (Keras converts only when every label of the batch is 0 or 1)."""
    labels = y_true.data
    if bool(xp.all((labels == 0) | (labels == 1))):
        return F.subtract(F.multiply(y_true, 2.0), 1.0)
    return y_true


@register("loss", "hinge")
def hinge(y_true, y_pred) -> Tensor:
    """Mean of ``max(1 - y_true * y_pred, 0)`` over the last axis; labels -1/1 (or 0/1)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    margin = F.subtract(1.0, F.multiply(_hinge_labels(y_true), y_pred))
    return F.mean(F.relu(margin), axis=-1)


@register("loss", "squared_hinge")
def squared_hinge(y_true, y_pred) -> Tensor:
    """Mean of ``max(1 - y_true * y_pred, 0) ** 2`` over the last axis; labels -1/1 (or 0/1)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    margin = F.subtract(1.0, F.multiply(_hinge_labels(y_true), y_pred))
    return F.mean(F.square(F.relu(margin)), axis=-1)


@register("loss", "categorical_hinge")
def categorical_hinge(y_true, y_pred) -> Tensor:
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` per sample (one-hot)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    positive = F.sum(F.multiply(y_true, y_pred), axis=-1)
    negative = F.max(F.multiply(F.subtract(1.0, y_true), y_pred), axis=-1)
    return F.relu(F.add(F.subtract(negative, positive), 1.0))


@register("loss", "kl_divergence", "kld", "KLD")
def kl_divergence(y_true, y_pred) -> Tensor:
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [eps, 1]."""
    y_true, y_pred = _prepare(y_true, y_pred)
    eps = epsilon()
    t = F.clip(y_true, eps, 1.0)
    p = F.clip(y_pred, eps, 1.0)
    # log(t) - log(p) rather than log(t / p): same value, no overflow of the ratio
    return F.sum(F.multiply(t, F.subtract(F.log(t), F.log(p))), axis=-1)


@register("loss", "poisson")
def poisson(y_true, y_pred) -> Tensor:
    """Mean of ``y_pred - y_true * log(y_pred + epsilon)`` over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    log_pred = F.log(F.add(y_pred, epsilon()))
    return F.mean(F.subtract(y_pred, F.multiply(y_true, log_pred)), axis=-1)


def _config_axis(axis):
    """An axis for a config: a tuple of axes becomes a list (JSON has no tuples)."""
    if isinstance(axis, tuple):
        return list(axis)
    return axis


def _overlap_axis(axis):
    """Keras's ``axis`` of dice / tversky: None, an int, or a list (from JSON) of ints."""
    if isinstance(axis, list):
        return tuple(axis)
    return axis


@register("loss", "dice")
def dice(y_true, y_pred, axis=None) -> Tensor:
    """``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)`` over ``axis``.

    With ``axis=None`` (Keras's default) the sums run over the whole batch and the result is
    one value; ``axis=(1, 2)`` on ``(batch, h, w)`` masks gives one value per image.
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    axis = _overlap_axis(axis)
    intersection = F.sum(F.multiply(y_true, y_pred), axis=axis)
    union = F.add(F.add(F.sum(y_true, axis=axis), F.sum(y_pred, axis=axis)), epsilon())
    return F.subtract(1.0, F.divide(F.multiply(intersection, 2.0), union))


@register("loss", "tversky")
def tversky(y_true, y_pred, alpha: float = 0.5, beta: float = 0.5, axis=None) -> Tensor:
    """``1 - TP / (TP + alpha * A + beta * B + eps)`` with soft counts summed over ``axis``.

    ``TP = sum(y_true * y_pred)``, ``A = sum(y_true * (1 - y_pred))`` (the mass of the true mask
    that was missed) and ``B = sum((1 - y_true) * y_pred)`` (predicted outside it), exactly as
    Keras computes them (its documentation calls ``alpha`` the false positives' weight, but its
    formula puts it on ``A``). 0.5 and 0.5 give the Dice loss.
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    axis = _overlap_axis(axis)
    overlap = F.sum(F.multiply(y_true, y_pred), axis=axis)
    missed = F.sum(F.multiply(F.subtract(1.0, y_pred), y_true), axis=axis)
    spurious = F.sum(F.multiply(y_pred, F.subtract(1.0, y_true)), axis=axis)
    denominator = F.add(
        F.add(F.add(overlap, F.multiply(missed, alpha)), F.multiply(spurious, beta)),
        epsilon(),
    )
    return F.subtract(1.0, F.divide(overlap, denominator))


@register("loss", "binary_focal_crossentropy")
def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Binary cross-entropy scaled by ``(1 - p_t) ** gamma``, mean over ``axis``.

    ``p_t`` is the probability given to the true label, so well-classified examples count less;
    with ``apply_class_balancing`` positives are also weighted by ``alpha`` and negatives by
    ``1 - alpha``. From logits (or a sigmoid's output) the cross-entropy uses the logits, so it
    stays exact where Keras's clipped probabilities would cap it.
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    if label_smoothing:
        y_true = F.add(F.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    logits = y_pred if from_logits else _logits_of(y_pred, "sigmoid")
    if logits is not None:
        probabilities = F.sigmoid(logits) if from_logits else y_pred
        cross_entropy = F.sigmoid_cross_entropy(logits, y_true)
    else:
        probabilities = y_pred
        eps = epsilon()
        p = F.clip(y_pred, eps, 1.0 - eps)
        cross_entropy = F.negative(
            F.add(
                F.multiply(y_true, F.log(p)),
                F.multiply(F.subtract(1.0, y_true), F.log(F.subtract(1.0, p))),
            )
        )
    one_minus_true = F.subtract(1.0, y_true)
    p_t = F.add(
        F.multiply(y_true, probabilities),
        F.multiply(one_minus_true, F.subtract(1.0, probabilities)),
    )
    focal = F.multiply(F.power(F.subtract(1.0, p_t), gamma), cross_entropy)
    if apply_class_balancing:
        weight = F.add(F.multiply(y_true, alpha), F.multiply(one_minus_true, 1.0 - alpha))
        focal = F.multiply(weight, focal)
    return F.mean(focal, axis=axis)


@register("loss", "categorical_focal_crossentropy")
def categorical_focal_crossentropy(
    y_true,
    y_pred,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Categorical cross-entropy scaled by ``alpha * (1 - p) ** gamma`` per class, summed over
    ``axis``; one-hot (or probability) targets.

    From logits (or a softmax's output) the log-probabilities come from ``log_softmax`` and stay
    exact where Keras's clipped probabilities would cap them.
    """
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, dtype=y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"categorical_focal_crossentropy needs y_true and y_pred of the same shape (one-hot "
            f"targets), got {y_true.shape} and {y_pred.shape}."
        )
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = F.add(F.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    logits = y_pred if from_logits else _logits_of(y_pred, "softmax")
    eps = epsilon()
    if logits is not None:
        probabilities = F.softmax(logits, axis=axis) if from_logits else y_pred
        log_p = F.log_softmax(logits, axis=axis)
        p = F.clip(probabilities, eps, 1.0 - eps)
    else:
        p = F.divide(y_pred, F.sum(y_pred, axis=axis, keepdims=True))
        p = F.clip(p, eps, 1.0 - eps)
        log_p = F.log(p)
    cross_entropy = F.negative(F.multiply(y_true, log_p))
    weight = F.multiply(F.power(F.subtract(1.0, p), gamma), alpha)
    return F.sum(F.multiply(weight, cross_entropy), axis=axis)


@register("loss", "categorical_generalized_cross_entropy")
def categorical_generalized_cross_entropy(y_true, y_pred, q: float) -> Tensor:
    """``(1 - p ** q) / q`` of the probability ``p`` of each integer label (noise-robust).

    ``q`` near 0 approaches cross-entropy, ``q = 1`` is the mean absolute error of the one-hot
    target.
    """
    y_pred = as_tensor(y_pred)
    labels = y_true.data if isinstance(y_true, Tensor) else xp.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(xp.intp, copy=False)
    positions = P.label_positions(labels.reshape(-1), y_pred.shape[-1])
    p = F.reshape(F.take(F.reshape(y_pred, (-1,)), positions), labels.shape)
    return F.divide(F.subtract(1.0, F.power(p, q)), q)


# ---------------------------------------------------------------- Loss objects


class Loss:
    """Base class: ``call(y_true, y_pred)`` per sample; ``__call__`` weights and reduces.

    Args:
        name: display name.
        reduction: ``'sum_over_batch_size'`` (default), ``'sum'``, ``'mean'``,
            ``'mean_with_sample_weight'`` or ``'none'``.
        dtype: the float type the loss computes in; None (default) keeps ``y_pred``'s. Keras
            leaves it out of ``get_config``, and so does axonal.
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: str | None = None,
    ):
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"Unknown reduction {reduction!r}; expected one of {_REDUCTIONS[:-1]}."
            )
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = None if dtype is None else standardize_dtype(dtype)

    def call(self, y_true, y_pred) -> Tensor:
        """Per-sample loss values."""
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        """The reduced (scalar unless reduction='none') loss."""
        values = self.call(y_true, self._in_dtype(y_pred))
        return reduce_weighted(values, sample_weight, self.reduction)

    def _in_dtype(self, y_pred):
        """``y_pred`` cast to the loss's ``dtype`` when one was given (y_true follows it)."""
        if self.dtype is None:
            return y_pred
        y_pred = as_tensor(y_pred)
        if y_pred.dtype == xp.dtype(self.dtype):
            return y_pred
        return F.cast(y_pred, self.dtype)

    def get_config(self) -> dict:
        """Constructor arguments as JSON values."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        """Rebuild from ``get_config()``."""
        return cls(**config)


def reduce_weighted(values: Tensor, sample_weight=None, reduction="sum_over_batch_size"):
    """Weight per-sample ``values`` and reduce them the Keras 3 way."""
    weight = None
    if sample_weight is not None:
        weight = xp.asarray(
            sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight,
            dtype=values.dtype,
        )
        while weight.ndim > values.ndim and weight.shape[-1] == 1:
            weight = weight[..., 0]
        while weight.ndim < values.ndim:
            weight = weight[..., None]
        values = F.multiply(values, weight)
    if reduction in ("none", None):
        return values
    if sample_weight is None and reduction != "sum":
        return F.mean(values)
    total = F.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        # the weighted mean: divide by the weights' sum (0 when they sum to 0, as Keras's
        # divide_no_nan gives)
        weight_sum = float(xp.sum(xp.broadcast_to(weight, values.shape), dtype=xp.float64))
        if weight_sum == 0.0:
            return F.multiply(total, 0.0)
        return F.divide(total, weight_sum)
    # 'sum_over_batch_size' and 'mean' both divide by the number of values, as Keras 3 does
    return F.divide(total, max(values.size, 1))


class LossFunctionWrapper(Loss):
    """A Loss made from a per-sample function and its keyword arguments."""

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self.fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)


@register("loss", "MeanSquaredError")
class MeanSquaredError(LossFunctionWrapper):
    """Mean squared error."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)


@register("loss", "MeanAbsoluteError")
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean absolute error."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)


@register("loss", "Huber")
class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta`` (default 1.0)."""

    def __init__(
        self, delta: float = 1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None
    ):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=float(delta))


@register("loss", "LogCosh")
class LogCosh(LossFunctionWrapper):
    """Log of the hyperbolic cosine of the error."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, name=name, reduction=reduction, dtype=dtype)


@register("loss", "BinaryCrossentropy")
class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy on probabilities (or logits with ``from_logits=True``)."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            binary_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
            axis=axis,
        )


@register("loss", "CategoricalCrossentropy")
class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy of one-hot targets against class probabilities (or logits)."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
            axis=axis,
        )


@register("loss", "SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy of integer labels against class probabilities (or logits)."""

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=bool(from_logits),
            ignore_class=ignore_class,
            axis=axis,
        )

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        """As ``Loss.__call__``, but the mean runs over the labels not equal to ``ignore_class``.

        Keras 3 masks ignored labels, so ``'sum_over_batch_size'`` divides the weighted sum by the
        number of valid labels (torch's ``ignore_index`` with ``reduction='mean'`` does the same).
        """
        y_pred = self._in_dtype(y_pred)
        ignore_class = self.fn_kwargs["ignore_class"]
        mean = self.reduction in ("sum_over_batch_size", "mean")
        if ignore_class is None and mean and sample_weight is None and self.fn_kwargs["axis"] == -1:
            from_logits = self.fn_kwargs["from_logits"]
            logits = y_pred if from_logits else _logits_of(y_pred, "softmax")
            if logits is not None:
                # the common training loss: cross-entropy and batch mean as one fused op
                labels = y_true.data if isinstance(y_true, Tensor) else xp.asarray(y_true)
                if labels.ndim == logits.ndim and labels.shape[-1] == 1:
                    labels = labels[..., 0]
                probs = None if from_logits else y_pred
                return F.sparse_softmax_cross_entropy_mean(logits, labels, probs)
        if ignore_class is None or not mean:
            return super().__call__(y_true, y_pred, sample_weight)
        labels = y_true.data if isinstance(y_true, Tensor) else xp.asarray(y_true)
        valid = int(xp.count_nonzero(labels != ignore_class))
        total = reduce_weighted(self.call(y_true, y_pred), sample_weight, "sum")
        return F.divide(total, max(valid, 1))


@register("loss", "MeanAbsolutePercentageError")
class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute percentage error (``100 * |error| / |y_true|``)."""

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="mean_absolute_percentage_error",
        dtype=None,
    ):
        super().__init__(
            mean_absolute_percentage_error, name=name, reduction=reduction, dtype=dtype
        )


@register("loss", "MeanSquaredLogarithmicError")
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared error of ``log1p`` of the (non-negative) values."""

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="mean_squared_logarithmic_error",
        dtype=None,
    ):
        super().__init__(
            mean_squared_logarithmic_error, name=name, reduction=reduction, dtype=dtype
        )


@register("loss", "CosineSimilarity")
class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis`` (minimising it aligns the vectors).

    Example:
        >>> CosineSimilarity()([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).data
        array(-0.5)
    """

    def __init__(
        self, axis: int = -1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype, axis=axis)


@register("loss", "Hinge")
class Hinge(LossFunctionWrapper):
    """Hinge loss ``max(1 - y_true * y_pred, 0)``; 0/1 labels are read as -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, name=name, reduction=reduction, dtype=dtype)


@register("loss", "SquaredHinge")
class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss ``max(1 - y_true * y_pred, 0) ** 2``; 0/1 labels are read as -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, reduction=reduction, dtype=dtype)


@register("loss", "CategoricalHinge")
class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge loss of one-hot targets: best wrong score minus true score plus 1."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, reduction=reduction, dtype=dtype)


@register("loss", "KLDivergence")
class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence of ``y_pred`` from ``y_true`` (probability vectors)."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, reduction=reduction, dtype=dtype)


@register("loss", "Poisson")
class Poisson(LossFunctionWrapper):
    """Poisson negative log-likelihood (up to a constant) of counts ``y_true`` at rates
    ``y_pred``."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, name=name, reduction=reduction, dtype=dtype)


@register("loss", "Dice")
class Dice(LossFunctionWrapper):
    """Dice loss ``1 - 2|A∩B| / (|A| + |B|)`` of soft masks, over ``axis`` (None: everything).

    Example:
        >>> loss = Dice(axis=(1, 2))  # one value per (batch, height, width) mask
    """

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, name=name, reduction=reduction, dtype=dtype, axis=_config_axis(axis))


@register("loss", "Tversky")
class Tversky(LossFunctionWrapper):
    """Tversky loss: a Dice loss whose two kinds of error are weighted by ``alpha`` and
    ``beta`` (see ``tversky`` for which is which)."""

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction="sum_over_batch_size",
        name="tversky",
        axis=None,
        dtype=None,
    ):
        super().__init__(
            tversky,
            name=name,
            reduction=reduction,
            dtype=dtype,
            alpha=float(alpha),
            beta=float(beta),
            axis=_config_axis(axis),
        )


@register("loss", "BinaryFocalCrossentropy")
class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary focal cross-entropy (Lin et al., 2017): down-weights well-classified examples.

    Args:
        apply_class_balancing: weight positives by ``alpha`` and negatives by ``1 - alpha``.
        alpha: the positives' weight when balancing.
        gamma: the focusing exponent; 0 gives binary cross-entropy.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: targets move towards 0.5 by this fraction.
        axis: the axis the mean runs over.
        reduction, name, dtype: as for every Loss.
    """

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            binary_focal_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            apply_class_balancing=bool(apply_class_balancing),
            alpha=float(alpha),
            gamma=float(gamma),
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
            axis=axis,
        )


@register("loss", "CategoricalFocalCrossentropy")
class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical focal cross-entropy of one-hot targets: each class's term is scaled by
    ``alpha * (1 - p) ** gamma``.

    Args:
        alpha: the weighting factor.
        gamma: the focusing exponent; 0 (with ``alpha=1``) gives categorical cross-entropy.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        label_smoothing: targets move towards uniform by this fraction.
        axis: the class axis.
        reduction, name, dtype: as for every Loss.
    """

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            categorical_focal_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            alpha=float(alpha),
            gamma=float(gamma),
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
            axis=axis,
        )


@register("loss", "CategoricalGeneralizedCrossEntropy")
class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Generalized cross-entropy (Zhang & Sabuncu, 2018) of integer labels, ``0 < q < 1``."""

    def __init__(
        self,
        q: float = 0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        if not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1), got q={q!r}.")
        super().__init__(
            categorical_generalized_cross_entropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            q=float(q),
        )


def _check_smoothing(value) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {value}.")


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


_FUNCTION_TO_CLASS = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    log_cosh: LogCosh,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    cosine_similarity: CosineSimilarity,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    dice: Dice,
    tversky: Tversky,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
    categorical_generalized_cross_entropy: CategoricalGeneralizedCrossEntropy,
}


def get(identifier) -> Loss:
    """Resolve a loss from a name, a config dict, a Loss object, a Loss class or a function.

    A name resolves to its Loss class (so ``'mse'`` gives ``MeanSquaredError()``); a custom
    function ``f(y_true, y_pred)`` is wrapped so it is weighted and reduced like the built-ins.

    Raises:
        ValueError: for an unknown name, naming it and suggesting close valid ones.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        identifier = lookup("loss", identifier)
    if isinstance(identifier, dict):
        return _deserialize("loss", identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if identifier in _FUNCTION_TO_CLASS:
        return _FUNCTION_TO_CLASS[identifier]()
    if callable(identifier):
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(
        f"Could not interpret loss {identifier!r}: expected a name, a function or a Loss."
    )


def serialize(loss: Loss) -> dict:
    """Return ``{'class_name', 'config'}`` for a Loss."""
    return _serialize(loss)


def deserialize(config: dict, custom_objects: dict | None = None) -> Loss:
    """Inverse of ``serialize``."""
    return _deserialize("loss", config, custom_objects)


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
