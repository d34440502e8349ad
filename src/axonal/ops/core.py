"""``keras.ops`` core and math ops outside ``keras.ops.numpy``: control flow, custom gradients,
slices and scatters, segment reductions, FFTs, and a few special functions.

Control flow runs eagerly in Python on concrete Tensors, so ``cond``, ``while_loop``, ``scan``
and friends record the ops their bodies run and gradients flow through them as through any
other Python code.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from axonal import functional as F
from axonal.autograd import no_grad
from axonal.backend import floatx, standardize_dtype
from axonal.primitives.numpy_ops import Closure
from axonal.tensor import Tensor, apply, as_tensor

# ---------------------------------------------------------------- nested structures


def _flatten(tree) -> list:
    """The leaves of a nest of tuples, lists and dicts (dicts in key order), None dropped."""
    if tree is None:
        return []
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flatten(item)]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _flatten(tree[key])]
    return [tree]


def _unflatten(tree, leaves: list):
    """``tree``'s structure filled with ``leaves`` in ``_flatten``'s order."""
    position = iter(leaves)

    def build(node):
        if node is None:
            return None
        if isinstance(node, (list, tuple)):
            return type(node)(build(item) for item in node)
        if isinstance(node, dict):
            return {key: build(node[key]) for key in sorted(node)}
        return next(position)

    return build(tree)


def _is_symbolic(value) -> bool:
    return getattr(type(value), "_axonal_symbolic", False)


def _refuse_symbolic(name: str, values) -> None:
    if any(_is_symbolic(v) for v in values):
        raise ValueError(
            f"ops.{name} runs eagerly on concrete tensors in axonal; on symbolic (functional "
            "API) tensors, call it inside a layer (e.g. keras.layers.Lambda) so it runs on the "
            "real values."
        )


def _truth(value) -> bool:
    """A scalar condition as a Python bool (a Tensor's ``len`` must not decide it)."""
    _refuse_symbolic("cond / while_loop", [value])
    data = np.asarray(value.data if isinstance(value, Tensor) else value)
    if data.size != 1:
        raise ValueError(f"A loop or cond predicate must be a scalar, got shape {data.shape}.")
    return builtins.bool(data.reshape(()))


def _leading(leaves: list, length, what: str) -> int:
    sizes = {as_tensor(leaf).shape[0] for leaf in leaves}
    if length is not None:
        sizes.add(int(length))
    if len(sizes) != 1:
        raise ValueError(f"{what}: every input must have the same leading length, got {sizes}.")
    return sizes.pop()


# ---------------------------------------------------------------- control flow


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (eager: only the taken branch runs)."""
    return true_fn() if _truth(pred) else false_fn()


def switch(index, branches, *operands):
    """``branches[index](*operands)``, ``index`` clamped into range as Keras."""
    position = int(np.asarray(getattr(index, "data", index)))
    position = builtins.min(builtins.max(position, 0), len(branches) - 1)
    return branches[position](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Run ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (and fewer than
    ``maximum_iterations`` steps); a tuple or list of variables comes back as a tuple, a single
    variable as itself."""
    several = isinstance(loop_vars, (list, tuple))
    state = tuple(loop_vars) if several else (loop_vars,)
    steps = 0
    while (maximum_iterations is None or steps < maximum_iterations) and _truth(cond(*state)):
        state = body(*state)
        state = tuple(state) if isinstance(state, (list, tuple)) else (state,)
        steps += 1
    return state if several else state[0]


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``."""
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


def _stack_outputs(outputs: list):
    """A list of per-step nests as one nest of arrays stacked on a new first axis."""
    if not outputs or builtins.all(_flatten(o) == [] for o in outputs):
        return None if not outputs or outputs[0] is None else outputs[0]
    columns = zip(*(_flatten(o) for o in outputs), strict=True)
    return _unflatten(outputs[0], [F.stack([as_tensor(v) for v in c], axis=0) for c in columns])


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the leading axis of ``xs`` (a nest of arrays, or None with
    ``length``); returns ``(carry, ys)`` with the ``ys`` stacked in the order of ``xs``."""
    del unroll  # one Python step per element: unrolling changes nothing eagerly
    _refuse_symbolic("scan", _flatten(xs) + _flatten(init))
    leaves = [as_tensor(leaf) for leaf in _flatten(xs)]
    if not leaves and length is None:
        raise ValueError("scan needs xs or a length.")
    steps = _leading(leaves, length, "scan") if leaves else int(length)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    carry, ys = init, []
    for i in order:
        x = _unflatten(xs, [leaf[i] for leaf in leaves]) if leaves else None
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, _stack_outputs(ys)


def associative_scan(f, elems, reverse=False, axis=0):
    """The inclusive scan of ``elems`` (a nest of arrays) along ``axis`` with an associative
    ``f``, run left to right (right to left with ``reverse``); ``f`` sees slices that keep the
    axis with length 1."""
    _refuse_symbolic("associative_scan", _flatten(elems))
    leaves = [as_tensor(leaf) for leaf in _flatten(elems)]
    size = leaves[0].shape[axis]
    order = range(size - 1, -1, -1) if reverse else range(size)
    results: dict = {}
    previous = None
    for i in order:
        current = _unflatten(elems, [F.take(leaf, np.array([i]), axis=axis) for leaf in leaves])
        previous = current if previous is None else f(previous, current)
        results[i] = _flatten(previous)
    columns = zip(*(results[i] for i in range(size)), strict=True)
    return _unflatten(elems, [F.concatenate(list(c), axis=axis) for c in columns])


def map(f, xs):  # noqa: A001 - Keras's name
    """``f`` applied to each slice of ``xs`` (a nest) along its leading axis, results stacked."""
    _refuse_symbolic("map", _flatten(xs))
    leaves = [as_tensor(leaf) for leaf in _flatten(xs)]
    steps = _leading(leaves, None, "map")
    return _stack_outputs([f(_unflatten(xs, [leaf[i] for leaf in leaves])) for i in range(steps)])


def vectorized_map(function, elements):
    """``function`` applied to each slice of ``elements`` along the first axis, stacked (a loop
    here: NumPy has no vectorizing transform)."""
    return map(function, elements)


# ---------------------------------------------------------------- gradients


def custom_gradient(f):
    """Decorator: ``f(*args)`` returns ``(output, grad_fn)``; the decorated function returns
    ``output`` and backpropagates ``grad_fn(upstream)`` (one gradient per tensor argument).

    Example:
        >>> @custom_gradient
        ... def clipped_identity(x):
        ...     return x, lambda upstream: ops.clip(upstream, -1.0, 1.0)
    """

    def wrapped(*args):
        _refuse_symbolic("custom_gradient", args)
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in positions]

        def compute(*arrays):
            call_args = list(args)
            for i, array in zip(positions, arrays, strict=True):
                call_args[i] = Tensor(array)
            # the forward's own ops are not recorded: grad_fn replaces their backward
            with no_grad():
                output, grad_fn = f(*call_args)
            output = as_tensor(output)

            def vjp(g):
                with no_grad():
                    grads = grad_fn(Tensor(g))
                grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
                if len(grads) != len(arrays):
                    raise ValueError(
                        f"custom_gradient: grad_fn returned {len(grads)} gradients for "
                        f"{len(arrays)} tensor arguments."
                    )
                return tuple(
                    None if gr is None else np.asarray(getattr(gr, "data", gr), a.dtype)
                    for gr, a in zip(grads, arrays, strict=True)
                )

            return output.data, vjp

        if not tensors:
            return f(*args)[0]
        return apply(Closure, *tensors, compute=compute)

    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = getattr(f, "__doc__", None)
    return wrapped


# ---------------------------------------------------------------- tensors, dtypes, slices


def is_tensor(x) -> bool:
    """Whether ``x`` is a concrete axonal Tensor (a Variable included); symbolic tensors are
    not, as Keras's ``KerasTensor`` is not a backend tensor."""
    return isinstance(x, Tensor)


def dtype(x) -> str:
    """``x``'s dtype as Keras's standardized name (``"float32"``, ``"int64"``…)."""
    value = getattr(x, "dtype", None)
    if value is None:
        value = np.asarray(x).dtype
    return standardize_dtype(value)


def saturate_cast(x, dtype) -> Tensor:
    """``x`` cast to ``dtype`` with values clipped to its range first (no wrap-around)."""
    data = np.asarray(getattr(x, "data", x))
    target = np.dtype(standardize_dtype(dtype))
    if target.kind in "iu":
        info = np.iinfo(target)
        low, high = info.min, info.max
        if data.dtype.kind == "f":
            data = np.nan_to_num(data)
        data = np.clip(data, np.maximum(low, _lowest(data.dtype)), np.minimum(high, _top(data)))
    elif target.kind == "f" and data.dtype.kind == "f":
        info = np.finfo(target)
        data = np.clip(data, info.min, info.max)
    return Tensor(data.astype(target))


def _lowest(source):
    return np.iinfo(source).min if source.kind in "iu" else -np.inf


def _top(data):
    return np.iinfo(data.dtype).max if data.dtype.kind in "iu" else np.inf


def _region(start_indices, shape) -> tuple:
    starts = [int(np.asarray(getattr(s, "data", s))) for s in np.ravel(_data(start_indices))]
    return tuple(builtins.slice(s, s + int(n)) for s, n in zip(starts, shape, strict=True))


def _data(x):
    return np.asarray(getattr(x, "data", x)) if not isinstance(x, (list, tuple)) else list(x)


def slice(inputs, start_indices, shape) -> Tensor:  # noqa: A001 - Keras's name
    """``inputs[start : start + shape]`` on every axis (differentiable)."""
    inputs = as_tensor(inputs)
    return inputs[_region(start_indices, shape)]


def slice_update(inputs, start_indices, updates) -> Tensor:
    """``inputs`` with the block at ``start_indices`` replaced by ``updates`` (differentiable in
    both)."""
    inputs, updates = as_tensor(inputs), as_tensor(updates)
    region = _region(start_indices, updates.shape)

    def compute(a, u):
        out = a.copy()
        out[region] = u

        def vjp(g):
            kept = g.copy()
            kept[region] = 0
            return kept, g[region]

        return out, vjp

    return apply(Closure, inputs, F.cast(updates, inputs.dtype), compute=compute)


def _index_tuple(indices) -> tuple:
    indices = np.asarray(getattr(indices, "data", indices)).astype(np.int64)
    return tuple(indices.reshape(-1, indices.shape[-1]).T)


def scatter(indices, values, shape) -> Tensor:
    """Zeros of ``shape`` with ``values`` added at ``indices`` (``(…, depth)`` index tuples;
    repeats add up), differentiable in ``values``."""
    values = as_tensor(values)
    index = _index_tuple(indices)
    shape = tuple(int(s) for s in shape)
    depth = len(index)

    def compute(v):
        flat = v.reshape((-1, *shape[depth:]))
        out = np.zeros(shape, dtype=v.dtype)
        np.add.at(out, index, flat)
        return out, lambda g: (g[index].reshape(v.shape),)

    return apply(Closure, values, compute=compute)


def scatter_update(inputs, indices, updates, reduction=None) -> Tensor:
    """``inputs`` with ``updates`` written at ``indices`` (``reduction`` None: replace, or
    ``"add"``, ``"max"``, ``"min"``, ``"mul"`` as Keras); replace and add are differentiable."""
    inputs, updates = as_tensor(inputs), as_tensor(updates)
    index = _index_tuple(indices)
    reducers = {"max": np.maximum, "min": np.minimum, "mul": np.multiply}
    if reduction not in (None, "add", *reducers):
        raise ValueError(f"scatter_update: unsupported reduction {reduction!r}.")

    def compute(a, u):
        out = a.copy()
        if reduction is None:
            out[index] = u
        elif reduction == "add":
            np.add.at(out, index, u)
        else:
            reducers[reduction].at(out, index, u)

        def vjp(g):
            if reduction is None:
                kept = g.copy()
                kept[index] = 0
                return kept, g[index]
            if reduction == "add":
                return g, g[index]
            raise ValueError(f"scatter_update(reduction={reduction!r}) has no gradient in axonal.")

        return out, vjp

    return apply(Closure, inputs, F.cast(updates, inputs.dtype), compute=compute)


def unstack(x, num=None, axis=0) -> list:
    """The slices of ``x`` along ``axis`` as a list (differentiable)."""
    x = as_tensor(x)
    count = x.shape[axis]
    if num is not None and int(num) != count:
        raise ValueError(f"unstack: num={num} but axis {axis} has {count} entries.")
    return [F.squeeze(F.take(x, np.array([i]), axis=axis), axis) for i in range(count)]


def _parse_axes(side: str) -> list:
    """``"b (h w) c"`` as ``[["b"], ["h", "w"], ["c"]]``: one list of names per tensor axis."""
    groups, current = [], None
    for token in side.replace("(", " ( ").replace(")", " ) ").split():
        if token == "(":
            if current is not None:
                raise ValueError(f"rearrange: nested parentheses in {side!r}.")
            current = []
        elif token == ")":
            if current is None:
                raise ValueError(f"rearrange: unbalanced parentheses in {side!r}.")
            groups.append(current)
            current = None
        elif not token.isidentifier():
            raise ValueError(f"rearrange: axis names must be identifiers, got {token!r}.")
        elif current is not None:
            current.append(token)
        else:
            groups.append([token])
    if current is not None:
        raise ValueError(f"rearrange: unbalanced parentheses in {side!r}.")
    return groups


def rearrange(tensor, pattern: str, **axes_lengths) -> Tensor:
    """einops-style reshape and transpose, e.g. ``"b (h w) c -> b h w c"`` with ``h=4``: split
    grouped input axes (sizes from ``axes_lengths``), reorder, and merge output groups
    (differentiable)."""
    x = as_tensor(tensor)
    if "->" not in pattern:
        raise ValueError(f"rearrange: the pattern needs '->', got {pattern!r}.")
    left, right = (_parse_axes(side) for side in pattern.split("->"))
    if len(left) != x.ndim:
        raise ValueError(f"rearrange: {pattern!r} names {len(left)} axes, the input has {x.ndim}.")
    names_in = [n for group in left for n in group]
    names_out = [n for group in right for n in group]
    if sorted(names_in) != sorted(names_out) or len(set(names_in)) != len(names_in):
        raise ValueError(f"rearrange: {pattern!r} must use each axis name once on each side.")
    sizes = {name: int(size) for name, size in axes_lengths.items()}
    for group, size in zip(left, x.shape, strict=True):
        unknown = [n for n in group if n not in sizes]
        known = int(np.prod([sizes[n] for n in group if n in sizes]))
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the sizes of all but one of {group}.")
        if unknown:
            sizes[unknown[0]] = size // known
        if int(np.prod([sizes[n] for n in group])) != size:
            raise ValueError(f"rearrange: axes {group} do not multiply to {size}.")
    out = F.reshape(x, [sizes[n] for n in names_in])
    out = F.transpose(out, [names_in.index(n) for n in names_out])
    return F.reshape(out, [int(np.prod([sizes[n] for n in group])) for group in right])


# ---------------------------------------------------------------- segment reductions


def _segments(data, segment_ids, num_segments):
    data = as_tensor(data)
    ids = np.asarray(getattr(segment_ids, "data", segment_ids)).astype(np.int64)
    if num_segments is None:
        num_segments = int(ids.max()) + 1 if ids.size else 0
    return data, ids, int(num_segments)


def _segment(data, segment_ids, num_segments, kind: str) -> Tensor:
    data, ids, count = _segments(data, segment_ids, num_segments)
    # segment ids outside [0, num_segments) (e.g. -1) drop their rows, as Keras
    valid = (ids >= 0) & (ids < count)

    def compute(a):
        rows, picked = a[valid], ids[valid]
        out_shape = (count, *a.shape[ids.ndim :])
        start = {"sum": 0, "max": -np.inf, "min": np.inf, "prod": 1}[kind]
        ufunc = {"sum": np.add, "max": np.maximum, "min": np.minimum, "prod": np.multiply}[kind]
        out = np.full(out_shape, start, dtype=a.dtype)
        ufunc.at(out, picked, rows)

        def vjp(g):
            grad = np.zeros_like(a)
            spread = g[picked]
            if kind == "sum":
                grad[valid] = spread
            elif kind == "prod":
                # d prod / d x_i = prod / x_i (inputs of a segment with a zero are not handled)
                grad[valid] = spread * out[picked] / rows
            else:
                # the extreme entries share the gradient, split evenly among ties
                hit = (rows == out[picked]).astype(a.dtype)
                ties = np.zeros(out_shape, a.dtype)
                np.add.at(ties, picked, hit)
                grad[valid] = spread * hit / np.maximum(ties[picked], 1)
            return (grad,)

        return out, vjp

    return apply(Closure, data, compute=compute)


def segment_sum(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    """Sum of the rows of ``data`` in each segment (differentiable)."""
    return _segment(data, segment_ids, num_segments, "sum")


def segment_max(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    """Max of the rows of ``data`` in each segment (-inf where empty; differentiable)."""
    return _segment(data, segment_ids, num_segments, "max")


def segment_min(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    """Min of the rows of ``data`` in each segment (inf where empty; differentiable)."""
    return _segment(data, segment_ids, num_segments, "min")


def segment_prod(data, segment_ids, num_segments=None, sorted=False) -> Tensor:  # noqa: A002
    """Product of the rows of ``data`` in each segment (differentiable for nonzero inputs)."""
    return _segment(data, segment_ids, num_segments, "prod")


# ---------------------------------------------------------------- special functions


def rsqrt(x) -> Tensor:
    """``1 / sqrt(x)``."""
    return F.divide(1.0, F.sqrt(as_tensor(x)))


def erfc(x) -> Tensor:
    """``1 - erf(x)``."""
    return F.subtract(1.0, F.erf(as_tensor(x)))


def _erfinv_values(y):
    """Inverse error function: Giles's single-precision approximation, then two Newton steps
    on the exact ``math.erf`` in float64 for full precision."""
    y = np.asarray(y, dtype=np.float64)
    w = -np.log((1.0 - y) * (1.0 + y))
    small = w < 5.0
    ws = w - 2.5
    wl = np.sqrt(np.where(small, 5.0, w)) - 3.0
    p_small = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):  # fmt: skip
        p_small = c + p_small * ws
    p_large = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):  # fmt: skip
        p_large = c + p_large * wl
    x = np.where(small, p_small, p_large) * y
    erf = np.frompyfunc(math.erf, 1, 1)
    for _ in range(2):
        with np.errstate(all="ignore"):
            step = (erf(x).astype(np.float64) - y) / (2.0 / np.sqrt(np.pi) * np.exp(-x * x))
        x = np.where(np.isfinite(step), x - step, x)
    x = np.where(y == 1, np.inf, np.where(y == -1, -np.inf, x))
    return np.where(np.abs(y) > 1, np.nan, x)


def erfinv(x) -> Tensor:
    """The inverse error function (differentiable: ``√π / 2 · exp(erfinv(x)²)``)."""
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        x = F.cast(x, floatx())

    def compute(a):
        out = _erfinv_values(a)
        slope = (np.sqrt(np.pi) / 2 * np.exp(out * out)).astype(a.dtype)
        return out.astype(a.dtype), lambda g: (g * slope,)

    return apply(Closure, x, compute=compute)


def logdet(x) -> Tensor:
    """``log(det(x))`` of positive-definite matrices, from ``slogdet`` (differentiable:
    ``x⁻ᵀ``)."""
    x = as_tensor(x)

    def compute(a):
        sign, value = np.linalg.slogdet(a)
        out = np.where(sign > 0, value, np.nan).astype(a.dtype)

        def vjp(g):
            # the inverse only when a gradient is asked for (a singular input still has a value)
            return (np.asarray(g)[..., None, None] * np.swapaxes(np.linalg.inv(a), -1, -2),)

        return out, vjp

    return apply(Closure, x, compute=compute)


def in_top_k(targets, predictions, k) -> Tensor:
    """Whether each target's prediction is among its row's ``k`` largest (ties count in)."""
    scores = np.asarray(getattr(predictions, "data", predictions))
    labels = np.asarray(getattr(targets, "data", targets)).astype(np.int64)
    kth = -np.sort(-scores, axis=-1)[:, int(k) - 1 : int(k)]
    target_score = np.take_along_axis(scores, labels[:, None], axis=-1)
    return Tensor(np.any(target_score >= kth, axis=-1))


def cdist(x, y) -> Tensor:
    """Euclidean distances between the rows of ``x`` ``(…, m, d)`` and ``y`` ``(…, n, d)``:
    ``(…, m, n)``."""
    x, y = as_tensor(x), as_tensor(y)
    diff = F.subtract(F.expand_dims(x, -2), F.expand_dims(y, -3))
    return F.sqrt(F.sum(F.square(diff), axis=-1))


def extract_sequences(x, sequence_length: int, sequence_stride: int) -> Tensor:
    """Windows of ``sequence_length`` every ``sequence_stride`` along the last axis:
    ``(…, num_sequences, sequence_length)`` (differentiable)."""
    x = as_tensor(x)
    count = 1 + (x.shape[-1] - sequence_length) // sequence_stride
    index = np.arange(count)[:, None] * sequence_stride + np.arange(sequence_length)
    return F.take(x, index, axis=x.ndim - 1)


def view_as_complex(x) -> Tensor:
    """A real array whose last axis is (real, imag) as complex numbers (values)."""
    data = np.asarray(getattr(x, "data", x))
    if data.shape[-1] != 2:
        raise ValueError(f"view_as_complex takes a last axis of size 2, got {data.shape}.")
    return Tensor(data[..., 0] + 1j * data[..., 1])


def view_as_real(x) -> Tensor:
    """Complex numbers as a real array with a last axis (real, imag) (values)."""
    data = np.asarray(getattr(x, "data", x))
    return Tensor(np.stack([data.real, data.imag], axis=-1))


# ---------------------------------------------------------------- Fourier transforms


def _complex_pair(x) -> tuple:
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        raise ValueError("FFT ops take a tuple (real, imag) of float tensors.")
    real, imag = as_tensor(x[0]), as_tensor(x[1])
    if real.shape != imag.shape:
        raise ValueError(f"real and imag parts differ in shape: {real.shape}, {imag.shape}.")
    return real, imag


def _split_pair(stacked: Tensor) -> tuple:
    return stacked[..., 0], stacked[..., 1]


def _linear_complex(real, imag, transform, adjoint) -> tuple:
    """A complex-linear map of ``(real, imag)``; ``adjoint`` is its conjugate transpose, which
    maps the output gradient (as ``g_re + i g_im``) to the input gradient."""
    dtype = real.data.dtype if real.data.dtype.kind == "f" else np.dtype(floatx())

    def compute(re, im):
        out = transform(re + 1j * im)

        def vjp(g):
            back = adjoint(g[..., 0] + 1j * g[..., 1])
            return back.real.astype(dtype), back.imag.astype(dtype)

        return np.stack([out.real, out.imag], axis=-1).astype(dtype), vjp

    return _split_pair(apply(Closure, F.cast(real, dtype), F.cast(imag, dtype), compute=compute))


def fft(x) -> tuple:
    """FFT over the last axis of ``(real, imag)``; returns ``(real, imag)``."""
    real, imag = _complex_pair(x)
    n = real.shape[-1]
    return _linear_complex(real, imag, np.fft.fft, lambda g: np.fft.ifft(g) * n)


def fft2(x) -> tuple:
    """2-D FFT over the last two axes of ``(real, imag)``; returns ``(real, imag)``."""
    real, imag = _complex_pair(x)
    n = real.shape[-1] * real.shape[-2]
    return _linear_complex(real, imag, np.fft.fft2, lambda g: np.fft.ifft2(g) * n)


def ifft2(x) -> tuple:
    """Inverse 2-D FFT over the last two axes of ``(real, imag)``; returns ``(real, imag)``."""
    real, imag = _complex_pair(x)
    n = real.shape[-1] * real.shape[-2]
    return _linear_complex(real, imag, np.fft.ifft2, lambda g: np.fft.fft2(g) / n)


def rfft(x, fft_length=None) -> tuple:
    """FFT of a real signal over its last axis (``fft_length // 2 + 1`` bins, the input cut
    or zero-padded to ``fft_length``); returns ``(real, imag)``."""
    x = as_tensor(x)
    dtype = x.data.dtype if x.data.dtype.kind == "f" else np.dtype(floatx())
    length = x.shape[-1]
    n = length if fft_length is None else int(fft_length)

    def compute(a):
        out = np.fft.rfft(a, n=n)

        def vjp(g):
            # the adjoint of "pad/cut to n, FFT, keep the first bins": n · ifft of the padded
            # gradient, real part, cut/padded back to the input's length
            spectrum = np.zeros((*g.shape[:-2], n), dtype=complex)
            spectrum[..., : g.shape[-2]] = g[..., 0] + 1j * g[..., 1]
            back = (np.fft.ifft(spectrum) * n).real
            grad = np.zeros(a.shape, dtype=dtype)
            kept = builtins.min(n, length)
            grad[..., :kept] = back[..., :kept]
            return (grad,)

        return np.stack([out.real, out.imag], axis=-1).astype(dtype), vjp

    return _split_pair(apply(Closure, F.cast(x, dtype), compute=compute))


def irfft(x, fft_length=None) -> Tensor:
    """The inverse of ``rfft``: a real signal of ``fft_length`` (default ``2 (bins - 1)``)
    from ``(real, imag)`` bins."""
    real, imag = _complex_pair(x)
    dtype = real.data.dtype if real.data.dtype.kind == "f" else np.dtype(floatx())
    bins = real.shape[-1]
    n = 2 * (bins - 1) if fft_length is None else int(fft_length)
    used = builtins.min(bins, n // 2 + 1)
    # each used bin k counts twice (k and n - k) except the DC bin and, for even n, Nyquist
    weight = np.full(used, 2.0)
    weight[0] = 1.0
    if n % 2 == 0 and used == n // 2 + 1:
        weight[-1] = 1.0
    # the imaginary parts of the DC and Nyquist bins are ignored (their sine terms vanish)
    imag_used = np.ones(used)
    imag_used[0] = 0.0
    if n % 2 == 0 and used == n // 2 + 1:
        imag_used[-1] = 0.0

    def compute(re, im):
        out = np.fft.irfft(re + 1j * im, n=n).astype(dtype)

        def vjp(g):
            spectrum = np.fft.fft(g, axis=-1)[..., :used]
            grad_re = np.zeros(re.shape, dtype=dtype)
            grad_im = np.zeros(im.shape, dtype=dtype)
            grad_re[..., :used] = spectrum.real * weight / n
            grad_im[..., :used] = spectrum.imag * weight * imag_used / n
            return grad_re, grad_im

        return out, vjp

    return apply(Closure, F.cast(real, dtype), F.cast(imag, dtype), compute=compute)


def _window(window, sequence_length: int, fft_length: int, dtype) -> np.ndarray:
    if window is None:
        values = np.ones(sequence_length)
    elif isinstance(window, str):
        # periodic windows (scipy's get_window default), as Keras
        phase = 2 * np.pi * np.arange(sequence_length) / sequence_length
        if window == "hann":
            values = 0.5 - 0.5 * np.cos(phase)
        elif window == "hamming":
            values = 0.54 - 0.46 * np.cos(phase)
        else:
            raise ValueError(f"window must be 'hann', 'hamming', an array or None, got {window!r}.")
    else:
        values = np.asarray(getattr(window, "data", window), dtype=np.float64)
        if values.shape != (sequence_length,):
            raise ValueError(f"window must have shape ({sequence_length},), got {values.shape}.")
    left = (fft_length - sequence_length) // 2
    return np.pad(values, (left, fft_length - sequence_length - left)).astype(dtype)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True) -> tuple:
    """Short-time Fourier transform over the last axis: ``(real, imag)`` of shape
    ``(…, frames, fft_length // 2 + 1)`` (differentiable)."""
    x = as_tensor(x)
    if x.data.dtype not in (np.float32, np.float64):
        raise TypeError(f"stft takes float32 or float64 input, got {x.data.dtype}.")
    if fft_length < sequence_length:
        raise ValueError("stft: fft_length must be at least sequence_length.")
    if center:
        half = fft_length // 2
        # reflect padding as gathers, so the gradient flows back to the edges it copied
        length = x.shape[-1]
        index = np.concatenate(
            [np.arange(half, 0, -1), np.arange(length), length - 2 - np.arange(half)]
        )
        x = F.take(x, index, axis=x.ndim - 1)
    frames = extract_sequences(x, fft_length, sequence_stride)
    frames = F.multiply(frames, _window(window, sequence_length, fft_length, x.data.dtype))
    return rfft(frames, fft_length)


def istft(
    x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True
) -> Tensor:
    """Inverse short-time Fourier transform of ``(real, imag)`` frames by windowed overlap-add
    (differentiable). As Keras: with ``center`` and ``sequence_length == fft_length`` the sum is
    divided by the overlapping squared windows at each sample (PyTorch's ``istft``); otherwise
    the window is divided by its steady-state overlap (TensorFlow's ``inverse_stft_window_fn``).
    """
    frames = irfft(x, fft_length)  # (..., count, fft_length)
    dtype = frames.data.dtype
    win = _window(window, sequence_length, fft_length, dtype)
    count = frames.shape[-2]
    total = fft_length + sequence_stride * (count - 1)
    positions = np.arange(count)[:, None] * sequence_stride + np.arange(fft_length)
    per_sample = center and sequence_length == fft_length and window is not None
    if not per_sample and window is not None:
        overlaps = -(-fft_length // sequence_stride)
        squares = np.pad(win * win, (0, overlaps * sequence_stride - fft_length))
        steady = np.tile(squares.reshape(overlaps, sequence_stride).sum(0), overlaps)
        win = (win / steady[:fft_length]).astype(dtype)
    frames = F.multiply(frames, win)

    def compute(a):
        out = np.zeros((*a.shape[:-2], total), dtype=a.dtype)
        _overlap_add(out, a, positions)
        return out, lambda g: (g[..., positions],)

    signal = apply(Closure, frames, compute=compute)
    start = fft_length // 2 if center else 0
    stop = total - fft_length // 2 if center else total
    if length is not None:
        stop = start + int(length)
    signal = signal[..., start:stop]
    if per_sample:
        norm = np.zeros(total, dtype=dtype)
        np.add.at(norm, positions.ravel(), np.tile(win * win, count))
        scale = norm[start:stop]
        signal = F.divide(signal, np.where(scale > 1e-11, scale, 1.0).astype(dtype))
    if length is not None and signal.shape[-1] < int(length):
        pad = np.zeros((*signal.shape[:-1], int(length) - signal.shape[-1]), dtype=dtype)
        signal = F.concatenate([signal, pad], axis=-1)
    return signal


def _overlap_add(out, frames, positions) -> None:
    for i, row in enumerate(positions):
        out[..., row] += frames[..., i, :]


__all__ = [
    "associative_scan",
    "cdist",
    "cond",
    "custom_gradient",
    "dtype",
    "erfc",
    "erfinv",
    "extract_sequences",
    "fft",
    "fft2",
    "fori_loop",
    "ifft2",
    "in_top_k",
    "irfft",
    "is_tensor",
    "istft",
    "logdet",
    "map",
    "rearrange",
    "rfft",
    "rsqrt",
    "saturate_cast",
    "scan",
    "scatter",
    "scatter_update",
    "segment_max",
    "segment_min",
    "segment_prod",
    "segment_sum",
    "slice",
    "slice_update",
    "stft",
    "switch",
    "unstack",
    "vectorized_map",
    "view_as_complex",
    "view_as_real",
    "while_loop",
]
