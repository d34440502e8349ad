"""Activations as ONNX expressions, and as the named functions ONNX's recurrent ops take.

Each entry writes the activation with the constants axonal uses (``axonal.functional``), so
the exported graph computes what ``predict`` computes:

- ``hard_sigmoid`` is Keras 3's ``relu6(x + 3) / 6``, i.e. ONNX ``HardSigmoid`` with
  ``alpha = 1/6, beta = 0.5`` (ONNX's own default is 0.2, Keras 2's definition);
- ``gelu`` is the exact erf form (opset 17 has no ``Gelu`` op);
- ``leaky_relu`` has Keras's default slope 0.2 and ``selu`` the self-normalising constants.
"""

from __future__ import annotations

import math

from axonal import activations
from axonal.export.onnx_graph import GraphBuilder, layer_error
from axonal.registry import lookup, registered_names

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_HARD_SIGMOID = {"alpha": 1.0 / 6.0, "beta": 0.5}


def _gelu(b: GraphBuilder, x: str, dtype: str) -> str:
    # 0.5 * x * (1 + erf(x / sqrt(2)))
    scaled = b.op("Mul", [x, b.scalar(1.0 / math.sqrt(2.0), dtype)])
    one_plus = b.op("Add", [b.op("Erf", [scaled]), b.scalar(1.0, dtype)])
    return b.op("Mul", [b.op("Mul", [x, b.scalar(0.5, dtype)]), one_plus])


def _silu(b: GraphBuilder, x: str, dtype: str) -> str:
    return b.op("Mul", [x, b.op("Sigmoid", [x])])


def _hard_silu(b: GraphBuilder, x: str, dtype: str) -> str:
    return b.op("Mul", [x, b.op("HardSigmoid", [x], **_HARD_SIGMOID)])


def _relu6(b: GraphBuilder, x: str, dtype: str) -> str:
    return b.op("Clip", [x, b.scalar(0.0, dtype), b.scalar(6.0, dtype)])


def _unary(op_type: str, **attrs):
    return lambda b, x, dtype: b.op(op_type, [x], **attrs)


# activation function -> (writer(builder, x, dtype) -> name, whether it is elementwise)
_EXPRESSIONS = {
    activations.linear: (lambda b, x, dtype: x, True),
    activations.relu: (_unary("Relu"), True),
    activations.relu6: (_relu6, True),
    activations.leaky_relu: (_unary("LeakyRelu", alpha=0.2), True),
    activations.elu: (_unary("Elu", alpha=1.0), True),
    activations.selu: (_unary("Selu", alpha=_SELU_ALPHA, gamma=_SELU_SCALE), True),
    activations.gelu: (_gelu, True),
    activations.sigmoid: (_unary("Sigmoid"), True),
    activations.hard_sigmoid: (_unary("HardSigmoid", **_HARD_SIGMOID), True),
    activations.hard_silu: (_hard_silu, True),
    activations.tanh: (_unary("Tanh"), True),
    activations.softplus: (_unary("Softplus"), True),
    activations.softsign: (_unary("Softsign"), True),
    activations.silu: (_silu, True),
    activations.exponential: (_unary("Exp"), True),
    activations.softmax: (_unary("Softmax", axis=-1), False),
    activations.log_softmax: (_unary("LogSoftmax", axis=-1), False),
}

# activation function -> (ONNX activation name, alpha, beta) for LSTM/GRU/RNN's attributes;
# alpha/beta None means the ONNX default, which then equals axonal's constant
_RECURRENT = {
    activations.tanh: ("Tanh", None, None),
    activations.sigmoid: ("Sigmoid", None, None),
    activations.relu: ("Relu", None, None),
    activations.hard_sigmoid: ("HardSigmoid", _HARD_SIGMOID["alpha"], _HARD_SIGMOID["beta"]),
    activations.softsign: ("Softsign", None, None),
    activations.softplus: ("Softplus", None, None),
    activations.elu: ("Elu", 1.0, None),
    activations.leaky_relu: ("LeakyRelu", 0.2, None),
    activations.linear: ("Affine", 1.0, 0.0),
}


def _names_of(table: dict) -> str:
    names = [n for n in registered_names("activation") if lookup("activation", n) in table]
    return ", ".join(sorted(names))


def _describe(fn) -> str:
    for name in registered_names("activation"):
        if lookup("activation", name) is fn:
            return repr(name)
    return repr(getattr(fn, "__name__", fn))


def is_elementwise(fn) -> bool:
    """Whether ``fn`` acts on each value alone (so it can run in any layout)."""
    entry = _EXPRESSIONS.get(fn)
    return entry is not None and entry[1]


def check_activation(layer, fn) -> None:
    """Raise the layer's export error unless ``fn`` has an ONNX expression."""
    if fn not in _EXPRESSIONS:
        raise layer_error(
            layer,
            f"its activation {_describe(fn)} has no ONNX equivalent (exportable activations: "
            f"{_names_of(_EXPRESSIONS)}).",
        )


def apply_activation(b: GraphBuilder, layer, fn, x: str, dtype: str) -> str:
    """``fn(x)`` as ONNX nodes; ``layer`` is named in the error for an unknown ``fn``."""
    check_activation(layer, fn)
    writer, _ = _EXPRESSIONS[fn]
    return writer(b, x, dtype)


def recurrent_activation(layer, fn) -> tuple:
    """``(name, alpha, beta)`` of ``fn`` for the ``activations`` attribute of LSTM/GRU/RNN."""
    entry = _RECURRENT.get(fn)
    if entry is None:
        raise layer_error(
            layer,
            f"its activation {_describe(fn)} is not one ONNX recurrent ops can apply "
            f"(they take: {_names_of(_RECURRENT)}).",
        )
    return entry
