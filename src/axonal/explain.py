"""Attributions: how much each input value contributed to a model's output (``axonal.explain``).

Every gradient method takes a batch and returns arrays of the input's shape, one attribution per
input value. What is attributed is the model's output for one class per row: by default the
class the model predicts, or ``target`` (an int, or one int per row). The attributed quantity is
what the model outputs (the softmax probability when the last layer applies softmax, the Captum
convention); ``output='logit'`` attributes the score before the final softmax or sigmoid
instead. A single-output model (regression, or one sigmoid unit) attributes that output.

The model runs in inference mode (dropout off, batch normalization on its moving statistics)
and none of its weights, gradients or statistics change.

Example:
    >>> from axonal import explain
    >>> heat = explain.saliency(model, x_test[:8])
    >>> attributions, gap = explain.integrated_gradients(model, x_test[:8], steps=100)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from axonal import autograd
from axonal import data as data_utils
from axonal.backend import make_rng, xp
from axonal.models.model import Model
from axonal.tensor import Tensor

__all__ = [
    "IntegratedGradientsResult",
    "PermutationImportance",
    "gradient_x_input",
    "integrated_gradients",
    "permutation_importance",
    "saliency",
    "smoothgrad",
]

METHODS = ("riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle", "gausslegendre")
OUTPUTS = ("model", "logit")
# model inputs per forward/backward pass unless told otherwise: bounds the memory of a pass
_DEFAULT_CHUNK = 1024
# metrics where a smaller value is better: importance is the increase they suffer
_ERROR_METRICS = {
    "mse": "mse",
    "mean_squared_error": "mse",
    "mae": "mae",
    "mean_absolute_error": "mae",
    "loss": "loss",
}


class IntegratedGradientsResult(NamedTuple):
    """What ``integrated_gradients`` returns; unpacks as ``attributions, gap``.

    Attributes:
        attributions: an array of the input's shape (a list of arrays for a model with several
            inputs).
        gap: the completeness gap per row, ``(samples,)``: the sum of the row's attributions
            minus ``f(x) - f(baseline)``. Integrated gradients add up to that difference
            exactly in the limit of many steps, so ``|gap|`` measures the integration error.
    """

    attributions: Any
    gap: Any


class PermutationImportance(NamedTuple):
    """What ``permutation_importance`` returns (scikit-learn's names).

    Attributes:
        importances_mean: ``(features,)`` mean importance of each feature over the repeats.
        importances_std: ``(features,)`` their standard deviation.
        importances: ``(features, repeats)`` every repeat's importance.
        baseline_score: the metric on the unshuffled data.
    """

    importances_mean: Any
    importances_std: Any
    importances: Any
    baseline_score: float


# ---------------------------------------------------------------- public functions


def saliency(
    model: Model,
    x,
    target=None,
    output: str = "model",
    internal_batch_size: int = _DEFAULT_CHUNK,
):
    """Gradient of the chosen output with respect to each input value (signed).

    Args:
        model: a built or buildable ``Model`` (Sequential, functional or subclassed) with one
            output of shape ``(samples, classes)`` or ``(samples,)``.
        x: a batch, ``(samples, *input_shape)`` (a list or dict of arrays for several inputs).
        target: the class whose output is attributed: None (each row's predicted class), an
            int, or one int per row.
        output: ``'model'`` (what the model outputs) or ``'logit'`` (the score before a final
            softmax or sigmoid).
        internal_batch_size: rows per forward/backward pass.

    Returns:
        An array of ``x``'s shape (a list of arrays for several inputs), in the model's dtype.

    Example:
        >>> grads = saliency(model, x_test[:4])          # predicted class of each row
        >>> grads = saliency(model, x_test[:4], target=3)
    """
    xs, single = _prepare_inputs(model, x, "saliency")
    _check_output(output)
    chunk = data_utils.check_positive_int(internal_batch_size, "internal_batch_size")
    targets = _target_array(target, len(xs[0]))
    grads = _row_gradients(model, xs, targets, output, chunk)
    return _structure(grads, single)


def gradient_x_input(
    model: Model,
    x,
    target=None,
    output: str = "model",
    internal_batch_size: int = _DEFAULT_CHUNK,
):
    """Gradient times input: each value's first-order contribution relative to zero.

    Takes the arguments of ``saliency`` and returns ``x * saliency(model, x, target)``.

    Example:
        >>> contributions = gradient_x_input(model, x_test[:4])
    """
    xs, single = _prepare_inputs(model, x, "gradient_x_input")
    _check_output(output)
    chunk = data_utils.check_positive_int(internal_batch_size, "internal_batch_size")
    targets = _target_array(target, len(xs[0]))
    grads = _row_gradients(model, xs, targets, output, chunk)
    return _structure([g * a for g, a in zip(grads, xs, strict=True)], single)


def integrated_gradients(
    model: Model,
    x,
    target=None,
    baseline=None,
    steps: int = 50,
    method: str = "riemann_trapezoid",
    output: str = "model",
    internal_batch_size: int = _DEFAULT_CHUNK,
) -> IntegratedGradientsResult:
    """Integrated gradients (Sundararajan et al., 2017) along the straight path from a baseline.

    ``(x - baseline) * mean of the gradients at baseline + a (x - baseline)`` for ``a`` from 0
    to 1, the mean taken by the quadrature ``method`` on ``steps`` points. All the path points of
    all rows are evaluated together, ``internal_batch_size`` model inputs per forward/backward
    pass, so the cost is ``ceil(samples * steps / internal_batch_size)`` passes (plus two
    forward passes for ``f(x)`` and ``f(baseline)``), not one call per step.

    Args:
        model: as for ``saliency``.
        x: a batch, ``(samples, *input_shape)`` (a list or dict of arrays for several inputs).
        target: None (each row's predicted class at ``x``), an int, or one int per row.
        baseline: the reference input: None (zeros), a number, one sample of the input's shape
            (used for every row), or an array of ``x``'s shape (a list for several inputs).
        steps: quadrature points along the path (at least 1; at least 2 for
            ``riemann_trapezoid``).
        method: ``'riemann_trapezoid'`` (default), ``'riemann_left'``, ``'riemann_right'``,
            ``'riemann_middle'`` or ``'gausslegendre'``, as in Captum.
        output: ``'model'`` or ``'logit'``, as for ``saliency``.
        internal_batch_size: model inputs per forward/backward pass (bounds the memory).

    Returns:
        ``IntegratedGradientsResult(attributions, gap)``: attributions of ``x``'s shape, and the
        completeness gap per row, ``sum(attributions) - (f(x) - f(baseline))``.

    Example:
        >>> attributions, gap = integrated_gradients(model, x_test[:8], steps=100)
        >>> abs(gap).max()  # small: the attributions add up to f(x) - f(baseline)
    """
    xs, single = _prepare_inputs(model, x, "integrated_gradients")
    _check_output(output)
    steps = data_utils.check_positive_int(steps, "steps")
    alphas, weights = path_points(method, steps, xs[0].dtype)
    chunk = data_utils.check_positive_int(internal_batch_size, "internal_batch_size")
    baselines = _prepare_baseline(model, baseline, xs, single)

    at_x = _forward_scores(model, xs, output, chunk)
    targets = _resolve_target(target, at_x)
    at_baseline = _forward_scores(model, baselines, output, chunk)
    rows = xp.arange(len(targets))
    difference = at_x[rows, targets] - at_baseline[rows, targets]

    deltas = [a - b for a, b in zip(xs, baselines, strict=True)]

    def point_inputs(row_block: slice, alpha_block: slice) -> list:
        # inputs of row r, path point s at index r * len(alpha_block) + s
        chosen = alphas[alpha_block]
        points = []
        for base, delta in zip(baselines, deltas, strict=True):
            shape = (1, len(chosen)) + (1,) * (delta.ndim - 1)
            batch = base[row_block, None] + chosen.reshape(shape) * delta[row_block, None]
            points.append(batch.reshape((-1,) + delta.shape[1:]))
        return points

    mean_grads = _integrate(model, targets, output, chunk, point_inputs, weights)
    attributions = [d * g for d, g in zip(deltas, mean_grads, strict=True)]
    total = sum(a.reshape(len(a), -1).sum(axis=1) for a in attributions)
    gap = (total - difference).astype(xs[0].dtype, copy=False)
    return IntegratedGradientsResult(_structure(attributions, single), gap)


def smoothgrad(
    model: Model,
    x,
    target=None,
    samples: int = 25,
    noise: float = 0.1,
    seed: int | None = None,
    output: str = "model",
    internal_batch_size: int = _DEFAULT_CHUNK,
):
    """SmoothGrad (Smilkov et al., 2017): the saliency averaged over noisy copies of each row.

    Each row gets ``samples`` copies with Gaussian noise of standard deviation ``noise`` times
    the row's value range (max - min; ``noise`` itself for a constant row), as in the paper.
    The target is chosen at the clean input.

    Args:
        model, x, target, output, internal_batch_size: as for ``saliency``.
        samples: noisy copies per row (at least 1).
        noise: the noise level, a fraction of each row's range (>= 0).
        seed: seeds the noise; None uses axonal's generator (``utils.set_random_seed``).

    Returns:
        An array of ``x``'s shape (a list of arrays for several inputs).

    Example:
        >>> smooth = smoothgrad(model, x_test[:4], samples=50, noise=0.15, seed=0)
    """
    xs, single = _prepare_inputs(model, x, "smoothgrad")
    _check_output(output)
    samples = data_utils.check_positive_int(samples, "samples")
    noise = _non_negative_number(noise, "noise")
    chunk = data_utils.check_positive_int(internal_batch_size, "internal_batch_size")
    generator = make_rng(seed)

    targets = _resolve_target(target, _forward_scores(model, xs, output, chunk))
    scales = []
    for a in xs:
        flat = a.reshape(len(a), -1)
        spread = flat.max(axis=1) - flat.min(axis=1) if flat.shape[1] else xp.zeros(len(a))
        scales.append(noise * xp.where(spread > 0, spread, 1.0).astype(a.dtype))
    # the noise for every (row, copy), drawn once so the result does not depend on chunking
    noises = [
        generator.standard_normal((len(a), samples) + a.shape[1:]).astype(a.dtype) for a in xs
    ]

    def point_inputs(row_block: slice, copy_block: slice) -> list:
        points = []
        for a, scale, drawn in zip(xs, scales, noises, strict=True):
            scale = scale[row_block].reshape((-1, 1) + (1,) * (a.ndim - 1))
            batch = a[row_block, None] + scale * drawn[row_block, copy_block]
            points.append(batch.reshape((-1,) + a.shape[1:]))
        return points

    weights = xp.full(samples, 1.0 / samples, dtype=xs[0].dtype)
    return _structure(_integrate(model, targets, output, chunk, point_inputs, weights), single)


def permutation_importance(
    model: Model,
    x,
    y,
    metric: str | Callable = "accuracy",
    repeats: int = 5,
    seed: int | None = None,
) -> PermutationImportance:
    """How much worse the model gets when one feature's column is shuffled (tabular models).

    For each feature, the column is shuffled ``repeats`` times (breaking its link with the
    target while keeping its distribution) and the metric recomputed. The importance is the
    damage: ``baseline - shuffled`` for a score (accuracy, a callable), ``shuffled - baseline``
    for an error (mse, mae, the model's loss), so it is positive for a feature the model uses
    and 0 for one it ignores.

    Args:
        model: a model taking one 2-D input ``(samples, features)``.
        x: ``(samples, features)``.
        y: the targets, as ``fit`` takes them.
        metric: ``'accuracy'`` (class labels or one-hot ``y``; one sigmoid output is cut at
            0.5), ``'mse'``, ``'mae'``, ``'loss'`` (the compiled loss), or a function
            ``score(y_true, y_pred) -> float`` where higher is better.
        repeats: shuffles per feature (at least 1).
        seed: seeds the shuffles; None uses axonal's generator.

    Returns:
        ``PermutationImportance(importances_mean, importances_std, importances,
        baseline_score)``.

    Example:
        >>> result = permutation_importance(model, x_test, y_test, repeats=10, seed=0)
        >>> result.importances_mean.argsort()[::-1]  # most important feature first
    """
    xs, _ = _prepare_inputs(model, x, "permutation_importance", need_float=False)
    if len(xs) != 1 or xs[0].ndim != 2:
        shapes = ", ".join(str(a.shape) for a in xs)
        raise ValueError(
            "permutation_importance works on tabular models with one input of shape (samples, "
            f"features); got x of shape {shapes}."
        )
    table = xs[0]
    repeats = data_utils.check_positive_int(repeats, "repeats")
    score, error_metric = _scorer(model, metric, table, y)
    generator = make_rng(seed)

    baseline_score = score(table)
    n, features = table.shape
    importances = xp.zeros((features, repeats))
    for feature in range(features):
        shuffled = table.copy()
        for repeat in range(repeats):
            shuffled[:, feature] = table[generator.permutation(n), feature]
            value = score(shuffled)
            damage = value - baseline_score if error_metric else baseline_score - value
            importances[feature, repeat] = damage
    return PermutationImportance(
        importances.mean(axis=1), importances.std(axis=1), importances, float(baseline_score)
    )


def path_points(method: str, steps: int, dtype="float64") -> tuple:
    """The points ``a`` in [0, 1] and weights of a quadrature of a function over [0, 1].

    Args:
        method: one of ``METHODS``.
        steps: number of points.
        dtype: dtype of the returned arrays.

    Returns:
        ``(alphas, weights)``, each ``(steps,)``; the weights sum to 1.

    Example:
        >>> path_points("riemann_trapezoid", 3)
        (array([0. , 0.5, 1. ]), array([0.25, 0.5 , 0.25]))
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    steps = data_utils.check_positive_int(steps, "steps")
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError(
                f"steps must be at least 2 for method='riemann_trapezoid' (both ends of the "
                f"path); got {steps}."
            )
        alphas = xp.linspace(0.0, 1.0, steps)
        weights = xp.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
    elif method == "gausslegendre":
        nodes, node_weights = xp.polynomial.legendre.leggauss(steps)
        # from [-1, 1] to [0, 1]
        alphas, weights = (nodes + 1) / 2, node_weights / 2
    else:
        offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
        alphas = (xp.arange(steps) + offset) / steps
        weights = xp.full(steps, 1.0 / steps)
    return alphas.astype(dtype), weights.astype(dtype)


# ---------------------------------------------------------------- inputs and targets


def _prepare_inputs(model, x, caller: str, need_float: bool = True) -> tuple[list, bool]:
    """The batch as a list of arrays in the model's dtype (validated), and whether it is one."""
    if not isinstance(model, Model):
        raise TypeError(
            f"{caller}() explains an axonal Model (Sequential, functional or subclassed); got "
            f"{type(model).__name__}."
        )
    xs = model.prepare_inputs(x)
    if len(xs[0]) == 0:
        raise ValueError(f"{caller}() got x with no samples (shape {xs[0].shape}).")
    if need_float:
        for name, a in zip(_input_labels(model, len(xs)), xs, strict=True):
            if a.dtype.kind != "f":
                raise ValueError(
                    f"{caller}() differentiates with respect to the inputs, but {name} holds "
                    f"integers ({a.dtype}, e.g. token ids), which have no gradient; explain a "
                    "model on float inputs."
                )
    return xs, len(xs) == 1


def _input_labels(model, count: int) -> list[str]:
    if count == 1:
        return ["x"]
    return [f"x['{name}']" for name in model.input_names]


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output must be 'model' or 'logit'; got {output!r}.")


def _non_negative_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)):
        raise ValueError(f"{name} must be a number >= 0; got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    return float(value)


def _prepare_baseline(model, baseline, xs: list, single: bool) -> list:
    """One baseline array of each input's full shape and dtype."""
    if baseline is None:
        return [xp.zeros_like(a) for a in xs]
    if isinstance(baseline, (int, float, xp.number)) and not isinstance(baseline, bool):
        return [xp.full_like(a, baseline) for a in xs]
    if single:
        values = [baseline]
    elif isinstance(baseline, dict):
        missing = [name for name in model.input_names if name not in baseline]
        if missing:
            raise ValueError(f"baseline is missing inputs {missing}.")
        values = [baseline[name] for name in model.input_names]
    elif isinstance(baseline, (list, tuple)) and len(baseline) == len(xs):
        values = list(baseline)
    else:
        raise ValueError(
            f"baseline must be None, a number, or a list of {len(xs)} arrays (one per input) for "
            f"a model with {len(xs)} inputs; got {type(baseline).__name__}."
        )
    out = []
    for name, value, a in zip(_input_labels(model, len(xs)), values, xs, strict=True):
        label = "baseline" if single else f"baseline for {name}"
        array = data_utils.to_array(value, label).astype(a.dtype, copy=False)
        if array.shape == a.shape[1:]:
            array = xp.broadcast_to(array, a.shape)
        elif array.shape != a.shape:
            raise ValueError(
                f"{label} must have the shape of one sample {a.shape[1:]} or of {name} "
                f"{a.shape}; got {array.shape}."
            )
        data_utils.check_finite(array, label)
        out.append(array)
    return out


def _target_array(target, n: int):
    """``target`` as one int64 class index per row (range unchecked), or None."""
    if target is None:
        return None
    if isinstance(target, bool):
        raise ValueError(f"target must be an int, one int per row or None; got {target!r}.")
    if isinstance(target, (int, xp.integer)):
        return xp.full(n, int(target), dtype=xp.int64)
    targets = xp.asarray(target)
    if targets.ndim != 1 or len(targets) != n:
        raise ValueError(
            f"target must be an int or one int per row ({n} rows); got an array of shape "
            f"{targets.shape}."
        )
    if targets.dtype.kind not in "iu":
        raise ValueError(f"target must hold integers; got an array of dtype {targets.dtype}.")
    return targets.astype(xp.int64)


def _check_target_range(targets, classes: int) -> None:
    bad = xp.flatnonzero((targets < 0) | (targets >= classes))
    if bad.size:
        row = int(bad[0])
        expected = f"a class index in [0, {classes - 1}]" if classes > 1 else "0 (the only output)"
        raise ValueError(
            f"target {int(targets[row])} (row {row}) is out of range: expected {expected} for "
            f"a model with {classes} output{'s' if classes != 1 else ''}."
        )


def _resolve_target(target, scores):
    """One class index per row: each row's argmax for None, else the checked ``target``."""
    n, classes = scores.shape
    targets = _target_array(target, n)
    if targets is None:
        return scores.argmax(axis=1) if classes > 1 else xp.zeros(n, dtype=xp.int64)
    _check_target_range(targets, classes)
    return targets


# ---------------------------------------------------------------- the passes


@contextlib.contextmanager
def _weights_frozen(model) -> Iterator[None]:
    """No weight takes part in the graph: only input gradients are computed, none is stored."""
    variables = model.weights
    previous = [v.requires_grad for v in variables]
    for v in variables:
        v.requires_grad = False
    try:
        yield
    finally:
        for v, flag in zip(variables, previous, strict=True):
            v.requires_grad = flag


def _scores_tensor(model, inputs: list, output: str) -> Tensor:
    """The model's output for ``inputs`` as a ``(rows, classes)`` Tensor."""
    outs = model.compute_outputs(inputs, training=False)
    if len(outs) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(outs)} outputs; attributions are computed for a "
            "single-output model (build a Model on the output you want to explain)."
        )
    out = outs[0]
    if output == "logit":
        origin = getattr(out, "_logits", None)
        if origin is None:
            raise ValueError(
                "output='logit' attributes the score before a final softmax or sigmoid, but "
                f"model '{model.name}' does not end with one; use output='model'."
            )
        out = origin[1]
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    elif out.ndim != 2:
        raise ValueError(
            f"Model '{model.name}' outputs shape {out.shape}; attributions need an output of "
            "shape (samples, classes) or (samples,)."
        )
    return out


def _forward_scores(model, xs: list, output: str, chunk: int):
    """``(rows, classes)`` outputs for ``xs``, without a graph."""
    parts = []
    with autograd.no_grad():
        for part in data_utils.batch_slices(len(xs[0]), chunk):
            parts.append(_scores_tensor(model, [a[part] for a in xs], output).data)
    return xp.concatenate(parts) if len(parts) > 1 else parts[0]


def _gradients(model, inputs: list, targets, output: str) -> tuple[list, Any]:
    """Gradients of each row's target output with respect to ``inputs``; and the targets used.

    ``targets`` None picks each row's predicted class from this very pass.
    """
    tensors = [Tensor(a, requires_grad=True) for a in inputs]
    with autograd.enable_grad(), _weights_frozen(model):
        scores = _scores_tensor(model, tensors, output)
        if targets is None:
            targets = _resolve_target(None, scores.data)
        else:
            _check_target_range(targets, scores.shape[1])
        seed = xp.zeros(scores.shape, dtype=scores.dtype)
        seed[xp.arange(len(targets)), targets] = 1
        if scores.requires_grad:
            scores.backward(seed)
    grads = [
        xp.zeros_like(a) if t.grad is None else t.grad for a, t in zip(inputs, tensors, strict=True)
    ]
    return grads, targets


def _row_gradients(model, xs: list, targets, output: str, chunk: int) -> list:
    """Gradients for every row, ``chunk`` rows per pass."""
    n = len(xs[0])
    grads = [xp.empty_like(a) for a in xs]
    for part in data_utils.batch_slices(n, chunk):
        part_targets = None if targets is None else targets[part]
        part_grads, _ = _gradients(model, [a[part] for a in xs], part_targets, output)
        for out, g in zip(grads, part_grads, strict=True):
            out[part] = g
    return grads


def _integrate(model, targets, output: str, chunk: int, point_inputs, weights) -> list:
    """``sum_s weights[s] * gradient at point s of row r``, for every row, batched.

    ``point_inputs(row_block, point_block)`` gives the model inputs of those rows' points,
    row-major; rows and points are grouped so that each pass holds at most ``chunk`` inputs.
    """
    n = len(targets)
    points = len(weights)
    rows_per_pass = max(1, chunk // points)
    points_per_pass = min(points, chunk)
    totals = None
    for row_start in range(0, n, rows_per_pass):
        rows = slice(row_start, min(n, row_start + rows_per_pass))
        count = rows.stop - rows.start
        for point_start in range(0, points, points_per_pass):
            block = slice(point_start, min(points, point_start + points_per_pass))
            width = block.stop - block.start
            inputs = point_inputs(rows, block)
            block_targets = xp.repeat(targets[rows], width)
            grads, _ = _gradients(model, inputs, block_targets, output)
            if totals is None:
                totals = [xp.zeros((n,) + g.shape[1:], dtype=g.dtype) for g in grads]
            for total, g in zip(totals, grads, strict=True):
                per_row = g.reshape((count, width) + g.shape[1:])
                total[rows] += xp.tensordot(weights[block], per_row, axes=([0], [1]))
    return totals


def _structure(arrays: list, single: bool):
    return arrays[0] if single else arrays


# ---------------------------------------------------------------- permutation importance


def _scorer(model, metric, table, y) -> tuple[Callable, bool]:
    """``score(x) -> float`` on the given targets, and whether lower scores are better."""
    if callable(metric):

        def score_callable(x):
            return float(metric(y_true, _predict(model, x)))

        y_true = data_utils.to_array(y, "y")
        data_utils.check_lengths({"x": table, "y": y_true})
        return score_callable, False
    if not isinstance(metric, str) or (metric != "accuracy" and metric not in _ERROR_METRICS):
        known = ", ".join(["accuracy", *_ERROR_METRICS])
        raise ValueError(f"metric must be a function or one of {known}; got {metric!r}.")
    kind = _ERROR_METRICS.get(metric, "accuracy")
    if kind == "loss":
        if not getattr(model, "compiled", False):
            raise ValueError("metric='loss' needs a compiled model (its loss); call compile().")
        # validate once, up front; evaluate() re-validates per call
        model.prepare_batch(table, y)

        def score_loss(x):
            logs = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
            return float(logs["loss"])

        return score_loss, True
    y_true = data_utils.to_array(y, "y")
    data_utils.check_finite(y_true, "y")
    data_utils.check_lengths({"x": table, "y": y_true})
    if kind == "accuracy":
        labels = _labels(y_true)

        def score_accuracy(x):
            return float(xp.mean(_predicted_labels(_predict(model, x)) == labels))

        return score_accuracy, False

    def score_error(x):
        pred = _predict(model, x)
        target = y_true.reshape(pred.shape) if y_true.size == pred.size else None
        if target is None:
            raise ValueError(
                f"metric={metric!r} compares y with the output value by value, but y has shape "
                f"{y_true.shape} and the model outputs {pred.shape}."
            )
        difference = pred.astype(xp.float64) - target
        return float(xp.mean(difference**2 if kind == "mse" else xp.abs(difference)))

    return score_error, True


def _predict(model, x):
    out = model.predict(x, batch_size=max(32, min(len(x), 4096)), verbose=0)
    if isinstance(out, list):
        raise ValueError("permutation_importance needs a model with a single output.")
    return out


def _labels(y):
    """Class labels from integer labels ``(n,)``/``(n, 1)`` or one-hot ``(n, classes)``."""
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    return y.reshape(len(y))


def _predicted_labels(pred):
    if pred.ndim == 2 and pred.shape[1] > 1:
        return pred.argmax(axis=1)
    # one output: a sigmoid probability, cut at 0.5
    return (pred.reshape(len(pred)) > 0.5).astype(xp.int64)
