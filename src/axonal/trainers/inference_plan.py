"""A plan of array calls that ``predict`` runs for a model that is a plain chain of Dense layers.

Why: for one row through a small model, ``predict`` is a handful of NumPy calls of about a
quarter of a microsecond each, and the general path spends as long again choosing them: per
layer, a method call, checks of type, rank, dtype, feature count and masks, and a look-up of the
activation. A plan makes those choices once, when it is built, and keeps one closure per layer
bound to that layer's variables and activation; running it is the array calls and little else.

What keeps a plan right:

- The weights are the variables' own arrays, which optimizers, ``set_weights``,
  ``Variable.assign`` and ``load_weights`` update in place, so such updates show at once. Each
  closure checks, by identity, that its layer's variables still hold the same arrays and the
  layer has the same activation; if not (training packs the weights into one buffer, a layer
  gets a new activation) it raises ``Stale`` and the model builds a new plan (or finds that
  none fits any more).
- A plan takes only what it was built for: 2-D arrays of the model's float type with the
  model's feature count, no masks in use. The caller validates the input as the general path
  does (finite values) and sends everything else the general way.
- Each closure makes the array operations ``Dense.infer`` makes, in the same order (one row's
  ReLU compares with a row of zeros rather than the scalar 0, and its softmax calls the short
  row function ``softmax_rows`` would: the same values), so the outputs are bit-identical to
  the general path's.

Covered layers: ``Dense`` (any bias; activations linear, relu, softmax, sigmoid, tanh,
softplus), ``Dropout`` (the identity at inference) and ``Activation`` with one of those
activations after a Dense. A model with any other layer, or a subclass of these, gets no plan.
"""

from __future__ import annotations

from collections.abc import Callable

from axonal import activations as activations_module
from axonal import primitives as P
from axonal.backend import xp
from axonal.layers.core import Activation, Dense, Dropout, activate_in_place
from axonal.layers.masking import masks_in_use

# the activations whose in-place array form Dense.infer applies (activate_in_place); any other
# goes through Tensors there, so a plan does not take it
PLANNED_ACTIVATIONS = (
    activations_module.linear,
    activations_module.relu,
    activations_module.softmax,
    activations_module.sigmoid,
    activations_module.tanh,
    activations_module.softplus,
)


class Stale(Exception):
    """A layer's variables, their arrays or its activation changed after the plan was built."""


class InferencePlan:
    """The array calls of a Dense chain's forward pass, one closure per layer.

    Args:
        dtype: the float type the plan takes (the model's); inputs of another type go the
            general way.
        sample_shape: the shape of one input row, ``(features,)``.
        steps: callables from one array of rows to the next, in layer order.

    Example:
        >>> plan = build_plan(model.layers, model.dtype, model.input_shape)
        >>> plan.run(x) if plan is not None else None
    """

    __slots__ = ("dtype", "sample_shape", "steps")

    def __init__(self, dtype, sample_shape: tuple, steps: list[Callable]):
        self.dtype = dtype
        self.sample_shape = sample_shape
        self.steps = tuple(steps)

    def run(self, x):
        """The model's outputs for ``x`` (2-D, of ``dtype`` and ``sample_shape``, validated),
        or None while masks are in use (the general path propagates them).

        Raises:
            Stale: a layer changed since the plan was built; build a new one.
        """
        if masks_in_use():
            return None
        try:
            for step in self.steps:
                x = step(x)
        except AttributeError as error:
            # a guard met a layer without the variable it had (its bias set to None, say)
            raise Stale(str(error)) from error
        return x


def build_plan(layers: list | None, dtype, input_shape) -> InferencePlan | None:
    """The plan for a model whose ``infer`` runs ``layers`` one after the other, taking
    inputs of ``input_shape`` (batch axis first) and ``dtype``; None where one does not fit.

    Example:
        >>> build_plan(model.layers, model.dtype, model.input_shape)
    """
    if not layers or input_shape is None or len(input_shape) != 2:
        return None
    features = input_shape[1]
    dtype = xp.dtype(dtype)
    if features is None or dtype.kind != "f":
        return None
    steps = []
    width = features
    # whether the array a step receives is the plan's own (made by an earlier step), so that
    # an activation may overwrite it; the first layer receives the caller's input
    owned = False
    for layer in layers:
        kind = type(layer)
        if kind is Dropout:
            continue
        if kind is Activation:
            if not owned or layer.activation not in PLANNED_ACTIVATIONS:
                return None
            steps.append(_activation_step(layer, layer.activation))
            continue
        if kind is not Dense or not layer.built:
            return None
        step = _dense_step(layer, dtype, width)
        if step is None:
            return None
        steps.append(step)
        width = layer.units
        owned = True
    if not owned:
        return None
    return InferencePlan(dtype, (features,), steps)


def _dense_step(layer: Dense, dtype, width: int) -> Callable | None:
    """``Dense.infer`` on 2-D arrays of ``width`` features, bound to ``layer``'s arrays and
    activation; None where ``Dense.infer`` would not take its array path."""
    activation = layer.activation
    kernel = layer.kernel.data
    bias = None if layer.bias is None else layer.bias.data
    if (
        activation not in PLANNED_ACTIVATIONS
        or kernel.dtype != dtype
        or kernel.shape != (width, layer.units)
        or (bias is not None and (bias.dtype != dtype or bias.shape != (layer.units,)))
    ):
        return None
    # The guard in each closure: the arrays the layer computes with (whichever variables hold
    # them) and its activation are still the ones bound here. In-place updates keep the array.
    #
    # One row (predict's latency case) is finished on its 1-D view: NumPy skips broadcasting's
    # set-up there, most of an add's cost at this size. There ReLU compares with a row of zeros
    # (NumPy's maximum is faster with an array than with the scalar 0; same values) and softmax
    # runs on Python floats through the function softmax_rows uses for a short row (same bits).
    # The closures are written out per case, with the functions they call bound locally: a
    # call, a test or a look-up less per layer is tens of nanoseconds of the three
    # microseconds a small model's row costs.
    if bias is None:

        def dense_unbiased(x):
            if (
                layer.kernel.data is not kernel
                or layer.bias is not None
                or layer.activation is not activation
            ):
                raise Stale(layer.name)
            return activate_in_place(activation, x.dot(kernel))

        return dense_unbiased

    if activation is activations_module.relu:
        zero_row = xp.zeros(layer.units, dtype=dtype)
        zero_row.flags.writeable = False
        maximum = xp.maximum

        def dense_relu(x):
            if (
                layer.kernel.data is not kernel
                or layer.bias.data is not bias
                or layer.activation is not activation
            ):
                raise Stale(layer.name)
            out = x.dot(kernel)
            if len(out) == 1:
                row = out[0]
                row += bias
                maximum(row, zero_row, out=row)
                return out
            out += bias
            return activate_in_place(activation, out)

        return dense_relu

    short_softmax = activation is activations_module.softmax and layer.units <= 8
    softmax_short_row = P.softmax_short_row

    def dense(x):
        if (
            layer.kernel.data is not kernel
            or layer.bias.data is not bias
            or layer.activation is not activation
        ):
            raise Stale(layer.name)
        out = x.dot(kernel)
        if len(out) == 1:
            row = out[0]
            row += bias
            if short_softmax:
                row[...] = softmax_short_row(row.tolist())
                return out
        else:
            out += bias
        return activate_in_place(activation, out)

    return dense


def _activation_step(layer: Activation, activation) -> Callable:
    """An ``Activation`` layer on an array the plan made (so it may be overwritten)."""

    def activate(x):
        if layer.activation is not activation:
            raise Stale(layer.name)
        return activate_in_place(activation, x)

    return activate


__all__ = ["PLANNED_ACTIVATIONS", "InferencePlan", "Stale", "build_plan"]
