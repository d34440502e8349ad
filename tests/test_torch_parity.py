"""Forward values and gradients against PyTorch, in float32 and float64: one table.

Each row names an axonal function of Tensors, the PyTorch function it must equal (written with
Keras's conventions where the two libraries differ: leaky_relu's slope 0.2, hard_sigmoid as
relu6(x + 3) / 6, exact gelu), and float64 inputs that keep off kinks and ties. Both sides run in
the row's dtype; outputs and the gradients of ``sum(out * R)`` (R fixed and random) must agree.
Losses and layers are rows of the same table (their conventions are mapped in their
sections); optimizer steps are compared in test_optimizers.py and whole training runs in
test_training_parity.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from axonal import activations, losses
from axonal import functional as F
from axonal.layers import Dense
from axonal.registry import registered_names
from axonal.tensor import Tensor
from gradcheck import away_from, distinct, distinct_pair, positive, randn, uniform
from test_gradcheck import AXES, BROADCAST_PAIRS, call_with_weights
from tolerance import assert_sums_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (rtol, atol) per dtype for elementwise rows: both libraries round each op, so float32 gets
# float32's resolution; rows that sum (sums=True) get tolerance.assert_sums_close instead
TOLERANCES = {np.float32: (1e-5, 1e-6), np.float64: (1e-10, 1e-12)}
# axonal's erf is a rational approximation: |erf(x) - exact| < 1.2e-7 (see primitives.Erf)
ERF_ERROR = 1.2e-7


@dataclass(frozen=True)
class Row:
    """``ours(*Tensors)`` must equal ``theirs(*torch tensors)`` at ``inputs`` (float64 arrays).

    ``wrt``: inputs whose gradients are compared (default all). ``atol``: extra absolute
    tolerance, only for a documented approximation (erf). ``sums``: the row is sums of
    products (matmul, dense, sum, mean; ReLU on top at most), so its tolerance follows the
    rounding of those sums: see ``assert_parity``.
    """

    id: str
    ours: Callable
    theirs: Callable
    inputs: tuple
    wrt: tuple | None = None
    atol: float = 0.0
    sums: bool = False


def row(id: str, ours: Callable, theirs: Callable, *inputs, wrt=None, atol=0.0, sums=False) -> Row:
    """Build a row (positional inputs read like the call they stand for)."""
    return Row(id, ours, theirs, tuple(inputs), wrt, atol, sums)


def _long(indices) -> torch.Tensor:
    return torch.as_tensor(np.asarray(indices), dtype=torch.long)


def _dims(axis, ndim: int) -> tuple:
    """axonal's ``axis`` (None, int or tuple) as a torch ``dim`` tuple."""
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _shape_id(shape: tuple) -> str:
    return "x".join(map(str, shape)) or "scalar"


# ---------------------------------------------------------------- elementwise arithmetic


def _binary_rows() -> list:
    rows = []
    for sa, sb in BROADCAST_PAIRS:
        pair = f"{_shape_id(sa)}-{_shape_id(sb)}"
        rows += [
            row(f"add-{pair}", F.add, torch.add, randn(*sa), randn(*sb)),
            row(f"subtract-{pair}", F.subtract, torch.sub, randn(*sa), randn(*sb)),
            row(f"multiply-{pair}", F.multiply, torch.mul, randn(*sa), randn(*sb)),
            row(
                f"divide-{pair}",
                F.divide,
                torch.div,
                randn(*sa),
                away_from(randn(*sb), margin=0.5),
            ),
            row(f"maximum-{pair}", F.maximum, torch.maximum, *distinct_pair(sa, sb)),
            row(f"minimum-{pair}", F.minimum, torch.minimum, *distinct_pair(sa, sb)),
        ]
    return rows


_WHERE_MASK = np.array([[True, False, True], [False, False, True]])

ARITHMETIC = _binary_rows() + [
    row(
        "operators",
        lambda a, b: (a + b) * a - b / (a * a + 1.0),
        lambda a, b: (a + b) * a - b / (a * a + 1.0),
        randn(3, 4),
        randn(4),
    ),
    row(
        "reflected-constants",
        lambda a: 2.5 + (3.0 - a) * 1.5 / (a * a + 2.0),
        lambda a: 2.5 + (3.0 - a) * 1.5 / (a * a + 2.0),
        randn(3, 4),
    ),
    row("negative", F.negative, torch.neg, randn(3, 4)),
    row("power-both", F.power, torch.pow, positive(3, 1), randn(1, 4)),
    row("power-scalar-exponent", F.power, torch.pow, positive(2, 3), np.array(1.7)),
    row("power-constant", lambda a: F.power(a, 3.0), lambda a: torch.pow(a, 3.0), randn(2, 3)),
    row("rpow", lambda a: 2.0**a, lambda a: 2.0**a, randn(2, 3)),
    row("square", F.square, torch.square, randn(3, 4)),
    row("exp", F.exp, torch.exp, randn(3, 4)),
    row("log", F.log, torch.log, positive(3, 4)),
    row("log1p", F.log1p, torch.log1p, uniform(3, 4, low=-0.5, high=2.0)),
    row("sqrt", F.sqrt, torch.sqrt, positive(3, 4)),
    row("abs", F.abs, torch.abs, away_from(randn(3, 4))),
    row(
        "clip",
        lambda a: F.clip(a, -1.0, 1.5),
        lambda a: torch.clamp(a, -1.0, 1.5),
        away_from(randn(3, 4, scale=2), (-1.0, 1.5)),
    ),
    row(
        "clip-upper-only",
        lambda a: F.clip(a, None, 0.5),
        lambda a: torch.clamp(a, max=0.5),
        away_from(randn(3, 4), (0.5,)),
    ),
    row(
        "where",
        lambda a, b: F.where(_WHERE_MASK, a, b),
        lambda a, b: torch.where(torch.as_tensor(_WHERE_MASK), a, b),
        randn(2, 3),
        randn(3),
    ),
    row(
        "where-scalar-branch",
        lambda a: F.where(_WHERE_MASK, a, 0.0),
        lambda a: torch.where(torch.as_tensor(_WHERE_MASK), a, 0.0),
        randn(2, 3),
    ),
    row("erf", F.erf, torch.erf, randn(3, 4, scale=1.5), atol=ERF_ERROR),
]

# ---------------------------------------------------------------- linear algebra

MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (3, 4, 2)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


def _dense_theirs(x, kernel, bias=None):
    return TF.linear(x, kernel.T, bias)


LINEAR_ALGEBRA = [
    *[
        row(
            f"matmul-{_shape_id(sa)}-{_shape_id(sb)}",
            F.matmul,
            torch.matmul,
            randn(*sa),
            randn(*sb),
            sums=True,
        )
        for sa, sb in MATMUL_SHAPES
    ],
    row("dense-2d-bias", F.dense, _dense_theirs, randn(4, 3), randn(3, 5), randn(5), sums=True),
    row("dense-3d-bias", F.dense, _dense_theirs, randn(2, 4, 3), randn(3, 5), randn(5), sums=True),
    row("dense-2d-no-bias", F.dense, _dense_theirs, randn(4, 3), randn(3, 5), sums=True),
    row("dense-1d-bias", F.dense, _dense_theirs, randn(3), randn(3, 5), randn(5), sums=True),
    row("dense-3d-no-bias", F.dense, _dense_theirs, randn(2, 4, 3), randn(3, 5), sums=True),
]

# ---------------------------------------------------------------- reductions

# axonal name -> torch function of (tensor, dims, keepdim)
TORCH_REDUCTIONS = {
    "sum": lambda t, dims, keep: torch.sum(t, dim=dims, keepdim=keep),
    "mean": lambda t, dims, keep: torch.mean(t, dim=dims, keepdim=keep),
    "max": lambda t, dims, keep: torch.amax(t, dim=dims, keepdim=keep),
    "min": lambda t, dims, keep: torch.amin(t, dim=dims, keepdim=keep),
    "logsumexp": lambda t, dims, keep: torch.logsumexp(t, dim=dims, keepdim=keep),
    "var": lambda t, dims, keep: torch.var(t, dim=dims, correction=0, keepdim=keep),
    "std": lambda t, dims, keep: torch.std(t, dim=dims, correction=0, keepdim=keep),
}


def _reduction_rows() -> list:
    rows = []
    for axis in AXES:
        for keepdims in (False, True):
            tag = f"axis={axis}-keepdims={keepdims}".replace(" ", "")
            for name, theirs in TORCH_REDUCTIONS.items():
                ours = getattr(F, name)
                x = distinct(2, 3, 4, scale=2.0) if name in ("max", "min") else randn(2, 3, 4)
                rows.append(
                    row(
                        f"{name}-{tag}",
                        lambda t, f=ours, a=axis, k=keepdims: f(t, a, k),
                        lambda t, f=theirs, a=axis, k=keepdims: f(t, _dims(a, t.ndim), k),
                        x,
                        sums=name in ("sum", "mean"),
                    )
                )
    return rows


REDUCTIONS = _reduction_rows() + [
    row(
        "logsumexp-large-offset",
        lambda t: F.logsumexp(t, axis=-1),
        lambda t: torch.logsumexp(t, dim=-1),
        randn(3, 4) + 60.0,
    ),
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
    row("reshape", lambda t: F.reshape(t, (6, 4)), lambda t: t.reshape(6, 4), randn(2, 3, 4)),
    row(
        "reshape-minus-one", lambda t: F.reshape(t, (-1,)), lambda t: t.reshape(-1), randn(2, 3, 4)
    ),
    row("transpose-reverse", F.transpose, lambda t: t.permute(2, 1, 0), randn(2, 3, 4)),
    row(
        "transpose-axes",
        lambda t: F.transpose(t, (2, 0, 1)),
        lambda t: t.permute(2, 0, 1),
        randn(2, 3, 4),
    ),
    row(
        "transpose-negative-axes",
        lambda t: F.transpose(t, (0, -1, -2)),
        lambda t: t.permute(0, 2, 1),
        randn(2, 3, 4),
    ),
    row("expand_dims", lambda t: F.expand_dims(t, 1), lambda t: t.unsqueeze(1), randn(2, 3)),
    row(
        "expand_dims-minus-1",
        lambda t: F.expand_dims(t, -1),
        lambda t: t.unsqueeze(-1),
        randn(2, 3),
    ),
    row("squeeze-all", F.squeeze, torch.squeeze, randn(2, 1, 3, 1)),
    row(
        "squeeze-tuple",
        lambda t: F.squeeze(t, (1, 3)),
        lambda t: torch.squeeze(t, (1, 3)),
        randn(2, 1, 3, 1),
    ),
    row(
        "broadcast_to",
        lambda t: F.broadcast_to(t, (2, 3, 4)),
        lambda t: torch.broadcast_to(t, (2, 3, 4)),
        randn(3, 1),
    ),
    row(
        "broadcast_to-scalar",
        lambda t: F.broadcast_to(t, (2, 2)),
        lambda t: torch.broadcast_to(t, (2, 2)),
        np.array(0.7),
    ),
    row("flatten", F.flatten, lambda t: torch.flatten(t, 1), randn(2, 3, 4)),
    row(
        "concatenate",
        lambda a, b, c: F.concatenate([a, b, c], axis=0),
        lambda a, b, c: torch.cat([a, b, c], dim=0),
        randn(2, 3),
        randn(1, 3),
        randn(3, 3),
    ),
    row(
        "concatenate-axis-minus-1",
        lambda a, b: F.concatenate([a, b], axis=-1),
        lambda a, b: torch.cat([a, b], dim=-1),
        randn(2, 3, 2),
        randn(2, 3, 1),
    ),
    row(
        "stack",
        lambda a, b, c: F.stack([a, b, c]),
        lambda a, b, c: torch.stack([a, b, c]),
        randn(2, 3),
        randn(2, 3),
        randn(2, 3),
    ),
    row(
        "stack-axis-minus-1",
        lambda a, b: F.stack([a, b], axis=-1),
        lambda a, b: torch.stack([a, b], dim=-1),
        randn(2, 3),
        randn(2, 3),
    ),
    row(
        "take-axis-0-repeats",
        lambda t: F.take(t, [0, 2, 0, 3, 0], axis=0),
        lambda t: torch.index_select(t, 0, _long([0, 2, 0, 3, 0])),
        randn(4, 5),
    ),
    row(
        "take-axis-1-repeats",
        lambda t: F.take(t, [4, 1, 4], axis=1),
        lambda t: torch.index_select(t, 1, _long([4, 1, 4])),
        randn(4, 5),
    ),
    row(
        "take-2d-indices-axis-0",
        lambda t: F.take(t, [[0, 1], [1, 3]], axis=0),
        lambda t: t[_long([[0, 1], [1, 3]])],
        randn(4, 5),
    ),
    row(
        "take-2d-indices-axis-1",
        lambda t: F.take(t, [[0, 3], [3, 3]], axis=1),
        lambda t: t[:, _long([[0, 3], [3, 3]])],
        randn(3, 4, 5),
    ),
    row(
        "take-2d-indices-axis-minus-1",
        lambda t: F.take(t, [[0, 4], [4, 4]], axis=-1),
        lambda t: t[..., _long([[0, 4], [4, 4]])],
        randn(3, 4, 5),
    ),
    row("getitem-int", lambda t: t[1], lambda t: t[1], randn(4, 5)),
    row("getitem-slices", lambda t: t[1:3, 1:4], lambda t: t[1:3, 1:4], randn(4, 5)),
    # torch has no negative steps: flip, then step forwards
    row(
        "getitem-negative-step", lambda t: t[::-2], lambda t: torch.flip(t, (0,))[::2], randn(4, 5)
    ),
    row(
        "getitem-ellipsis-newaxis",
        lambda t: t[None, ..., -1],
        lambda t: t[None, ..., -1],
        randn(2, 3, 4),
    ),
    row(
        "getitem-int-array-repeats",
        lambda t: t[np.array([0, 2, 0, 3, 0])],
        lambda t: t[_long([0, 2, 0, 3, 0])],
        randn(4, 5),
    ),
    row(
        "getitem-paired-arrays",
        lambda t: t[np.array([0, 0, 3]), np.array([1, 1, 2])],
        lambda t: t[_long([0, 0, 3]), _long([1, 1, 2])],
        randn(4, 5),
    ),
    row("getitem-bool-mask", lambda t: t[_MASK], lambda t: t[torch.as_tensor(_MASK)], randn(4, 5)),
    row("cast-same-dtype", lambda t: F.cast(t, t.dtype), lambda t: t.to(t.dtype), randn(3, 4)),
]

# ---------------------------------------------------------------- activations

# every registered activation name -> its torch equivalent under Keras's defaults
TORCH_ACTIVATIONS = {
    "elu": TF.elu,
    "exponential": torch.exp,
    "gelu": lambda t: TF.gelu(t, approximate="none"),
    "hard_sigmoid": lambda t: TF.relu6(t + 3) / 6,
    "hard_silu": lambda t: t * TF.relu6(t + 3) / 6,
    "hard_swish": lambda t: t * TF.relu6(t + 3) / 6,
    "leaky_relu": lambda t: TF.leaky_relu(t, negative_slope=0.2),
    "linear": lambda t: t,
    "log_softmax": lambda t: TF.log_softmax(t, dim=-1),
    "relu": TF.relu,
    "relu6": TF.relu6,
    "selu": TF.selu,
    "sigmoid": torch.sigmoid,
    "silu": TF.silu,
    "softmax": lambda t: TF.softmax(t, dim=-1),
    "softplus": TF.softplus,
    "softsign": TF.softsign,
    "swish": TF.silu,
    "tanh": torch.tanh,
}
_ERF_BASED = {"gelu"}
_KINKS = (0.0, -3.0, 3.0, 6.0)  # relu family and elu/selu at 0, hard_sigmoid at ±3, relu6 at 6


def _activation_input() -> np.ndarray:
    # scale 3 reaches both sides of hard_sigmoid's ±3; softplus stays below torch's threshold 20
    return away_from(randn(3, 4, scale=3.0), _KINKS)


ACTIVATIONS = [
    *[
        row(
            f"activation-{name}",
            activations.get(name),
            theirs,
            _activation_input(),
            atol=ERF_ERROR if name in _ERF_BASED else 0.0,
        )
        for name, theirs in TORCH_ACTIVATIONS.items()
    ],
    row("relu", F.relu, TF.relu, _activation_input()),
    row("sigmoid", F.sigmoid, torch.sigmoid, randn(3, 4, scale=3.0)),
    row("tanh", F.tanh, torch.tanh, randn(3, 4, scale=2.0)),
    row("softplus", F.softplus, TF.softplus, randn(3, 4, scale=3.0)),
    row(
        "softmax-axis-0",
        lambda t: F.softmax(t, axis=0),
        lambda t: TF.softmax(t, dim=0),
        randn(3, 4),
    ),
    row(
        "softmax-3d-axis-1",
        lambda t: F.softmax(t, axis=1),
        lambda t: TF.softmax(t, dim=1),
        randn(2, 3, 4),
    ),
    row(
        "log_softmax-axis-0",
        lambda t: F.log_softmax(t, axis=0),
        lambda t: TF.log_softmax(t, dim=0),
        randn(3, 4),
    ),
    row(
        "relu6-both-kinks", F.relu6, TF.relu6, away_from(uniform(3, 4, low=-2.0, high=8.0), _KINKS)
    ),
    row(
        "relu-slope-and-cap",
        lambda t: activations.relu(t, negative_slope=0.1, max_value=2.0),
        lambda t: torch.clamp(TF.leaky_relu(t, 0.1), max=2.0),
        away_from(randn(3, 4, scale=3.0), (0.0, 2.0)),
    ),
    row(
        "leaky_relu-0.05",
        lambda t: activations.leaky_relu(t, 0.05),
        lambda t: TF.leaky_relu(t, 0.05),
        _activation_input(),
    ),
    row(
        "elu-alpha",
        lambda t: activations.elu(t, alpha=0.5),
        lambda t: TF.elu(t, alpha=0.5),
        _activation_input(),
    ),
    row(
        "gelu-approximate",
        lambda t: activations.gelu(t, approximate=True),
        lambda t: TF.gelu(t, approximate="tanh"),
        randn(3, 4, scale=2.0),
    ),
]

# ---------------------------------------------------------------- fused cross-entropies


def _probabilities(*shape: int, axis: int = -1) -> np.ndarray:
    e = np.exp(randn(*shape))
    return e / e.sum(axis=axis, keepdims=True)


_LABELS = np.array([1, 0, 4, 4])
_LABELS_3D = np.array([[0, 2, 2], [1, 0, 4]])

CROSS_ENTROPIES = [
    row(
        "sparse_softmax_cross_entropy",
        lambda z: F.sparse_softmax_cross_entropy(z, _LABELS),
        lambda z: TF.cross_entropy(z, _long(_LABELS), reduction="none"),
        randn(4, 5, scale=2.0),
    ),
    row(
        "sparse_softmax_cross_entropy-3d",
        lambda z: F.sparse_softmax_cross_entropy(z, _LABELS_3D),
        lambda z: TF.cross_entropy(
            z.reshape(-1, 5), _long(_LABELS_3D).reshape(-1), reduction="none"
        ).reshape(2, 3),
        randn(2, 3, 5, scale=2.0),
    ),
    row(
        "softmax_cross_entropy",
        F.softmax_cross_entropy,
        lambda z, t: TF.cross_entropy(z, t, reduction="none"),
        randn(4, 5, scale=2.0),
        _probabilities(4, 5),
    ),
    row(
        "softmax_cross_entropy-axis-0",
        lambda z, t: F.softmax_cross_entropy(z, t, axis=0),
        lambda z, t: TF.cross_entropy(z.T, t.T, reduction="none"),
        randn(5, 4, scale=2.0),
        _probabilities(5, 4, axis=0),
    ),
    row(
        "softmax_cross_entropy-broadcast-targets",
        F.softmax_cross_entropy,
        lambda z, t: TF.cross_entropy(z, t.expand_as(z), reduction="none"),
        randn(4, 5, scale=2.0),
        _probabilities(5),
    ),
    row(
        "sigmoid_cross_entropy",
        F.sigmoid_cross_entropy,
        lambda z, t: TF.binary_cross_entropy_with_logits(z, t, reduction="none"),
        randn(3, 4, scale=3.0),
        uniform(3, 4, low=0.0, high=1.0),
    ),
    row(
        "sigmoid_cross_entropy-broadcast-targets",
        F.sigmoid_cross_entropy,
        lambda z, t: TF.binary_cross_entropy_with_logits(z, t.expand_as(z), reduction="none"),
        randn(3, 4, scale=3.0),
        uniform(4, low=0.0, high=1.0),
    ),
]

# ---------------------------------------------------------------- losses
#
# Conventions mapped onto torch:
# - axonal's loss functions return one value per sample (the mean over the last axis for the
#   regression losses and binary cross-entropy), so torch's elementwise reduction='none' is
#   followed by .mean(-1); Loss objects are compared with torch's reductions.
# - Label smoothing: Keras's categorical formula t * (1 - s) + s / classes is torch's
#   cross_entropy(label_smoothing=s) formula, for class indices and probability targets alike;
#   Keras's binary formula t * (1 - s) + 0.5 * s has no torch argument and is applied to the
#   targets before binary_cross_entropy.
# - Probabilities: axonal (like Keras) renormalises categorical probabilities to sum 1 and clips
#   them to [1e-7, 1 - 1e-7] (in the input's dtype); torch does neither, so torch gets the
#   renormalised, clamped probabilities (clamp passes no gradient outside the bounds, as
#   axonal's clip does). Categorical cross-entropy on probabilities p is torch's cross_entropy
#   on log(p): log_softmax(log p) = log(p / sum(p)).
# - ignore_class is torch's ignore_index (a zero loss per ignored sample; the mean runs over the
#   others).
# - torch has no log-cosh: it is log(cosh(x)) written in torch, for errors where cosh is finite.

_EPS = 1e-7


def _clamped(p: torch.Tensor) -> torch.Tensor:
    return torch.clamp(p, _EPS, 1 - _EPS)


def _renormalised(p: torch.Tensor) -> torch.Tensor:
    return p / p.sum(-1, keepdim=True)


def _one_hot(labels, classes: int = 3) -> np.ndarray:
    return np.eye(classes)[labels]


_N, _C = 4, 3
_Y = randn(_N, _C)
_LOSS_LABELS = np.array([2, 0, 1, 2])
_IGNORED = np.array([2, -1, 1, -1])
_SAMPLE_WEIGHT = np.array([0.5, 2.0, 0.0, 1.25])
_BINARY_TARGETS = uniform(_N, _C, low=0.0, high=1.0)
# probabilities exactly 0 and 1, against targets 0, 1 and in between
_EXTREME_P = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.3], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
_EXTREME_T = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 0.7]])
# categorical probabilities with exact zeros and ones (rows sum to 1)
_EXTREME_CATEGORICAL = np.array(
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.25, 0.75], [0.5, 0.5, 0.0]]
)
# logits of ±1e4: the probabilities round to exactly 0 and 1 in both float types
_HUGE_LOGITS = np.array(
    [[1e4, -1e4, 0.5], [-1e4, 1e4, 1e4], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4 + 3.0]]
)


def _log_cosh_torch(t, p):
    return torch.log(torch.cosh(p - t)).mean(-1)


def _mean_last(fn):
    """A torch elementwise loss (reduction='none') averaged over the last axis, per sample."""
    return lambda t, p: fn(p, t, reduction="none").mean(-1)


# every Loss class: (id, axonal factory of reduction, torch per-sample function, y_true, y_pred)
_TORCH_LOSS_OBJECTS = [
    (
        "MeanSquaredError",
        lambda r: losses.MeanSquaredError(reduction=r),
        _mean_last(TF.mse_loss),
        _Y,
        randn(_N, _C),
    ),
    (
        "MeanAbsoluteError",
        lambda r: losses.MeanAbsoluteError(reduction=r),
        _mean_last(TF.l1_loss),
        _Y,
        _Y + away_from(randn(_N, _C)),
    ),
    (
        "Huber",
        lambda r: losses.Huber(delta=0.7, reduction=r),
        _mean_last(lambda p, t, reduction: TF.huber_loss(p, t, reduction=reduction, delta=0.7)),
        _Y,
        _Y + away_from(randn(_N, _C, scale=1.5), (-0.7, 0.0, 0.7)),
    ),
    (
        "LogCosh",
        lambda r: losses.LogCosh(reduction=r),
        _log_cosh_torch,
        _Y,
        randn(_N, _C, scale=3.0),
    ),
    (
        "BinaryCrossentropy",
        lambda r: losses.BinaryCrossentropy(reduction=r),
        lambda t, p: TF.binary_cross_entropy(p, t, reduction="none").mean(-1),
        _BINARY_TARGETS,
        uniform(_N, _C, low=0.05, high=0.95),
    ),
    (
        "BinaryCrossentropy-from_logits-label_smoothing",
        lambda r: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, reduction=r),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t * 0.8 + 0.1, reduction="none").mean(
            -1
        ),
        _BINARY_TARGETS,
        randn(_N, _C, scale=3.0),
    ),
    (
        "CategoricalCrossentropy",
        lambda r: losses.CategoricalCrossentropy(reduction=r),
        lambda t, p: TF.cross_entropy(torch.log(p), t, reduction="none"),
        _probabilities(_N, _C),
        _probabilities(_N, _C),
    ),
    (
        "CategoricalCrossentropy-from_logits-label_smoothing",
        lambda r: losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1, reduction=r
        ),
        lambda t, z: TF.cross_entropy(z, t, reduction="none", label_smoothing=0.1),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    (
        "SparseCategoricalCrossentropy",
        lambda r: losses.SparseCategoricalCrossentropy(reduction=r),
        lambda t, p: TF.nll_loss(torch.log(_renormalised(p)), t.long(), reduction="none"),
        _LOSS_LABELS,
        _probabilities(_N, _C),
    ),
    (
        "SparseCategoricalCrossentropy-from_logits",
        lambda r: losses.SparseCategoricalCrossentropy(from_logits=True, reduction=r),
        lambda t, z: TF.cross_entropy(z, t.long(), reduction="none"),
        _LOSS_LABELS,
        randn(_N, _C, scale=2.0),
    ),
]


def _torch_reduced(per_sample, reduction, weight):
    def theirs(t, p):
        values = per_sample(t, p)
        if weight is not None:
            values = values * torch.as_tensor(weight, dtype=values.dtype)
        if reduction == "none":
            return values
        total = values.sum()
        return total if reduction == "sum" else total / values.numel()

    return theirs


def _loss_object_rows() -> list:
    rows = []
    for name, make, per_sample, y_true, y_pred in _TORCH_LOSS_OBJECTS:
        for reduction in ("sum_over_batch_size", "sum", "none"):
            for weight in (None, _SAMPLE_WEIGHT):
                tag = f"loss-{name}-{reduction}" + ("" if weight is None else "-sample_weight")
                rows.append(
                    row(
                        tag,
                        lambda t, p, make=make, r=reduction, w=weight: make(r)(t, p, w),
                        _torch_reduced(per_sample, reduction, weight),
                        y_true,
                        y_pred,
                        wrt=(1,),
                    )
                )
    return rows


LOSSES = _loss_object_rows() + [
    # regression losses, gradients for both y_true and y_pred
    row("mean_squared_error", losses.mean_squared_error, _mean_last(TF.mse_loss), _Y, randn(4, 3)),
    row(
        "mean_squared_error-true-n-pred-n1",
        losses.mean_squared_error,
        lambda t, p: TF.mse_loss(p, t[:, None], reduction="none").mean(-1),
        randn(_N),
        randn(_N, 1),
    ),
    row(
        "mean_squared_error-true-n1-pred-n",
        losses.mean_squared_error,
        lambda t, p: TF.mse_loss(p[:, None], t, reduction="none").mean(-1),
        randn(_N, 1),
        randn(_N),
    ),
    row(
        "mean_absolute_error",
        losses.mean_absolute_error,
        _mean_last(TF.l1_loss),
        _Y,
        _Y + away_from(randn(_N, _C)),
    ),
    row(
        "huber-both-regimes",
        lambda t, p: losses.huber(t, p, delta=0.7),
        _mean_last(lambda p, t, reduction: TF.huber_loss(p, t, reduction=reduction, delta=0.7)),
        _Y,
        _Y + away_from(randn(_N, _C, scale=1.5), (-0.7, 0.0, 0.7)),
    ),
    row(
        "huber-delta-2.5",
        lambda t, p: losses.huber(t, p, delta=2.5),
        _mean_last(lambda p, t, reduction: TF.huber_loss(p, t, reduction=reduction, delta=2.5)),
        _Y,
        _Y + away_from(randn(_N, _C, scale=4.0), (-2.5, 0.0, 2.5)),
    ),
    row("log_cosh", losses.log_cosh, _log_cosh_torch, _Y, randn(_N, _C, scale=3.0)),
    row(
        "log_cosh-large-errors",
        losses.log_cosh,
        # log(cosh(x)) = |x| + log1p(exp(-2|x|)) - log 2, where cosh itself overflows
        lambda t, p: (
            torch.abs(p - t) + torch.log1p(torch.exp(-2 * torch.abs(p - t))) - math.log(2.0)
        ).mean(-1),
        _Y,
        _Y + np.array([400.0, -400.0, 30.0]),
    ),
    # binary cross-entropy
    row(
        "binary_crossentropy-probabilities",
        losses.binary_crossentropy,
        lambda t, p: TF.binary_cross_entropy(p, t, reduction="none").mean(-1),
        _BINARY_TARGETS,
        uniform(_N, _C, low=0.05, high=0.95),
        wrt=(1,),  # torch has no gradient for binary_cross_entropy's target
    ),
    row(
        "binary_crossentropy-probabilities-0-and-1",
        losses.binary_crossentropy,
        lambda t, p: TF.binary_cross_entropy(_clamped(p), t, reduction="none").mean(-1),
        _EXTREME_T,
        _EXTREME_P,
        wrt=(1,),
    ),
    row(
        "binary_crossentropy-label_smoothing",
        lambda t, p: losses.binary_crossentropy(t, p, label_smoothing=0.2),
        lambda t, p: TF.binary_cross_entropy(p, t * 0.8 + 0.1, reduction="none").mean(-1),
        _BINARY_TARGETS,
        uniform(_N, _C, low=0.05, high=0.95),
        wrt=(1,),
    ),
    row(
        "binary_crossentropy-label_smoothing-0-and-1",
        lambda t, p: losses.binary_crossentropy(t, p, label_smoothing=0.2),
        lambda t, p: TF.binary_cross_entropy(_clamped(p), t * 0.8 + 0.1, reduction="none").mean(-1),
        _EXTREME_T,
        _EXTREME_P,
        wrt=(1,),
    ),
    row(
        "binary_crossentropy-from_logits",
        lambda t, z: losses.binary_crossentropy(t, z, from_logits=True),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t, reduction="none").mean(-1),
        _BINARY_TARGETS,
        randn(_N, _C, scale=3.0),
    ),
    row(
        "binary_crossentropy-from_logits-1e4",
        lambda t, z: losses.binary_crossentropy(t, z, from_logits=True),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t, reduction="none").mean(-1),
        _EXTREME_T,
        _HUGE_LOGITS,
    ),
    row(
        "binary_crossentropy-from_logits-label_smoothing",
        lambda t, z: losses.binary_crossentropy(t, z, from_logits=True, label_smoothing=0.3),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t * 0.7 + 0.15, reduction="none").mean(
            -1
        ),
        _BINARY_TARGETS,
        randn(_N, _C, scale=3.0),
    ),
    row(
        "binary_crossentropy-fused-sigmoid",
        lambda t, z: losses.binary_crossentropy(t, F.sigmoid(z)),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t, reduction="none").mean(-1),
        _BINARY_TARGETS,
        randn(_N, _C, scale=3.0),
    ),
    row(
        "binary_crossentropy-fused-sigmoid-1e4",
        lambda t, z: losses.binary_crossentropy(t, F.sigmoid(z)),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t, reduction="none").mean(-1),
        _EXTREME_T,
        _HUGE_LOGITS,
    ),
    row(
        "binary_crossentropy-fused-sigmoid-true-n-pred-n1",
        lambda t, z: losses.binary_crossentropy(t, F.sigmoid(z)),
        lambda t, z: TF.binary_cross_entropy_with_logits(z, t[:, None], reduction="none").mean(-1),
        uniform(_N, low=0.0, high=1.0),
        randn(_N, 1, scale=3.0),
    ),
    # categorical cross-entropy
    row(
        "categorical_crossentropy-probabilities",
        losses.categorical_crossentropy,
        lambda t, p: TF.cross_entropy(torch.log(p), t, reduction="none"),
        _probabilities(_N, _C),
        positive(_N, _C, low=0.2, high=1.0),  # unnormalised: axonal renormalises, as Keras does
    ),
    row(
        "categorical_crossentropy-probabilities-0-and-1",
        losses.categorical_crossentropy,
        lambda t, p: -(t * torch.log(_clamped(_renormalised(p)))).sum(-1),
        _one_hot(_LOSS_LABELS),
        _EXTREME_CATEGORICAL,
        wrt=(1,),
    ),
    row(
        "categorical_crossentropy-label_smoothing",
        lambda t, p: losses.categorical_crossentropy(t, p, label_smoothing=0.2),
        lambda t, p: TF.cross_entropy(torch.log(p), t, reduction="none", label_smoothing=0.2),
        _one_hot(_LOSS_LABELS),
        _probabilities(_N, _C),
        wrt=(1,),
    ),
    row(
        "categorical_crossentropy-from_logits",
        lambda t, z: losses.categorical_crossentropy(t, z, from_logits=True),
        lambda t, z: TF.cross_entropy(z, t, reduction="none"),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "categorical_crossentropy-from_logits-label_smoothing-class-indices",
        lambda z: losses.categorical_crossentropy(
            _one_hot(_LOSS_LABELS), z, from_logits=True, label_smoothing=0.15
        ),
        lambda z: TF.cross_entropy(z, _long(_LOSS_LABELS), reduction="none", label_smoothing=0.15),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "categorical_crossentropy-from_logits-1e4",
        lambda t, z: losses.categorical_crossentropy(t, z, from_logits=True),
        lambda t, z: TF.cross_entropy(z, t, reduction="none"),
        _probabilities(_N, _C),
        _HUGE_LOGITS,
    ),
    row(
        "categorical_crossentropy-fused-softmax",
        lambda t, z: losses.categorical_crossentropy(t, F.softmax(z)),
        lambda t, z: TF.cross_entropy(z, t, reduction="none"),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "categorical_crossentropy-fused-softmax-1e4",
        lambda t, z: losses.categorical_crossentropy(t, F.softmax(z)),
        lambda t, z: TF.cross_entropy(z, t, reduction="none"),
        _one_hot(_LOSS_LABELS),
        _HUGE_LOGITS,
    ),
    # sparse categorical cross-entropy
    row(
        "sparse_categorical_crossentropy-probabilities",
        lambda p: losses.sparse_categorical_crossentropy(_LOSS_LABELS, p),
        lambda p: TF.nll_loss(torch.log(_renormalised(p)), _long(_LOSS_LABELS), reduction="none"),
        _probabilities(_N, _C),
    ),
    row(
        "sparse_categorical_crossentropy-probabilities-labels-n1",
        lambda p: losses.sparse_categorical_crossentropy(_LOSS_LABELS[:, None], p),
        lambda p: TF.nll_loss(torch.log(_renormalised(p)), _long(_LOSS_LABELS), reduction="none"),
        _probabilities(_N, _C),
    ),
    row(
        "sparse_categorical_crossentropy-probabilities-0-and-1",
        lambda p: losses.sparse_categorical_crossentropy(_LOSS_LABELS, p),
        lambda p: TF.nll_loss(
            torch.log(_clamped(_renormalised(p))), _long(_LOSS_LABELS), reduction="none"
        ),
        _EXTREME_CATEGORICAL,
    ),
    row(
        "sparse_categorical_crossentropy-from_logits",
        lambda z: losses.sparse_categorical_crossentropy(_LOSS_LABELS, z, from_logits=True),
        lambda z: TF.cross_entropy(z, _long(_LOSS_LABELS), reduction="none"),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "sparse_categorical_crossentropy-from_logits-labels-n1",
        lambda z: losses.sparse_categorical_crossentropy(
            _LOSS_LABELS[:, None], z, from_logits=True
        ),
        lambda z: TF.cross_entropy(z, _long(_LOSS_LABELS), reduction="none"),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "sparse_categorical_crossentropy-from_logits-1e4",
        lambda z: losses.sparse_categorical_crossentropy(_LOSS_LABELS, z, from_logits=True),
        lambda z: TF.cross_entropy(z, _long(_LOSS_LABELS), reduction="none"),
        _HUGE_LOGITS,
    ),
    row(
        "sparse_categorical_crossentropy-ignore_class",
        lambda z: losses.sparse_categorical_crossentropy(
            _IGNORED, z, from_logits=True, ignore_class=-1
        ),
        lambda z: TF.cross_entropy(z, _long(_IGNORED), reduction="none", ignore_index=-1),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "sparse_categorical_crossentropy-ignore_class-a-valid-class",
        lambda p: losses.sparse_categorical_crossentropy(_LOSS_LABELS, p, ignore_class=2),
        lambda p: TF.nll_loss(
            torch.log(_renormalised(p)), _long(_LOSS_LABELS), reduction="none", ignore_index=2
        ),
        _probabilities(_N, _C),
    ),
    row(
        "SparseCategoricalCrossentropy-ignore_class-mean",
        lambda z: losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(
            _IGNORED, z
        ),
        lambda z: TF.cross_entropy(z, _long(_IGNORED), ignore_index=-1),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "SparseCategoricalCrossentropy-ignore_class-mean-sample_weight",
        lambda z: losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(
            _IGNORED, z, sample_weight=_SAMPLE_WEIGHT
        ),
        lambda z: (
            (
                TF.cross_entropy(z, _long(_IGNORED), ignore_index=-1, reduction="none")
                * torch.as_tensor(_SAMPLE_WEIGHT, dtype=z.dtype)
            ).sum()
            / 2
        ),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "SparseCategoricalCrossentropy-ignore_class-sum",
        lambda z: losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1, reduction="sum"
        )(_IGNORED, z),
        lambda z: TF.cross_entropy(z, _long(_IGNORED), ignore_index=-1, reduction="sum"),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "sparse_categorical_crossentropy-fused-softmax",
        lambda z: losses.sparse_categorical_crossentropy(_LOSS_LABELS, F.softmax(z)),
        lambda z: TF.cross_entropy(z, _long(_LOSS_LABELS), reduction="none"),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "sparse_categorical_crossentropy-fused-softmax-1e4",
        lambda z: losses.sparse_categorical_crossentropy(_LOSS_LABELS, F.softmax(z)),
        lambda z: TF.cross_entropy(z, _long(_LOSS_LABELS), reduction="none"),
        _HUGE_LOGITS,
    ),
]

# ---------------------------------------------------------------- layers


def _dense_layer_rows() -> list:
    """Dense against torch.nn.Linear (weight = kernel.T), called through the module."""
    rows = []
    specs = [
        ("linear", (4, 3), 5, True),
        ("no-bias", (4, 3), 5, False),
        ("rank-3", (2, 4, 3), 5, True),
        ("rank-3-no-bias", (2, 4, 3), 5, False),
    ] + [
        (f"activation-{name}", (4, 3), 5, True)
        for name in ("relu", "sigmoid", "tanh", "softmax", "gelu", "elu")
    ]
    for tag, x_shape, units, use_bias in specs:
        activation = tag.removeprefix("activation-") if tag.startswith("activation-") else None
        theirs_activation = TORCH_ACTIVATIONS[activation or "linear"]

        def ours(x, kernel, bias=None, units=units, use_bias=use_bias, activation=activation):
            layer = Dense(units, activation=activation, use_bias=use_bias, dtype=x.dtype.name)
            layer.build((None,) + x.shape[1:])
            weights = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
            return call_with_weights(layer, x, **weights)

        def theirs(x, kernel, bias=None, units=units, use_bias=use_bias, act=theirs_activation):
            linear = torch.nn.Linear(x.shape[-1], units, bias=use_bias, dtype=x.dtype)
            params = {"weight": kernel.T} if bias is None else {"weight": kernel.T, "bias": bias}
            return act(torch.func.functional_call(linear, params, (x,)))

        inputs = [randn(*x_shape), randn(x_shape[-1], units)] + ([randn(units)] if use_bias else [])
        rows.append(
            row(
                f"Dense-{tag}",
                ours,
                theirs,
                *inputs,
                atol=ERF_ERROR if activation == "gelu" else 0.0,
                sums=activation in (None, "relu"),
            )
        )
    return rows


LAYERS = _dense_layer_rows()

# ---------------------------------------------------------------- Keras 3 losses (issue 18)
#
# torch has Poisson (poisson_nll_loss) and cosine similarity; the others are their formulas
# written in torch: hinge losses on -1/1 labels (0/1 labels are converted, as Keras does), Dice
# and Tversky from soft counts, focal losses as Lin et al. write them (torchvision's
# sigmoid_focal_loss for the binary one). Inputs are drawn after every other row's, so those
# stay as they were.

_BITS = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
_SIGNS = 2.0 * _BITS - 1.0
_MASK_PRED = uniform(_N, _C, low=0.1, high=0.9)
_SIGNED_PRED = _SIGNS + away_from(randn(_N, _C))  # away from the kink at y_true * y_pred = 1


def _kl_torch(t, p):
    t, p = torch.clamp(t, _EPS, 1.0), torch.clamp(p, _EPS, 1.0)
    return (t * (torch.log(t) - torch.log(p))).sum(-1)


def _poisson_torch(t, p):
    return TF.poisson_nll_loss(p, t, log_input=False, eps=_EPS, reduction="none").mean(-1)


def _hinge_torch(t, p):
    return torch.relu(1.0 - (2.0 * t - 1.0) * p).mean(-1)


def _squared_hinge_torch(t, p):
    return torch.relu(1.0 - t * p).square().mean(-1)


def _categorical_hinge_torch(t, p):
    positive = (t * p).sum(-1)
    negative = ((1.0 - t) * p).amax(-1)
    return torch.relu(negative - positive + 1.0)


def _cosine_torch(t, p, dim=-1):
    return -TF.cosine_similarity(t, p, dim=dim, eps=0.0)


def _tversky_torch(t, p, alpha=0.5, beta=0.5, dim=None):
    dims = tuple(range(t.ndim)) if dim is None else (dim,)
    tp = (t * p).sum(dims)
    fp = ((1.0 - p) * t).sum(dims)
    fn = (p * (1.0 - t)).sum(dims)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + _EPS)


def _dice_torch(t, p, dim=None):
    dims = tuple(range(t.ndim)) if dim is None else (dim,)
    return 1.0 - 2.0 * (t * p).sum(dims) / (t.sum(dims) + p.sum(dims) + _EPS)


def _binary_focal_torch(t, z, alpha=0.25, gamma=2.0, balanced=False):
    # torchvision.ops.sigmoid_focal_loss, averaged over the last axis
    p = torch.sigmoid(z)
    ce = TF.binary_cross_entropy_with_logits(z, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if balanced:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean(-1)


def _binary_focal_probabilities_torch(t, p, gamma=2.0):
    ce = TF.binary_cross_entropy(p, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    return (ce * (1 - p_t) ** gamma).mean(-1)


def _categorical_focal_torch(t, p, alpha=0.25, gamma=2.0):
    p = _clamped(_renormalised(p))
    return (alpha * (1 - p) ** gamma * -t * torch.log(p)).sum(-1)


def _categorical_focal_logits_torch(t, z, alpha=0.25, gamma=2.0):
    p = _clamped(torch.softmax(z, -1))
    return (alpha * (1 - p) ** gamma * -t * torch.log_softmax(z, -1)).sum(-1)


def _mape_torch(t, p):
    return 100.0 * ((t - p).abs() / torch.clamp(t.abs(), min=_EPS)).mean(-1)


def _msle_torch(t, p):
    return (
        (torch.log1p(torch.clamp(p, min=_EPS)) - torch.log1p(torch.clamp(t, min=_EPS)))
        .square()
        .mean(-1)
    )


def _gce_torch(labels, p, q=0.4):
    picked = p.gather(-1, labels.long()[:, None])[:, 0]
    return (1 - picked**q) / q


_MORE_TORCH_LOSS_OBJECTS = [
    (
        "KLDivergence",
        lambda r: losses.KLDivergence(reduction=r),
        _kl_torch,
        _probabilities(_N, _C),
        _probabilities(_N, _C),
    ),
    (
        "Poisson",
        lambda r: losses.Poisson(reduction=r),
        _poisson_torch,
        positive(_N, _C),
        positive(_N, _C),
    ),
    ("Hinge", lambda r: losses.Hinge(reduction=r), _hinge_torch, _BITS, _SIGNED_PRED),
    (
        "SquaredHinge",
        lambda r: losses.SquaredHinge(reduction=r),
        _squared_hinge_torch,
        _SIGNS,
        _SIGNED_PRED,
    ),
    (
        "CategoricalHinge",
        lambda r: losses.CategoricalHinge(reduction=r),
        _categorical_hinge_torch,
        _one_hot(_LOSS_LABELS),
        randn(_N, _C),
    ),
    (
        "CosineSimilarity",
        lambda r: losses.CosineSimilarity(reduction=r),
        _cosine_torch,
        randn(_N, _C),
        randn(_N, _C),
    ),
    (
        "Dice",
        lambda r: losses.Dice(axis=1, reduction=r),
        lambda t, p: _dice_torch(t, p, dim=1),
        _BITS,
        _MASK_PRED,
    ),
    (
        "Tversky",
        lambda r: losses.Tversky(alpha=0.3, beta=0.7, axis=1, reduction=r),
        lambda t, p: _tversky_torch(t, p, 0.3, 0.7, dim=1),
        _BITS,
        _MASK_PRED,
    ),
    (
        "BinaryFocalCrossentropy",
        lambda r: losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.4, from_logits=True, reduction=r
        ),
        lambda t, z: _binary_focal_torch(t, z, alpha=0.4, balanced=True),
        _BITS,
        randn(_N, _C, scale=2.0),
    ),
    (
        "CategoricalFocalCrossentropy",
        lambda r: losses.CategoricalFocalCrossentropy(reduction=r),
        _categorical_focal_torch,
        _one_hot(_LOSS_LABELS),
        _probabilities(_N, _C),
    ),
    (
        "MeanAbsolutePercentageError",
        lambda r: losses.MeanAbsolutePercentageError(reduction=r),
        _mape_torch,
        _Y,
        _Y + away_from(randn(_N, _C)),
    ),
    (
        "MeanSquaredLogarithmicError",
        lambda r: losses.MeanSquaredLogarithmicError(reduction=r),
        _msle_torch,
        positive(_N, _C),
        positive(_N, _C),
    ),
    (
        "CategoricalGeneralizedCrossEntropy",
        lambda r: losses.CategoricalGeneralizedCrossEntropy(q=0.4, reduction=r),
        _gce_torch,
        _LOSS_LABELS,
        _probabilities(_N, _C),
    ),
]


def _more_loss_object_rows() -> list:
    rows = []
    for name, make, per_sample, y_true, y_pred in _MORE_TORCH_LOSS_OBJECTS:
        for reduction in ("sum_over_batch_size", "sum", "none"):
            for weight in (None, _SAMPLE_WEIGHT):
                tag = f"loss-{name}-{reduction}" + ("" if weight is None else "-sample_weight")
                rows.append(
                    row(
                        tag,
                        lambda t, p, make=make, r=reduction, w=weight: make(r)(t, p, w),
                        _torch_reduced(per_sample, reduction, weight),
                        y_true,
                        y_pred,
                        wrt=(1,),
                    )
                )
    return rows


MORE_LOSSES = _more_loss_object_rows() + [
    row(
        "kl_divergence",
        losses.kl_divergence,
        _kl_torch,
        _probabilities(_N, _C),
        _probabilities(_N, _C),
    ),
    row("poisson", losses.poisson, _poisson_torch, positive(_N, _C), positive(_N, _C)),
    row(
        "hinge",
        lambda p: losses.hinge(_BITS, p),
        lambda p: _hinge_torch(torch.as_tensor(_BITS, dtype=p.dtype), p),
        _SIGNED_PRED,
    ),
    row("squared_hinge", losses.squared_hinge, _squared_hinge_torch, _SIGNS, _SIGNED_PRED),
    row(
        "categorical_hinge",
        losses.categorical_hinge,
        _categorical_hinge_torch,
        _one_hot(_LOSS_LABELS),
        randn(_N, _C),
    ),
    row("cosine_similarity", losses.cosine_similarity, _cosine_torch, randn(_N, _C), randn(_N, _C)),
    row(
        "cosine_similarity-axis0",
        lambda t, p: losses.cosine_similarity(t, p, axis=0),
        lambda t, p: _cosine_torch(t, p, dim=0),
        randn(_N, _C),
        randn(_N, _C),
    ),
    row("dice", losses.dice, _dice_torch, uniform(_N, _C, low=0.0, high=1.0), _MASK_PRED),
    row(
        "tversky-axis",
        lambda t, p: losses.tversky(t, p, alpha=0.3, beta=0.7, axis=1),
        lambda t, p: _tversky_torch(t, p, 0.3, 0.7, dim=1),
        uniform(_N, _C, low=0.0, high=1.0),
        _MASK_PRED,
    ),
    row(
        "binary_focal_crossentropy",
        lambda p: losses.binary_focal_crossentropy(_BITS, p),
        lambda p: _binary_focal_probabilities_torch(torch.as_tensor(_BITS, dtype=p.dtype), p),
        _MASK_PRED,
    ),
    row(
        "binary_focal_crossentropy-from_logits",
        lambda t, z: losses.binary_focal_crossentropy(t, z, from_logits=True, gamma=1.5),
        lambda t, z: _binary_focal_torch(t, z, gamma=1.5),
        uniform(_N, _C, low=0.0, high=1.0),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "categorical_focal_crossentropy",
        losses.categorical_focal_crossentropy,
        _categorical_focal_torch,
        _probabilities(_N, _C),
        _probabilities(_N, _C),
    ),
    row(
        "categorical_focal_crossentropy-from_logits",
        lambda t, z: losses.categorical_focal_crossentropy(t, z, from_logits=True, gamma=3.0),
        lambda t, z: _categorical_focal_logits_torch(t, z, gamma=3.0),
        _probabilities(_N, _C),
        randn(_N, _C, scale=2.0),
    ),
    row(
        "mean_absolute_percentage_error",
        losses.mean_absolute_percentage_error,
        _mape_torch,
        _Y,
        _Y + away_from(randn(_N, _C)),
    ),
    row(
        "mean_squared_logarithmic_error",
        losses.mean_squared_logarithmic_error,
        _msle_torch,
        positive(_N, _C),
        positive(_N, _C),
    ),
    row(
        "categorical_generalized_cross_entropy",
        lambda p: losses.categorical_generalized_cross_entropy(_LOSS_LABELS, p, q=0.4),
        lambda p: _gce_torch(torch.as_tensor(_LOSS_LABELS), p),
        _probabilities(_N, _C),
    ),
]

# ---------------------------------------------------------------- the op table

# a layer row passes its weights as inputs and converts their layout on the torch side;
# optimizer steps have their own tests (test_optimizers.py)
OPS = (
    ARITHMETIC
    + LINEAR_ALGEBRA
    + REDUCTIONS
    + SHAPE
    + ACTIVATIONS
    + CROSS_ENTROPIES
    + LOSSES
    + MORE_LOSSES
    + LAYERS
)
DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


def _sum_magnitudes(r: Row, wrt, weights) -> list:
    """For a ``sums`` row: the torch side in float64 at absolute inputs and weighting R.

    For sums of products that is, per output and gradient element, the sum of the absolute
    values of its terms: the scale its rounding error is relative to.
    """
    inputs = [
        torch.tensor(np.abs(x), dtype=torch.float64, requires_grad=i in wrt)
        for i, x in enumerate(r.inputs)
    ]
    out = r.theirs(*inputs)
    out.backward(torch.tensor(np.abs(weights), dtype=torch.float64))
    return [out.detach().numpy()] + [inputs[i].grad.numpy() for i in wrt]


def assert_parity(r: Row, dtype) -> None:
    """Run both sides of ``r`` in ``dtype``; compare outputs and input gradients.

    Elementwise rows get ``TOLERANCES``. A ``sums`` row gets the rounding of its sums
    (``tolerance.assert_sums_close``): no element sums more terms than the largest array
    involved holds, and their absolute sizes come from ``_sum_magnitudes``.
    """
    rtol, atol = TOLERANCES[dtype]
    atol += r.atol
    wrt = range(len(r.inputs)) if r.wrt is None else r.wrt
    ours = [
        Tensor(np.asarray(x, dtype=dtype), requires_grad=i in wrt) for i, x in enumerate(r.inputs)
    ]
    theirs = [
        torch.tensor(np.asarray(x, dtype=dtype), requires_grad=i in wrt)
        for i, x in enumerate(r.inputs)
    ]
    out = r.ours(*ours)
    expected = r.theirs(*theirs)
    assert out.dtype == dtype
    weights = np.random.default_rng(99).standard_normal(out.shape).astype(dtype)
    out.backward(weights)
    expected.backward(torch.from_numpy(weights))
    for i in wrt:
        assert ours[i].grad.dtype == dtype, f"{r.id}: gradient of input {i} is {ours[i].grad.dtype}"
    got = [out.data] + [ours[i].grad for i in wrt]
    want = [expected.detach().numpy()] + [theirs[i].grad.numpy() for i in wrt]
    what = ["forward"] + [f"gradient of input {i}" for i in wrt]
    if r.sums:
        fan_in = max([np.size(x) for x in r.inputs] + [out.size])
        magnitudes = _sum_magnitudes(r, wrt, weights)
        for g, w, m, name in zip(got, want, magnitudes, what, strict=True):
            assert_sums_close(g, w, fan_in=fan_in, magnitude=m, err_msg=f"{r.id}: {name}")
        return
    for g, w, name in zip(got, want, what, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{r.id}: {name}")


def test_row_ids_are_unique():
    ids = [r.id for r in OPS]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_registered_activation_has_a_torch_row():
    assert set(registered_names("activation")) <= set(TORCH_ACTIVATIONS)


def test_every_registered_loss_has_rows():
    # each loss function by its name, each Loss class by "loss-<ClassName>-..."
    ids = [r.id for r in OPS]
    for name in registered_names("loss"):
        obj = losses.get(name)
        fn_name = obj.fn.__name__
        cls_name = type(obj).__name__
        assert any(i.startswith(fn_name) for i in ids), f"no row for {fn_name}"
        assert any(i.startswith(f"loss-{cls_name}") for i in ids), f"no row for {cls_name}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r", OPS, ids=[r.id for r in OPS])
def test_op_parity(r: Row, dtype):
    assert_parity(r, dtype)
