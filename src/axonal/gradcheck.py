"""Check a model's, a layer's or a function's gradients against central differences.

``check_gradients`` (also ``axonal.utils.check_gradients``) is for people writing custom layers
or primitives: it computes the gradients with the autodiff engine, then estimates each one as
``(L(w + eps) - L(w - eps)) / (2 eps)`` by perturbing one entry at a time, and reports the worst
relative error per weight (and per input). Everything runs on a float64 copy of the weights by
default; the user's model is left exactly as it was.

Example:
    >>> report = check_gradients(MyLayer(4), numpy.random.rand(3, 5))
    >>> report.assert_ok()
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from axonal import autograd
from axonal.backend import standardize_dtype, xp
from axonal.layers.base import Layer
from axonal.tensor import Tensor

__all__ = ["GradientCheck", "GradientReport", "check_gradients"]

_DEFAULT_EPS = {"float64": 1e-6, "float32": 1e-3}
_DEFAULT_RTOL = {"float64": 1e-4, "float32": 5e-2}
# central differences cannot resolve a gradient below about eps_machine * |L| / eps (the
# rounding of L); this many times that is the smallest magnitude compared in relative terms
_RESOLUTION_FACTOR = 10.0


class GradientCheck(NamedTuple):
    """The comparison for one weight (or input).

    Attributes:
        name: the weight's path (``dense/kernel``) or the input's name.
        shape: its shape.
        checked: how many entries were compared (all, or ``max_entries`` drawn at random).
        max_abs_error: the largest ``|analytic - numeric|``.
        max_rel_error: the largest relative error (see ``check_gradients``).
        worst_index: the entry with the largest relative error.
        analytic: the engine's gradient at that entry.
        numeric: the central difference there.
        reached: whether backward produced a gradient at all (False: treated as zeros).
    """

    name: str
    shape: tuple
    checked: int
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    reached: bool


class GradientReport:
    """What ``check_gradients`` returns: one ``GradientCheck`` per weight and input.

    Attributes:
        checks: the comparisons, weights first (model order), then inputs.
        rtol: the tolerance on the relative error.
        loss: the value of the checked objective at the unperturbed point.

    Example:
        >>> report = check_gradients(model, x)
        >>> report.passed, report.errors["dense/kernel"]
        >>> print(report)
    """

    def __init__(self, checks: list[GradientCheck], rtol: float, loss: float):
        self.checks = list(checks)
        self.rtol = rtol
        self.loss = loss

    @property
    def errors(self) -> dict[str, float]:
        """``{name: worst relative error}``."""
        return {check.name: check.max_rel_error for check in self.checks}

    @property
    def failed(self) -> list[GradientCheck]:
        """The checks whose worst relative error exceeds ``rtol``."""
        return [c for c in self.checks if not c.max_rel_error <= self.rtol]

    @property
    def passed(self) -> bool:
        """Whether every checked gradient matches within ``rtol``."""
        return not self.failed

    @property
    def worst(self) -> GradientCheck | None:
        """The check with the largest relative error (None when nothing was checked)."""
        if not self.checks:
            return None
        return max(self.checks, key=lambda c: _sort_key(c.max_rel_error))

    def assert_ok(self) -> None:
        """Raise ``AssertionError`` with the table when any gradient is off."""
        if not self.passed:
            names = ", ".join(c.name for c in self.failed)
            raise AssertionError(f"gradients differ from central differences for {names}.\n{self}")

    def __str__(self) -> str:
        header = ("gradient of", "shape", "checked", "max rel error", "worst entry")
        rows = [header]
        for c in self.checks:
            flag = "" if c.max_rel_error <= self.rtol else "  <-- FAIL"
            where = (
                f"{c.worst_index}: {c.analytic:.6g} vs {c.numeric:.6g}"
                if c.reached
                else "no gradient reached it"
            )
            rows.append(
                (c.name, str(c.shape), str(c.checked), f"{c.max_rel_error:.2e}", where + flag)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
            + "  "
            + row[4]
            for row in rows
        ]
        verdict = "passed" if self.passed else "FAILED"
        lines.append(f"{verdict}: relative error tolerance {self.rtol:g} (analytic vs numeric)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        worst = self.worst
        detail = f", worst {worst.name} {worst.max_rel_error:.2e}" if worst else ""
        return f"<GradientReport passed={self.passed}, {len(self.checks)} checks{detail}>"


def check_gradients(
    model: Layer | Callable,
    x,
    y=None,
    *,
    eps: float | None = None,
    rtol: float | None = None,
    dtype: str = "float64",
    max_entries: int | None = 50,
    check_inputs: bool = True,
    training: bool = False,
    seed: int = 0,
) -> GradientReport:
    """Compare autodiff gradients with central differences, weight by weight.

    The objective ``L`` is the compiled loss on ``(x, y)`` when ``y`` is given (a compiled
    Model only), else ``sum(output * R)`` with ``R`` a fixed random array of the output's shape,
    so every output element counts with its own weight. The engine's ``dL/dw`` is compared with
    ``(L(w + eps) - L(w - eps)) / (2 eps)`` for every trainable weight and, with
    ``check_inputs``, for each float input. The relative error of an entry is
    ``|analytic - numeric| / max(|analytic|, |numeric|, floor)``, where ``floor`` is the smallest
    gradient central differences resolve to ``rtol`` (about ``10 * machine_eps * max(|L|, 1) /
    (eps * rtol)``), so near-zero gradients are not judged on rounding noise.

    The check runs on a ``dtype`` copy of the weights (float64 by default) and restores the
    original arrays afterwards, even on error: weights, their dtype, gradients and statistics
    are unchanged. A gradient through a kink (ReLU at 0, a max-pooling tie) may legitimately
    differ, and layers that draw random numbers (Dropout) must run with ``training=False``.

    Args:
        model: a ``Model`` or ``Layer`` (built on ``x`` if needed), or a function that takes
            one Tensor per input and returns a Tensor (or a list of Tensors).
        x: the input batch (a list of arrays for several inputs).
        y: targets; the loss of a compiled model is checked instead of the projection.
        eps: the central-difference step (default 1e-6 for float64, 1e-3 for float32).
        rtol: the tolerance on the worst relative error (default 1e-4; 5e-2 for float32, whose
            central differences are a rough check at best).
        dtype: the float type the check runs in: ``'float64'`` (default) or ``'float32'``.
        max_entries: entries checked per weight or input; larger arrays get a random subset of
            this size (None: all entries; two forward passes per entry).
        check_inputs: also check the gradient with respect to the float inputs.
        training: run layers in training mode (batch statistics; keep Dropout out).
        seed: seeds the projection ``R`` and the choice of entries.

    Returns:
        A ``GradientReport``: ``.errors`` (worst relative error per name), ``.passed``,
        ``.assert_ok()``, and a table when printed.

    Example:
        >>> report = check_gradients(Dense(3), numpy.random.rand(4, 5))
        >>> report.assert_ok()
        >>> check_gradients(lambda t: (t * t).sum(axis=1), numpy.random.rand(4, 5)).passed
        True
    """
    dtype = _check_dtype(dtype)
    eps = _DEFAULT_EPS[dtype] if eps is None else _positive_float(eps, "eps")
    rtol = _DEFAULT_RTOL[dtype] if rtol is None else _positive_float(rtol, "rtol")
    if max_entries is not None and (
        isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
    ):
        raise ValueError(f"max_entries must be a positive integer or None; got {max_entries!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    generator = xp.random.default_rng(seed)

    if isinstance(model, Layer):
        subject = _LayerSubject(model, x, y, training)
    elif callable(model):
        if y is not None:
            raise ValueError("y is only used with a compiled Model; a function has no loss.")
        subject = _FunctionSubject(model, x)
    else:
        raise TypeError(
            "check_gradients() takes a Model, a Layer or a function of Tensors; got "
            f"{type(model).__name__}."
        )

    with subject.in_dtype(dtype):
        inputs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in subject.inputs]
        projection = None
        if not subject.has_loss:
            with autograd.no_grad():
                outs = subject.outputs([Tensor(a) for a in inputs])
            projection = [generator.standard_normal(o.shape).astype(dtype) for o in outs]

        def objective(arrays: list, grad: bool = False) -> tuple[Tensor, list]:
            tensors = [
                Tensor(a, requires_grad=grad and check_inputs and a.dtype.kind == "f")
                for a in arrays
            ]
            if subject.has_loss:
                value = subject.loss(tensors)
            else:
                outs = subject.outputs(tensors)
                value = None
                for out, weights in zip(outs, projection, strict=True):
                    term = (out * weights).sum()
                    value = term if value is None else value + term
            return value, tensors

        variables = subject.variables()
        with autograd.enable_grad():
            value, tensors = objective(inputs, grad=True)
            if not value.requires_grad:
                raise ValueError(
                    "check_gradients(): the output does not depend on any trainable weight or "
                    "float input, so there is no gradient to check."
                )
            value.backward()
        loss = float(value.data)
        floor = _RESOLUTION_FACTOR * float(xp.finfo(dtype).eps) * max(abs(loss), 1.0) / (eps * rtol)

        def evaluate() -> float:
            with autograd.no_grad():
                return float(objective(inputs)[0].data)

        checks = []
        for variable in variables:
            checks.append(
                _compare(
                    variable.path,
                    variable.data,
                    variable.grad,
                    evaluate,
                    eps,
                    floor,
                    max_entries,
                    generator,
                )
            )
        if check_inputs:
            for name, array, tensor in zip(subject.input_names, inputs, tensors, strict=True):
                if array.dtype.kind == "f":
                    checks.append(
                        _compare(
                            name, array, tensor.grad, evaluate, eps, floor, max_entries, generator
                        )
                    )
    return GradientReport(checks, rtol, loss)


# ---------------------------------------------------------------- what is checked


class _LayerSubject:
    """A Layer or Model: its trainable weights and its inputs, in a temporary dtype."""

    def __init__(self, layer: Layer, x, y, training: bool):
        self.layer = layer
        self.training = training
        is_model = hasattr(layer, "prepare_batch") and hasattr(layer, "compute_outputs")
        if y is not None and not (is_model and getattr(layer, "compiled", False)):
            raise ValueError(
                "check_gradients() uses y with a compiled Model's loss; compile the model, or "
                "leave y out to check sum(output * R)."
            )
        self.is_model = is_model
        self.has_loss = y is not None
        self.x, self.y = x, y
        if is_model:
            # validates x and builds the model in its own dtype, before anything is swapped
            self.inputs = layer.prepare_inputs(x)
            self.input_names = (
                ["input"] if len(self.inputs) == 1 else [f"input '{n}'" for n in layer.input_names]
            )
        else:
            several = isinstance(x, (list, tuple))
            arrays = [xp.asarray(a) for a in (x if several else [x])]
            if not layer.built:
                shapes = [(None,) + a.shape[1:] for a in arrays]
                layer.build_from_shape(shapes if several else shapes[0])
            self.inputs = arrays
            self.several = several
            self.input_names = [f"input[{i}]" for i in range(len(arrays))] if several else ["input"]
        self.targets = None
        self.sample_weights = None

    def variables(self) -> list:
        return [v for v in self.layer.trainable_weights if v.data.dtype.kind == "f"]

    @contextlib.contextmanager
    def in_dtype(self, dtype: str) -> Iterator[None]:
        """Every float weight and layer dtype in ``dtype``; the originals are put back after."""
        layers = self.layer.nested_layers()
        saved_dtypes = [(layer, layer.dtype) for layer in layers]
        saved_weights = []
        try:
            for variable in self.layer.weights:
                saved_weights.append((variable, variable.data, variable.grad, variable.grad_buffer))
                variable.grad = None
                # backward may write into a packed buffer shared with the optimizer: not here
                variable.grad_buffer = None
                if variable.data.dtype.kind == "f":
                    variable.data = variable.data.astype(dtype)
                else:
                    variable.data = variable.data.copy()
            for layer in layers:
                layer.dtype = dtype
            if self.has_loss:
                _, ys, weights = self.layer.prepare_batch(self.x, self.y)
                self.targets, self.sample_weights = ys, weights
            yield
        finally:
            for variable, data, grad, buffer in saved_weights:
                variable.data = data
                variable.grad = grad
                variable.grad_buffer = buffer
            for layer, layer_dtype in saved_dtypes:
                layer.dtype = layer_dtype

    def outputs(self, tensors: list) -> list:
        if self.is_model:
            return self.layer.compute_outputs(tensors, training=self.training)
        out = self.layer(tensors if self.several else tensors[0], training=self.training)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def loss(self, tensors: list) -> Tensor:
        preds = self.outputs(tensors)
        value, _ = self.layer.compute_losses(self.targets, preds, self.sample_weights)
        return value


class _FunctionSubject:
    """A function of Tensors: its inputs are what is checked."""

    has_loss = False

    def __init__(self, fn: Callable, x):
        self.fn = fn
        several = isinstance(x, (list, tuple))
        self.inputs = [xp.asarray(a) for a in (x if several else [x])]
        self.input_names = [f"input[{i}]" for i in range(len(self.inputs))] if several else ["x"]

    def variables(self) -> list:
        return []

    @contextlib.contextmanager
    def in_dtype(self, dtype: str) -> Iterator[None]:
        yield

    def outputs(self, tensors: list) -> list:
        out = self.fn(*tensors)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(
                    f"check_gradients(): the function must return a Tensor (or a list of them); "
                    f"got {type(o).__name__}."
                )
        return outs


# ---------------------------------------------------------------- the comparison


def _compare(
    name: str,
    array,
    grad,
    evaluate: Callable[[], float],
    eps: float,
    floor: float,
    max_entries: int | None,
    generator,
) -> GradientCheck:
    """Perturb entries of ``array`` in place (restoring each) and compare with ``grad``.

    ``array`` must be the very array the objective reads.
    """
    reached = grad is not None
    analytic_all = grad if reached else xp.zeros(array.shape)
    size = array.size
    if max_entries is None or size <= max_entries:
        entries = xp.arange(size)
    else:
        entries = xp.sort(generator.choice(size, max_entries, replace=False))
    numeric = xp.empty(len(entries))
    for k, entry in enumerate(entries):
        # indexed in place, whatever the array's memory layout
        index = xp.unravel_index(int(entry), array.shape)
        original = array[index]
        array[index] = original + eps
        plus = evaluate()
        array[index] = original - eps
        minus = evaluate()
        array[index] = original
        numeric[k] = (plus - minus) / (2 * eps)
    analytic = xp.asarray(analytic_all, dtype=xp.float64).reshape(-1)[entries]
    if not len(entries):
        return GradientCheck(name, tuple(array.shape), 0, 0.0, 0.0, (), 0.0, 0.0, reached)
    difference = xp.abs(analytic - numeric)
    scale = xp.maximum(xp.maximum(xp.abs(analytic), xp.abs(numeric)), floor)
    with xp.errstate(invalid="ignore"):
        relative = difference / scale
    # a non-finite gradient (or estimate) is the worst possible entry
    relative = xp.where(xp.isfinite(relative), relative, xp.inf)
    worst = int(xp.argmax(relative))
    index = tuple(int(i) for i in xp.unravel_index(int(entries[worst]), array.shape))
    return GradientCheck(
        name,
        tuple(array.shape),
        len(entries),
        float(xp.max(xp.where(xp.isfinite(difference), difference, xp.inf))),
        float(relative[worst]),
        index,
        float(analytic[worst]),
        float(numeric[worst]),
        reached,
    )


def _sort_key(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _check_dtype(dtype) -> str:
    try:
        name = standardize_dtype(dtype)
    except (TypeError, ValueError):
        name = None
    if name not in _DEFAULT_EPS:
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {dtype!r}.")
    return name


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a positive number; got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
    return float(value)
