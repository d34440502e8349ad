"""Every primitive, activation, loss, layer and regularizer against float64 central differences.

Adding an op means adding a row to ``CASES`` (or to one of the generated groups below): an id,
a function of Tensors, its float64 inputs, and optionally which inputs to differentiate. Inputs
keep away from kinks, ties and domain edges (see the helpers in ``gradcheck.py``); integer labels,
masks and indices are closed over by the row's function, so they are never differentiated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from axonal import activations, losses, regularizers
from axonal import functional as F
from axonal import layers as L
from axonal.autograd import Function
from axonal.layers import Activation, Dense, Dropout, Flatten, Reshape
from axonal.registry import registered_names
from axonal.tensor import Tensor, apply
from gradcheck import away_from, distinct, distinct_pair, gradcheck, positive, randn, uniform


@dataclass(frozen=True)
class Case:
    """One row: ``fn(*Tensors) -> Tensor`` checked at ``inputs`` (float64 arrays).

    ``wrt`` lists the inputs to differentiate (default: all of them).
    """

    id: str
    fn: Callable
    inputs: tuple
    wrt: tuple | None = None


def case(id: str, fn: Callable, *inputs, wrt: tuple | None = None) -> Case:
    """Build a row (positional inputs read like the call they stand for)."""
    return Case(id, fn, tuple(inputs), wrt)


# ---------------------------------------------------------------- elementwise arithmetic

# shape pairs that exercise broadcasting in both directions and against scalars
BROADCAST_PAIRS = [
    ((2, 3), (2, 3)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 3, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
]


def _shape_id(shape: tuple) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _binary_cases() -> list:
    rows = []
    for sa, sb in BROADCAST_PAIRS:
        pair = f"{_shape_id(sa)}-{_shape_id(sb)}"
        rows += [
            case(f"add-{pair}", F.add, randn(*sa), randn(*sb)),
            case(f"subtract-{pair}", F.subtract, randn(*sa), randn(*sb)),
            case(f"multiply-{pair}", F.multiply, randn(*sa), randn(*sb)),
            case(
                f"divide-{pair}",
                F.divide,
                randn(*sa),
                away_from(randn(*sb), margin=0.5),
            ),
            case(f"maximum-{pair}", F.maximum, *distinct_pair(sa, sb)),
            case(f"minimum-{pair}", F.minimum, *distinct_pair(sa, sb)),
        ]
    return rows


ARITHMETIC = _binary_cases() + [
    # operators and constants on either side
    case(
        "operator-add-sub-mul-div",
        lambda a, b: (a + b) * a - b / (a * a + 1.0),
        randn(3, 4),
        randn(4),
    ),
    case("radd-rsub-rmul-rtruediv", lambda a: 2.5 + (3.0 - a) * 1.5 / (a * a + 2.0), randn(3, 4)),
    case("constant-array-on-left", lambda a: np.arange(4.0) * a + np.ones(4) - a, randn(3, 4)),
    case("negative", F.negative, randn(3, 4)),
    case("operator-neg-pos", lambda a: -(+a), randn(3, 4)),
    case("power-both-3x1-1x4", F.power, positive(3, 1), randn(1, 4)),
    case("power-both-2x3-scalar", F.power, positive(2, 3), np.array(1.7)),
    case("power-constant-exponent", lambda a: F.power(a, 3.0), randn(2, 3)),
    case("power-fractional-exponent", lambda a: a**0.5, positive(2, 3)),
    case("operator-pow-2-square", lambda a: a**2, randn(2, 3)),
    case("operator-rpow", lambda a: 2.0**a, randn(2, 3)),
    case("square", F.square, randn(3, 4)),
    case("exp", F.exp, randn(3, 4)),
    case("exp-scalar", F.exp, np.array(0.3)),
    case("log", F.log, positive(3, 4)),
    case("log1p", F.log1p, uniform(3, 4, low=-0.5, high=2.0)),
    case("sqrt", F.sqrt, positive(3, 4)),
    case("abs", F.abs, away_from(randn(3, 4))),
    case("operator-abs", lambda a: abs(a), away_from(randn(3, 4))),
    case("maximum-constant", lambda a: F.maximum(a, 0.25), away_from(randn(3, 4), (0.25,))),
    case("minimum-constant", lambda a: F.minimum(a, 0.25), away_from(randn(3, 4), (0.25,))),
    case("clip", lambda a: F.clip(a, -1.0, 1.5), away_from(randn(3, 4, scale=2), (-1.0, 1.5))),
    case("clip-upper-only", lambda a: F.clip(a, None, 0.5), away_from(randn(3, 4), (0.5,))),
    case("clip-lower-only", lambda a: F.clip(a, 0.0, None), away_from(randn(3, 4))),
    case(
        "where-2x3-3",
        lambda a, b: F.where(np.array([[True, False, True], [False, False, True]]), a, b),
        randn(2, 3),
        randn(3),
    ),
    case(
        "where-scalar-branch",
        lambda a: F.where(np.array([[True, False, True], [False, True, True]]), a, 0.0),
        randn(2, 3),
    ),
    case("erf", F.erf, randn(3, 4, scale=1.5)),
]

# ---------------------------------------------------------------- linear algebra

LINEAR_ALGEBRA = [
    case("matmul-2d", F.matmul, randn(3, 4), randn(4, 5)),
    case("matmul-3d-2d", F.matmul, randn(2, 3, 4), randn(4, 5)),
    case("matmul-2d-3d", F.matmul, randn(3, 4), randn(2, 4, 5)),
    case("matmul-3d-3d", F.matmul, randn(2, 3, 4), randn(2, 4, 5)),
    case("matmul-batch-broadcast", F.matmul, randn(2, 1, 3, 4), randn(3, 4, 2)),
    case("matmul-1d-2d", F.matmul, randn(4), randn(4, 5)),
    case("matmul-2d-1d", F.matmul, randn(3, 4), randn(4)),
    case("matmul-1d-1d", F.matmul, randn(4), randn(4)),
    case("matmul-1d-3d", F.matmul, randn(4), randn(2, 4, 3)),
    case("matmul-3d-1d", F.matmul, randn(2, 3, 4), randn(4)),
    case("operator-matmul", lambda a, b: a @ b, randn(3, 4), randn(4, 2)),
    case("dense-2d-bias", F.dense, randn(4, 3), randn(3, 5), randn(5)),
    case("dense-3d-bias", F.dense, randn(2, 4, 3), randn(3, 5), randn(5)),
    case("dense-2d-no-bias", F.dense, randn(4, 3), randn(3, 5)),
    case("dense-1d-bias", F.dense, randn(3), randn(3, 5), randn(5)),
    case("dense-3d-no-bias", F.dense, randn(2, 4, 3), randn(3, 5)),
    case("dense-kernel-only", lambda k: F.dense(np.ones((2, 3)), k), randn(3, 5)),
    case("dense_relu-2d-bias", F.dense_relu, randn(4, 3), randn(3, 5), randn(5)),
    case("dense_relu-3d-bias", F.dense_relu, randn(2, 4, 3), randn(3, 5), randn(5)),
    case("dense_relu-2d-no-bias", F.dense_relu, randn(4, 3), randn(3, 5)),
]

# ---------------------------------------------------------------- reductions

AXES = [None, 0, -1, (0, 2), (2, 1, 0)]


def _reduction_cases() -> list:
    rows = []
    for axis in AXES:
        for keepdims in (False, True):
            tag = f"axis={axis}-keepdims={keepdims}".replace(" ", "")
            for name in ("sum", "mean", "max", "min", "logsumexp", "var", "std"):
                fn = getattr(F, name)
                # max/min need distinct values: a tie splits the gradient and has no derivative
                x = distinct(2, 3, 4, scale=2.0) if name in ("max", "min") else randn(2, 3, 4)
                rows.append(
                    case(
                        f"{name}-{tag}",
                        lambda t, fn=fn, axis=axis, keepdims=keepdims: fn(t, axis, keepdims),
                        x,
                    )
                )
    return rows


REDUCTIONS = _reduction_cases() + [
    case("sum-scalar-input", F.sum, np.array(1.3)),
    case("mean-of-scalar-input", F.mean, np.array(-0.4)),
    case("method-sum-mean", lambda t: t.sum(axis=1) * t.mean(), randn(3, 4)),
    case("method-max-min", lambda t: t.max(axis=0) - t.min(axis=1, keepdims=True), distinct(3, 4)),
    case("logsumexp-large-offset", lambda t: F.logsumexp(t, axis=-1), randn(3, 4) + 60.0),
]

# ---------------------------------------------------------------- shape and indexing

_MASK = np.array(
    [
        [True, False, True, True, False],
        [False, False, False, False, False],
        [True, True, False, False, True],
        [False, True, False, True, False],
    ]
)

SHAPE = [
    case("reshape", lambda t: F.reshape(t, (6, 4)), randn(2, 3, 4)),
    case("reshape-minus-one", lambda t: F.reshape(t, (-1,)), randn(2, 3, 4)),
    case("reshape-to-scalar", lambda t: F.reshape(t, ()), randn(1, 1)),
    case("method-reshape", lambda t: t.reshape(4, 3, 2), randn(2, 3, 4)),
    case("transpose-reverse", F.transpose, randn(2, 3, 4)),
    case("transpose-axes-102", lambda t: F.transpose(t, (1, 0, 2)), randn(2, 3, 4)),
    case("transpose-axes-201", lambda t: F.transpose(t, (2, 0, 1)), randn(2, 3, 4)),
    case("transpose-negative-axes", lambda t: F.transpose(t, (0, -1, -2)), randn(2, 3, 4)),
    case("method-T", lambda t: t.T, randn(3, 4)),
    case("method-transpose", lambda t: t.transpose(0, 2, 1), randn(2, 3, 4)),
    case("expand_dims-0", lambda t: F.expand_dims(t, 0), randn(2, 3)),
    case("expand_dims-1", lambda t: F.expand_dims(t, 1), randn(2, 3)),
    case("expand_dims-minus-1", lambda t: F.expand_dims(t, -1), randn(2, 3)),
    case("squeeze-all", F.squeeze, randn(2, 1, 3, 1)),
    case("squeeze-1", lambda t: F.squeeze(t, 1), randn(2, 1, 3, 1)),
    case("squeeze-minus-1", lambda t: F.squeeze(t, -1), randn(2, 1, 3, 1)),
    case("squeeze-tuple", lambda t: F.squeeze(t, (1, 3)), randn(2, 1, 3, 1)),
    case("broadcast_to-3x1-2x3x4", lambda t: F.broadcast_to(t, (2, 3, 4)), randn(3, 1)),
    case("broadcast_to-4-3x4", lambda t: F.broadcast_to(t, (3, 4)), randn(4)),
    case("broadcast_to-scalar", lambda t: F.broadcast_to(t, (2, 2)), np.array(0.7)),
    case("flatten", F.flatten, randn(2, 3, 4)),
    case(
        "concatenate-axis-0",
        lambda a, b, c: F.concatenate([a, b, c], axis=0),
        randn(2, 3),
        randn(1, 3),
        randn(3, 3),
    ),
    case(
        "concatenate-axis-1", lambda a, b: F.concatenate([a, b], axis=1), randn(2, 1), randn(2, 4)
    ),
    case(
        "concatenate-axis-minus-1",
        lambda a, b: F.concatenate([a, b], axis=-1),
        randn(2, 3, 2),
        randn(2, 3, 1),
    ),
    case("concatenate-constant", lambda a: F.concatenate([a, np.ones((1, 3))]), randn(2, 3)),
    case("stack-axis-0", lambda a, b, c: F.stack([a, b, c]), randn(2, 3), randn(2, 3), randn(2, 3)),
    case("stack-axis-1", lambda a, b: F.stack([a, b], axis=1), randn(2, 3), randn(2, 3)),
    case("stack-axis-minus-1", lambda a, b: F.stack([a, b], axis=-1), randn(2, 3), randn(2, 3)),
    case("take-axis-0-repeats", lambda t: F.take(t, [0, 2, 0, 3, 0], axis=0), randn(4, 5)),
    case("take-axis-1-repeats", lambda t: F.take(t, [4, 1, 4], axis=1), randn(4, 5)),
    case("take-2d-indices-axis-0", lambda t: F.take(t, [[0, 1], [1, 3]], axis=0), randn(4, 5)),
    case("take-3d-axis-1", lambda t: F.take(t, [3, 3, 0], axis=1), randn(3, 4, 5)),
    case("take-2d-indices-axis-1", lambda t: F.take(t, [[0, 3], [3, 3]], axis=1), randn(3, 4, 5)),
    case(
        "take-2d-indices-axis-minus-1",
        lambda t: F.take(t, [[0, 4], [4, 4]], axis=-1),
        randn(3, 4, 5),
    ),
    case("getitem-int", lambda t: t[1], randn(4, 5)),
    case("getitem-slice", lambda t: t[1:3], randn(4, 5)),
    case("getitem-2d-slices", lambda t: t[::-2, 1:4], randn(4, 5)),
    case("getitem-ellipsis", lambda t: t[..., -1], randn(2, 3, 4)),
    case("getitem-newaxis", lambda t: t[None, 1:, None], randn(4, 5)),
    case("getitem-int-array-repeats", lambda t: t[np.array([0, 2, 0, 3, 0])], randn(4, 5)),
    case("getitem-list-repeats", lambda t: t[:, [1, 1, 4]], randn(4, 5)),
    case(
        "getitem-paired-arrays", lambda t: t[np.array([0, 0, 3]), np.array([1, 1, 2])], randn(4, 5)
    ),
    case("getitem-bool-mask", lambda t: t[_MASK], randn(4, 5)),
    case("getitem-bool-rows", lambda t: t[np.array([True, False, True, True])], randn(4, 5)),
    # to the input's own dtype: float64 -> float64 here, float32 -> float32 in the dtype test
    case("cast-same-dtype", lambda t: F.cast(t, t.dtype), randn(3, 4)),
    case("method-astype-same-dtype", lambda t: t.astype(t.dtype.name), randn(3, 4)),
]

# ---------------------------------------------------------------- activations

_KINKS = (0.0, -3.0, 3.0, 6.0)  # relu, leaky_relu, elu, selu at 0; hard_sigmoid at ±3; relu6


def _activation_input() -> np.ndarray:
    return away_from(randn(3, 4, scale=3.0), _KINKS)


ACTIVATIONS = [
    case("F-relu", F.relu, _activation_input()),
    case("F-sigmoid", F.sigmoid, randn(3, 4, scale=3.0)),
    case("F-tanh", F.tanh, randn(3, 4, scale=2.0)),
    case("F-softplus", F.softplus, randn(3, 4, scale=3.0)),
    case("F-softmax-axis-minus-1", F.softmax, randn(3, 4)),
    case("F-softmax-axis-0", lambda t: F.softmax(t, axis=0), randn(3, 4)),
    case("F-softmax-3d-axis-1", lambda t: F.softmax(t, axis=1), randn(2, 3, 4)),
    case("F-log_softmax-axis-minus-1", F.log_softmax, randn(3, 4)),
    case("F-log_softmax-axis-0", lambda t: F.log_softmax(t, axis=0), randn(3, 4)),
    case("F-relu6-both-kinks", F.relu6, away_from(uniform(3, 4, low=-2.0, high=8.0), _KINKS)),
    case("F-gelu-tanh", lambda t: F.gelu(t, approximate=True), randn(3, 4, scale=2.0)),
    # every registered activation by name, with its defaults
    *[
        case(f"activation-{name}", activations.get(name), _activation_input())
        for name in registered_names("activation")
    ],
    # non-default arguments
    case(
        "activation-relu-slope-and-cap",
        lambda t: activations.relu(t, negative_slope=0.1, max_value=2.0),
        away_from(randn(3, 4, scale=3.0), (0.0, 2.0)),
    ),
    case(
        "activation-leaky_relu-0.05", lambda t: activations.leaky_relu(t, 0.05), _activation_input()
    ),
    case("activation-elu-alpha", lambda t: activations.elu(t, alpha=0.5), _activation_input()),
    case(
        "activation-gelu-approximate",
        lambda t: activations.gelu(t, approximate=True),
        randn(3, 4, scale=2.0),
    ),
    case("activation-softmax-axis-0", lambda t: activations.softmax(t, axis=0), randn(3, 4)),
    case(
        "activation-log_softmax-axis-0", lambda t: activations.log_softmax(t, axis=0), randn(3, 4)
    ),
]

# ---------------------------------------------------------------- fused cross-entropies


def _probabilities(*shape: int, axis: int = -1) -> np.ndarray:
    e = np.exp(randn(*shape))
    return e / e.sum(axis=axis, keepdims=True)


_TARGETS = _probabilities(4, 5)  # fixed: fn is called again for every central difference

CROSS_ENTROPIES = [
    case(
        "sparse_softmax_cross_entropy",
        lambda z: F.sparse_softmax_cross_entropy(z, np.array([1, 0, 4, 4])),
        randn(4, 5, scale=2.0),
    ),
    case(
        "sparse_softmax_cross_entropy_mean",
        lambda z: F.sparse_softmax_cross_entropy_mean(z, np.array([1, 0, 4, 4])),
        randn(4, 5),
    ),
    case(
        "sparse_softmax_cross_entropy_mean-reusing-probs",
        lambda z: F.sparse_softmax_cross_entropy_mean(
            z, np.array([1, 0, 4, 4]), probs=F.softmax(z).data
        ),
        randn(4, 5),
    ),
    case(
        "sparse_softmax_cross_entropy-3d",
        lambda z: F.sparse_softmax_cross_entropy(z, np.array([[0, 2, 2], [1, 0, 4]])),
        randn(2, 3, 5, scale=2.0),
    ),
    case(
        "softmax_cross_entropy",
        F.softmax_cross_entropy,
        randn(4, 5, scale=2.0),
        _probabilities(4, 5),
    ),
    case(
        "softmax_cross_entropy-axis-0",
        lambda z, t: F.softmax_cross_entropy(z, t, axis=0),
        randn(5, 4, scale=2.0),
        _probabilities(5, 4, axis=0),
    ),
    case(
        "softmax_cross_entropy-broadcast-targets",
        F.softmax_cross_entropy,
        randn(4, 5, scale=2.0),
        _probabilities(5),
    ),
    case(
        "softmax_cross_entropy-logits-only",
        lambda z: F.softmax_cross_entropy(z, _TARGETS),
        randn(4, 5),
    ),
    case(
        "sigmoid_cross_entropy",
        F.sigmoid_cross_entropy,
        randn(3, 4, scale=3.0),
        uniform(3, 4, low=0.0, high=1.0),
    ),
    case(
        "sigmoid_cross_entropy-broadcast-targets",
        F.sigmoid_cross_entropy,
        randn(3, 4, scale=3.0),
        uniform(4, low=0.0, high=1.0),
    ),
]

# ---------------------------------------------------------------- losses

# targets are inputs too where a loss is differentiable in them (the regression losses and the
# cross-entropies' probability targets); integer labels are closed over
_N, _C = 4, 3
_LABELS = np.array([2, 0, 1, 2])
_PROBS = _probabilities(_N, _C)


def _one_hot(labels, classes: int = _C) -> np.ndarray:
    return np.eye(classes)[labels]


def _near(y_true: np.ndarray, scale: float = 1.0, points=(0.0,), margin: float = 0.05):
    """``y_true`` plus an error kept ``margin`` away from ``points`` (the loss's kinks)."""
    return y_true + away_from(randn(*y_true.shape, scale=scale), points, margin)


_Y = randn(_N, _C)
_HUBER_DELTA = 0.7
_REDUCTIONS = ("sum_over_batch_size", "sum", "none")
_SAMPLE_WEIGHT = np.array([0.5, 2.0, 0.0, 1.25])

# every Loss class with arguments, a y_pred that suits it and a fixed y_true
_LOSS_OBJECTS = [
    ("MeanSquaredError", lambda r: losses.MeanSquaredError(reduction=r), _Y, randn(_N, _C)),
    ("MeanAbsoluteError", lambda r: losses.MeanAbsoluteError(reduction=r), _Y, _near(_Y)),
    (
        "Huber-2.5",
        lambda r: losses.Huber(delta=2.5, reduction=r),
        _Y,
        _near(_Y, scale=3.0, points=(-2.5, 0.0, 2.5)),
    ),
    ("LogCosh", lambda r: losses.LogCosh(reduction=r), _Y, randn(_N, _C, scale=3.0)),
    (
        "BinaryCrossentropy",
        lambda r: losses.BinaryCrossentropy(label_smoothing=0.1, reduction=r),
        uniform(_N, _C, low=0.0, high=1.0),
        uniform(_N, _C, low=0.05, high=0.95),
    ),
    (
        "CategoricalCrossentropy",
        lambda r: losses.CategoricalCrossentropy(from_logits=True, reduction=r),
        _PROBS,
        randn(_N, _C, scale=2.0),
    ),
    (
        "SparseCategoricalCrossentropy",
        lambda r: losses.SparseCategoricalCrossentropy(from_logits=True, reduction=r),
        _LABELS,
        randn(_N, _C, scale=2.0),
    ),
    (
        "SparseCategoricalCrossentropy-ignore_class",
        lambda r: losses.SparseCategoricalCrossentropy(ignore_class=0, reduction=r),
        _LABELS,
        _probabilities(_N, _C),
    ),
]


def _loss_reduction_cases() -> list:
    rows = []
    for name, make, y_true, y_pred in _LOSS_OBJECTS:
        for reduction in _REDUCTIONS:
            for weighted in (False, True):
                weight = _SAMPLE_WEIGHT if weighted else None
                tag = f"loss-{name}-{reduction}" + ("-sample_weight" if weighted else "")
                rows.append(
                    case(
                        tag,
                        lambda p, make=make, r=reduction, t=y_true, w=weight: make(r)(t, p, w),
                        y_pred,
                    )
                )
    return rows


LOSSES = _loss_reduction_cases() + [
    # regression losses, differentiated in both y_true and y_pred
    case("mean_squared_error", losses.mean_squared_error, randn(_N, _C), randn(_N, _C)),
    case(
        "mean_squared_error-true-n-pred-n1",
        losses.mean_squared_error,
        randn(_N),
        randn(_N, 1),
    ),
    case(
        "mean_squared_error-true-n1-pred-n",
        losses.mean_squared_error,
        randn(_N, 1),
        randn(_N),
    ),
    case("mean_squared_error-3d", losses.mean_squared_error, randn(2, _N, _C), randn(2, _N, _C)),
    case("mean_absolute_error", losses.mean_absolute_error, _Y, _near(_Y)),
    case(
        "huber-both-regimes",
        lambda t, p: losses.huber(t, p, delta=_HUBER_DELTA),
        _Y,
        _near(_Y, scale=1.5, points=(-_HUBER_DELTA, 0.0, _HUBER_DELTA)),
    ),
    case(
        "huber-default-delta",
        losses.huber,
        _Y,
        _near(_Y, scale=2.0, points=(-1.0, 1.0)),
    ),
    case("log_cosh", losses.log_cosh, randn(_N, _C), randn(_N, _C, scale=2.0)),
    # far out in the tails, where a naive log(cosh(x)) overflows
    case("log_cosh-large-errors", losses.log_cosh, _Y, _Y + np.array([400.0, -400.0, 30.0])),
    # binary cross-entropy: probabilities, logits, smoothing, the fused sigmoid path
    case(
        "binary_crossentropy-probabilities",
        losses.binary_crossentropy,
        uniform(_N, _C, low=0.0, high=1.0),
        uniform(_N, _C, low=0.05, high=0.95),
    ),
    case(
        "binary_crossentropy-probabilities-hard-targets",
        lambda p: losses.binary_crossentropy(_one_hot(_LABELS), p),
        uniform(_N, _C, low=0.05, high=0.95),
    ),
    case(
        "binary_crossentropy-from_logits",
        lambda t, z: losses.binary_crossentropy(t, z, from_logits=True),
        uniform(_N, _C, low=0.0, high=1.0),
        randn(_N, _C, scale=3.0),
    ),
    case(
        "binary_crossentropy-label_smoothing",
        lambda t, p: losses.binary_crossentropy(t, p, label_smoothing=0.2),
        uniform(_N, _C, low=0.0, high=1.0),
        uniform(_N, _C, low=0.05, high=0.95),
    ),
    case(
        "binary_crossentropy-from_logits-label_smoothing",
        lambda z: losses.binary_crossentropy(
            _one_hot(_LABELS), z, from_logits=True, label_smoothing=0.3
        ),
        randn(_N, _C, scale=3.0),
    ),
    case(
        "binary_crossentropy-true-n-pred-n1",
        losses.binary_crossentropy,
        uniform(_N, low=0.0, high=1.0),
        uniform(_N, 1, low=0.05, high=0.95),
    ),
    case(
        "binary_crossentropy-fused-sigmoid",
        lambda t, z: losses.binary_crossentropy(t, F.sigmoid(z)),
        uniform(_N, _C, low=0.0, high=1.0),
        randn(_N, _C, scale=3.0),
    ),
    case(
        "binary_crossentropy-fused-sigmoid-large-logits",
        lambda z: losses.binary_crossentropy(_one_hot(_LABELS), F.sigmoid(z)),
        randn(_N, _C, scale=40.0),
    ),
    case(
        "binary_crossentropy-fused-sigmoid-true-n1-pred-n",
        lambda t, z: losses.binary_crossentropy(t, F.sigmoid(z)),
        uniform(_N, 1, low=0.0, high=1.0),
        randn(_N, scale=3.0),
    ),
    # categorical cross-entropy: probabilities (renormalised), logits, smoothing, fused softmax
    case(
        "categorical_crossentropy-probabilities",
        losses.categorical_crossentropy,
        _probabilities(_N, _C),
        _probabilities(_N, _C),
    ),
    case(
        "categorical_crossentropy-unnormalised",
        lambda p: losses.categorical_crossentropy(_PROBS, p),
        positive(_N, _C, low=0.2, high=1.0),
    ),
    case(
        "categorical_crossentropy-from_logits",
        lambda t, z: losses.categorical_crossentropy(t, z, from_logits=True),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "categorical_crossentropy-label_smoothing",
        lambda p: losses.categorical_crossentropy(_one_hot(_LABELS), p, label_smoothing=0.2),
        _probabilities(_N, _C),
    ),
    case(
        "categorical_crossentropy-from_logits-label_smoothing",
        lambda t, z: losses.categorical_crossentropy(t, z, from_logits=True, label_smoothing=0.1),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "categorical_crossentropy-fused-softmax",
        lambda t, z: losses.categorical_crossentropy(t, F.softmax(z)),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "categorical_crossentropy-fused-softmax-large-logits",
        lambda z: losses.categorical_crossentropy(_one_hot(_LABELS), F.softmax(z)),
        randn(_N, _C, scale=40.0),
    ),
    case(
        "categorical_crossentropy-3d",
        lambda t, z: losses.categorical_crossentropy(t, z, from_logits=True),
        _probabilities(2, _N, _C),
        randn(2, _N, _C),
    ),
    # sparse categorical cross-entropy: labels (n,) and (n, 1), ignore_class, fused softmax
    case(
        "sparse_categorical_crossentropy-probabilities",
        lambda p: losses.sparse_categorical_crossentropy(_LABELS, p),
        _probabilities(_N, _C),
    ),
    case(
        "sparse_categorical_crossentropy-labels-n1",
        lambda p: losses.sparse_categorical_crossentropy(_LABELS[:, None], p),
        _probabilities(_N, _C),
    ),
    case(
        "sparse_categorical_crossentropy-unnormalised",
        lambda p: losses.sparse_categorical_crossentropy(_LABELS, p),
        positive(_N, _C, low=0.2, high=1.0),
    ),
    case(
        "sparse_categorical_crossentropy-from_logits",
        lambda z: losses.sparse_categorical_crossentropy(_LABELS, z, from_logits=True),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "sparse_categorical_crossentropy-from_logits-labels-n1",
        lambda z: losses.sparse_categorical_crossentropy(_LABELS[:, None], z, from_logits=True),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "sparse_categorical_crossentropy-ignore_class",
        lambda z: losses.sparse_categorical_crossentropy(
            _LABELS, z, from_logits=True, ignore_class=2
        ),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "sparse_categorical_crossentropy-ignore_class-probabilities",
        lambda p: losses.sparse_categorical_crossentropy(
            np.array([2, -1, 1, -1]), p, ignore_class=-1
        ),
        _probabilities(_N, _C),
    ),
    case(
        "sparse_categorical_crossentropy-fused-softmax",
        lambda z: losses.sparse_categorical_crossentropy(_LABELS, F.softmax(z)),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "sparse_categorical_crossentropy-fused-softmax-large-logits",
        lambda z: losses.sparse_categorical_crossentropy(_LABELS, F.softmax(z)),
        randn(_N, _C, scale=40.0),
    ),
    case(
        "sparse_categorical_crossentropy-3d",
        lambda z: losses.sparse_categorical_crossentropy(
            np.array([[0, 2, 1, 1], [2, 2, 0, 1]]), z, from_logits=True
        ),
        randn(2, _N, _C),
    ),
]

# ---------------------------------------------------------------- layers

_LAYER_KINKS = (0.0, -3.0, 3.0, 6.0)


def call_with_weights(layer, x, training: bool = False, **weights):
    """``layer(x)`` with some of its weights replaced by the given tensors for this one call."""
    saved = {name: getattr(layer, name) for name in weights}
    try:
        for name, value in weights.items():
            setattr(layer, name, value)
        return layer(x, training=training)
    finally:
        for name, value in saved.items():
            setattr(layer, name, value)


def _dense_inputs(x_shape: tuple, units: int, use_bias: bool = True) -> tuple:
    """x, kernel (and bias) whose pre-activations keep off every activation's kinks."""
    while True:
        x, kernel, bias = randn(*x_shape), randn(x_shape[-1], units), randn(units)
        pre = x @ kernel + (bias if use_bias else 0.0)
        if np.min(np.abs(pre[..., None] - np.array(_LAYER_KINKS))) > 0.01:
            return (x, kernel, bias) if use_bias else (x, kernel)


def _dense_case(id: str, x_shape: tuple, units: int, **kwargs) -> Case:
    layer = Dense(units, dtype="float64", **kwargs)
    layer.build((None,) + x_shape[1:])
    if kwargs.get("use_bias", True):
        fn = lambda x, k, b: call_with_weights(layer, x, kernel=k, bias=b)  # noqa: E731
    else:
        fn = lambda x, k: call_with_weights(layer, x, kernel=k)  # noqa: E731
    return case(id, fn, *_dense_inputs(x_shape, units, kwargs.get("use_bias", True)))


_DROPOUT_SEED = 1234


def _dropout(x, rate=0.4, noise_shape=None):
    # a fresh layer with the same seed draws the same mask on every call
    layer = Dropout(rate, noise_shape=noise_shape, seed=_DROPOUT_SEED, dtype="float64")
    return layer(x, training=True)


LAYERS = [
    _dense_case("Dense-linear", (4, 3), 5),
    _dense_case("Dense-no-bias", (4, 3), 5, use_bias=False),
    _dense_case("Dense-rank-3", (2, 4, 3), 5, activation="tanh"),
    _dense_case("Dense-rank-3-no-bias", (2, 4, 3), 5, use_bias=False, activation="relu"),
    _dense_case("Dense-1-unit-sigmoid", (4, 3), 1, activation="sigmoid"),
    *[
        _dense_case(f"Dense-activation-{name}", (4, 3), 5, activation=name)
        for name in registered_names("activation")
    ],
    case("Dropout-training", _dropout, randn(4, 6)),
    case("Dropout-training-rank-3", lambda x: _dropout(x, rate=0.25), randn(2, 3, 4)),
    case(
        "Dropout-training-noise_shape",
        lambda x: _dropout(x, noise_shape=(None, 1, 4)),
        randn(2, 3, 4),
    ),
    case("Dropout-inference", lambda x: Dropout(0.5, dtype="float64")(x), randn(4, 6)),
    case("Flatten", lambda x: Flatten(dtype="float64")(x), randn(2, 3, 4)),
    case("Reshape", lambda x: Reshape((4, 3), dtype="float64")(x), randn(2, 3, 4)),
    case("Reshape-minus-one", lambda x: Reshape((-1, 2), dtype="float64")(x), randn(2, 3, 4)),
    case("Activation-tanh", lambda x: Activation("tanh", dtype="float64")(x), randn(3, 4)),
    case("Activation-softmax", lambda x: Activation("softmax", dtype="float64")(x), randn(3, 4)),
    case(
        "Activation-relu",
        lambda x: Activation("relu", dtype="float64")(x),
        away_from(randn(3, 4)),
    ),
    case(
        "Activation-callable",
        lambda x: Activation(lambda t: F.tanh(t) * t, dtype="float64")(x),
        randn(3, 4),
    ),
]

# ---------------------------------------------------------------- regularizers

REGULARIZERS = [
    case("regularizer-l1", regularizers.L1(0.3), away_from(randn(3, 4))),
    case("regularizer-l1-default", regularizers.get("l1"), away_from(randn(3, 4))),
    case("regularizer-l2", regularizers.L2(0.2), randn(3, 4)),
    case("regularizer-l2-default", regularizers.get("l2"), randn(5)),
    case("regularizer-l1_l2", regularizers.l1_l2(l1=0.3, l2=0.2), away_from(randn(3, 4))),
    case("regularizer-L1L2-l2-only", regularizers.L1L2(l2=0.5), randn(2, 3, 4)),
    case("regularizer-l1_l2-by-name", regularizers.get("l1_l2"), away_from(randn(3, 4))),
]

# ---------------------------------------------------------------- Keras 3 losses (issue 18)

# drawn after every other row's inputs, so those stay as they were
_BITS = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
_SIGNS = 2.0 * _BITS - 1.0
_MASK_PRED = uniform(_N, _C, low=0.1, high=0.9)
_SIGNED_PRED = _near(_SIGNS)  # away from the hinge's kink at y_true * y_pred = 1

_MORE_LOSS_OBJECTS = [
    ("KLDivergence", lambda r: losses.KLDivergence(reduction=r), _PROBS, _probabilities(_N, _C)),
    ("Poisson", lambda r: losses.Poisson(reduction=r), positive(_N, _C), positive(_N, _C)),
    ("Hinge", lambda r: losses.Hinge(reduction=r), _SIGNS, _SIGNED_PRED),
    ("SquaredHinge", lambda r: losses.SquaredHinge(reduction=r), _BITS, _SIGNED_PRED),
    ("CategoricalHinge", lambda r: losses.CategoricalHinge(reduction=r), _one_hot(_LABELS), _Y),
    ("CosineSimilarity", lambda r: losses.CosineSimilarity(reduction=r), _Y, randn(_N, _C)),
    ("Dice", lambda r: losses.Dice(axis=1, reduction=r), _BITS, _MASK_PRED),
    (
        "Tversky",
        lambda r: losses.Tversky(alpha=0.3, beta=0.7, axis=1, reduction=r),
        _BITS,
        _MASK_PRED,
    ),
    (
        "BinaryFocalCrossentropy",
        lambda r: losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, from_logits=True, reduction=r
        ),
        _BITS,
        randn(_N, _C, scale=2.0),
    ),
    (
        "CategoricalFocalCrossentropy",
        lambda r: losses.CategoricalFocalCrossentropy(label_smoothing=0.1, reduction=r),
        _one_hot(_LABELS),
        _probabilities(_N, _C),
    ),
    (
        "MeanAbsolutePercentageError",
        lambda r: losses.MeanAbsolutePercentageError(reduction=r),
        _Y,
        _near(_Y),
    ),
    (
        "MeanSquaredLogarithmicError",
        lambda r: losses.MeanSquaredLogarithmicError(reduction=r),
        positive(_N, _C),
        positive(_N, _C),
    ),
    (
        "CategoricalGeneralizedCrossEntropy",
        lambda r: losses.CategoricalGeneralizedCrossEntropy(q=0.4, reduction=r),
        _LABELS,
        _probabilities(_N, _C),
    ),
]


def _more_loss_reduction_cases() -> list:
    rows = []
    for name, make, y_true, y_pred in _MORE_LOSS_OBJECTS:
        for reduction in _REDUCTIONS + ("mean_with_sample_weight",):
            for weighted in (False, True):
                weight = _SAMPLE_WEIGHT if weighted else None
                tag = f"loss-{name}-{reduction}" + ("-sample_weight" if weighted else "")
                rows.append(
                    case(
                        tag,
                        lambda p, make=make, r=reduction, t=y_true, w=weight: make(r)(t, p, w),
                        y_pred,
                    )
                )
    return rows


MORE_LOSSES = _more_loss_reduction_cases() + [
    case("kl_divergence", losses.kl_divergence, _PROBS, _probabilities(_N, _C)),
    case("poisson", losses.poisson, positive(_N, _C), positive(_N, _C)),
    case("hinge", lambda p: losses.hinge(_BITS, p), _SIGNED_PRED),
    case("squared_hinge", losses.squared_hinge, _SIGNS, _SIGNED_PRED),
    case("categorical_hinge", lambda p: losses.categorical_hinge(_one_hot(_LABELS), p), _Y),
    case("cosine_similarity", losses.cosine_similarity, _Y, randn(_N, _C)),
    case(
        "cosine_similarity-axis0",
        lambda t, p: losses.cosine_similarity(t, p, axis=0),
        _Y,
        randn(_N, _C),
    ),
    case("dice", losses.dice, _BITS, _MASK_PRED),
    case(
        "dice-axis",
        lambda t, p: losses.dice(t, p, axis=1),
        uniform(_N, _C, low=0.0, high=1.0),
        _MASK_PRED,
    ),
    case(
        "tversky",
        lambda t, p: losses.tversky(t, p, alpha=0.3, beta=0.7),
        uniform(_N, _C, low=0.0, high=1.0),
        _MASK_PRED,
    ),
    case(
        "binary_focal_crossentropy",
        lambda p: losses.binary_focal_crossentropy(_BITS, p, label_smoothing=0.1),
        _MASK_PRED,
    ),
    case(
        "binary_focal_crossentropy-from_logits",
        lambda z: losses.binary_focal_crossentropy(_BITS, z, from_logits=True, gamma=1.5),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "binary_focal_crossentropy-fused-sigmoid",
        lambda z: losses.binary_focal_crossentropy(_BITS, F.sigmoid(z)),
        randn(_N, _C, scale=2.0),
    ),
    case(
        "categorical_focal_crossentropy",
        lambda p: losses.categorical_focal_crossentropy(_one_hot(_LABELS), p),
        _probabilities(_N, _C),
    ),
    case(
        "categorical_focal_crossentropy-from_logits",
        lambda z: losses.categorical_focal_crossentropy(
            _one_hot(_LABELS), z, from_logits=True, label_smoothing=0.1
        ),
        randn(_N, _C, scale=2.0),
    ),
    case("mean_absolute_percentage_error", losses.mean_absolute_percentage_error, _Y, _near(_Y)),
    case(
        "mean_squared_logarithmic_error",
        losses.mean_squared_logarithmic_error,
        positive(_N, _C),
        positive(_N, _C),
    ),
    case(
        "categorical_generalized_cross_entropy",
        lambda p: losses.categorical_generalized_cross_entropy(_LABELS, p, q=0.4),
        _probabilities(_N, _C),
    ),
]

# ---------------------------------------------------------------- pooling, resampling, ConvLSTM

_CF = "channels_first"


def _layer_fn(layer):
    return lambda x: layer(x)


def _conv_lstm_case(id: str, cls, x_shape: tuple, filters: int, kernel_size, **kwargs) -> Case:
    layer = cls(filters, kernel_size, dtype="float64", **kwargs)
    layer.build(x_shape)
    shapes = [w.data.shape for w in layer.weights]

    def fn(x, kernel, recurrent_kernel, bias):
        weights = dict(kernel=kernel, recurrent_kernel=recurrent_kernel, bias=bias)
        return call_with_weights(layer, x, **weights)

    weights = [randn(*shape, scale=0.5) for shape in shapes]
    return case(id, fn, randn(*x_shape), *weights)


POOLING = [
    case("MaxPooling3D-valid", _layer_fn(L.MaxPooling3D(dtype="float64")), distinct(2, 4, 4, 2, 2)),
    case(
        "MaxPooling3D-same-strided-channels_first",
        _layer_fn(L.MaxPooling3D((2, 3, 2), (1, 2, 2), "same", _CF, dtype="float64")),
        distinct(1, 2, 3, 5, 4),
    ),
    case(
        "AveragePooling3D-same-strided",
        _layer_fn(L.AveragePooling3D(3, 2, "same", dtype="float64")),
        randn(1, 4, 5, 3, 2),
    ),
    case(
        "AveragePooling3D-channels_first",
        _layer_fn(L.AveragePooling3D(2, (1, 2, 1), data_format=_CF, dtype="float64")),
        randn(2, 2, 3, 4, 2),
    ),
    case(
        "MaxPooling2D-channels_first",
        _layer_fn(L.MaxPooling2D(3, 2, "same", _CF, dtype="float64")),
        distinct(2, 2, 5, 4),
    ),
    case(
        "AveragePooling1D-channels_first",
        _layer_fn(L.AveragePooling1D(3, 2, "same", _CF, dtype="float64")),
        randn(2, 3, 7),
    ),
    case(
        "GlobalMaxPooling3D-channels_first",
        _layer_fn(L.GlobalMaxPooling3D(_CF, keepdims=True, dtype="float64")),
        distinct(2, 3, 2, 3, 2),
    ),
    case(
        "GlobalAveragePooling1D-channels_first",
        _layer_fn(L.GlobalAveragePooling1D(_CF, dtype="float64")),
        randn(2, 3, 4),
    ),
    case(
        "UpSampling3D-channels_first",
        _layer_fn(L.UpSampling3D((1, 2, 3), _CF, dtype="float64")),
        randn(1, 2, 2, 2, 3),
    ),
    case("UpSampling2D-channels_first", _layer_fn(L.UpSampling2D(2, _CF)), randn(1, 2, 2, 3)),
    case(
        "ZeroPadding3D",
        _layer_fn(L.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), dtype="float64")),
        randn(1, 2, 2, 3, 2),
    ),
    case("ZeroPadding1D-channels_first", _layer_fn(L.ZeroPadding1D((2, 1), _CF)), randn(2, 3, 4)),
    case(
        "Cropping3D-channels_first",
        _layer_fn(L.Cropping3D(((1, 0), (0, 1), (1, 1)), _CF, dtype="float64")),
        randn(1, 2, 3, 4, 4),
    ),
    _conv_lstm_case("ConvLSTM2D-same", L.ConvLSTM2D, (1, 3, 3, 3, 2), 2, 2, padding="same"),
    _conv_lstm_case(
        "ConvLSTM2D-channels_first-sequences-states",
        L.ConvLSTM2D,
        (2, 2, 1, 4, 3),
        2,
        (2, 2),
        data_format=_CF,
        return_sequences=True,
        go_backwards=True,
    ),
    _conv_lstm_case(
        "ConvLSTM3D-same-strided",
        L.ConvLSTM3D,
        (1, 2, 3, 3, 2, 1),
        1,
        2,
        strides=(2, 1, 1),
        padding="same",
    ),
    _conv_lstm_case(
        "ConvLSTM1D-strided", L.ConvLSTM1D, (2, 3, 5, 2), 2, 2, strides=2, return_sequences=True
    ),
]


# ---------------------------------------------------------------- the table

# a new group is one more list added here
CASES = (
    ARITHMETIC
    + LINEAR_ALGEBRA
    + REDUCTIONS
    + SHAPE
    + ACTIVATIONS
    + CROSS_ENTROPIES
    + LOSSES
    + MORE_LOSSES
    + LAYERS
    + POOLING
    + REGULARIZERS
)


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_registered_loss_has_rows():
    # each loss function by its name, each Loss class by "loss-<ClassName>-..."
    ids = [c.id for c in CASES]
    for name in registered_names("loss"):
        obj = losses.get(name)
        fn_name = obj.fn.__name__
        cls_name = type(obj).__name__
        assert any(i.startswith(fn_name) for i in ids), f"no row for {fn_name}"
        assert any(i.startswith(f"loss-{cls_name}") for i in ids), f"no row for {cls_name}"


@pytest.mark.parametrize("row", CASES, ids=[c.id for c in CASES])
def test_gradcheck(row: Case):
    gradcheck(row.fn, row.inputs, wrt=row.wrt)


# ---------------------------------------------------------------- layer rows, cross-checked


def test_dense_rows_check_the_layers_own_variables():
    # the rows swap tensors in for the kernel and bias; the real Variables get the same gradient
    layer = Dense(5, activation="tanh", dtype="float64")
    x, kernel, bias = _dense_inputs((4, 3), 5)
    layer.build((None, 3))
    layer.set_weights([kernel, bias])
    expected = gradcheck(
        lambda t, k, b: call_with_weights(layer, t, kernel=k, bias=b), [x, kernel, bias]
    )
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    out.backward(np.random.default_rng(1234).standard_normal(out.shape))
    for got, want in zip([xt.grad, layer.kernel.grad, layer.bias.grad], expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.8])
def test_dropout_gradient_is_mask_times_scale(rate):
    x = Tensor(positive(6, 7), requires_grad=True)
    out = _dropout(x, rate=rate)
    mask = out.data / x.data  # the kept entries are scaled by 1 / (1 - rate), the rest are 0
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / (1 - rate), 12)}
    assert 0 < np.count_nonzero(mask) < mask.size
    upstream = randn(6, 7)
    out.backward(upstream)
    np.testing.assert_allclose(x.grad, upstream * mask, rtol=1e-15)


def test_dropout_with_the_same_seed_draws_the_same_mask():
    x = positive(5, 8)
    first, second = _dropout(Tensor(x)).data, _dropout(Tensor(x)).data
    np.testing.assert_array_equal(first, second)
    assert np.count_nonzero(first == 0) > 0


# ---------------------------------------------------------------- the checker itself


class _WrongGradient(Function):
    """2a, with a gradient that is wrong in one element."""

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        grad = 2 * g
        grad[(0,) * grad.ndim] += 0.5
        return (grad,)


class _Float32Gradient(Function):
    """2a, with a correct gradient of the wrong dtype."""

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        return ((2 * g).astype(np.float32),)


def test_gradcheck_reports_the_wrong_element():
    with pytest.raises(AssertionError, match=r"input 0 is wrong at \(0, 0\).*1 of 6 elements"):
        gradcheck(lambda t: apply(_WrongGradient, t), [randn(2, 3)])


def test_gradcheck_checks_the_gradient_dtype():
    with pytest.raises(AssertionError, match="is float64 but its gradient is float32"):
        gradcheck(lambda t: apply(_Float32Gradient, t), [randn(2, 3)])


def test_gradcheck_weights_every_output_element():
    # a wrong gradient in one output position must show even though the other outputs are fine
    with pytest.raises(AssertionError, match="input 1 is wrong"):
        gradcheck(lambda a, b: F.stack([a, apply(_WrongGradient, b)]), [randn(3), randn(3)])


def test_gradcheck_respects_wrt():
    grads = gradcheck(F.multiply, [randn(2, 3), randn(3)], wrt=(1,))
    assert grads[0] is None
    assert grads[1].shape == (3,)


def test_gradcheck_needs_float64_inputs():
    with pytest.raises(AssertionError, match="must be float64"):
        gradcheck(F.exp, [randn(3).astype(np.float32)])
