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
from axonal.backend import epsilon, xp
from axonal.registry import deserialize as _deserialize
from axonal.registry import lookup, register
from axonal.registry import serialize as _serialize
from axonal.tensor import Tensor, as_tensor

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


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


@register("loss", "binary_crossentropy", "bce")
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


# ---------------------------------------------------------------- Loss objects


class Loss:
    """Base class: ``call(y_true, y_pred)`` per sample; ``__call__`` weights and reduces.

    Args:
        name: display name.
        reduction: ``'sum_over_batch_size'`` (default), ``'sum'``, ``'mean'`` or ``'none'``.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"Unknown reduction {reduction!r}; expected one of {_REDUCTIONS[:-1]}."
            )
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true, y_pred) -> Tensor:
        """Per-sample loss values."""
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        """The reduced (scalar unless reduction='none') loss."""
        values = self.call(y_true, y_pred)
        return reduce_weighted(values, sample_weight, self.reduction)

    def get_config(self) -> dict:
        """Constructor arguments as JSON values."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        """Rebuild from ``get_config()``."""
        return cls(**config)


def reduce_weighted(values: Tensor, sample_weight=None, reduction="sum_over_batch_size"):
    """Weight per-sample ``values`` and reduce them the Keras 3 way."""
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
    # 'sum_over_batch_size' and 'mean' both divide by the number of values, as Keras 3 does
    return F.divide(total, max(values.size, 1))


class LossFunctionWrapper(Loss):
    """A Loss made from a per-sample function and its keyword arguments."""

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction)
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

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, name=name, reduction=reduction)


@register("loss", "MeanAbsoluteError")
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean absolute error."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name=name, reduction=reduction)


@register("loss", "Huber")
class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta`` (default 1.0)."""

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, name=name, reduction=reduction, delta=float(delta))


@register("loss", "LogCosh")
class LogCosh(LossFunctionWrapper):
    """Log of the hyperbolic cosine of the error."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(log_cosh, name=name, reduction=reduction)


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
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            binary_crossentropy,
            name=name,
            reduction=reduction,
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
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            categorical_crossentropy,
            name=name,
            reduction=reduction,
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
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            reduction=reduction,
            from_logits=bool(from_logits),
            ignore_class=ignore_class,
            axis=axis,
        )

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        """As ``Loss.__call__``, but the mean runs over the labels not equal to ``ignore_class``.

        Keras 3 masks ignored labels, so ``'sum_over_batch_size'`` divides the weighted sum by the
        number of valid labels (torch's ``ignore_index`` with ``reduction='mean'`` does the same).
        """
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
