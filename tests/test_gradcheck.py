"""Every primitive, composite and activation against float64 central differences: one table.

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

from axonal import activations
from axonal import functional as F
from axonal.autograd import Function
from axonal.registry import registered_names
from axonal.tensor import apply
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

# ---------------------------------------------------------------- the table

# a new group (losses, layers) is one more list added here
CASES = ARITHMETIC + LINEAR_ALGEBRA + REDUCTIONS + SHAPE + ACTIVATIONS + CROSS_ENTROPIES


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("row", CASES, ids=[c.id for c in CASES])
def test_gradcheck(row: Case):
    gradcheck(row.fn, row.inputs, wrt=row.wrt)


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
