"""The public functional namespace, ``axonal.ops`` (``keras.ops``): differentiable NumPy/Keras-style
functions. ``ops.numpy`` holds the NumPy-style ones and ``ops.nn`` the neural-network ones; both
are also here, flat, as in Keras.

Example:
    >>> from axonal import ops
    >>> y = ops.softmax(ops.matmul(x, w))
"""

import builtins
import functools

from axonal.autograd import enable_grad, no_grad
from axonal.functional import (
    abs,
    absolute,
    add,
    broadcast_to,
    cast,
    clip,
    concatenate,
    dense,
    divide,
    elu,
    erf,
    exp,
    expand_dims,
    exponential,
    flatten,
    gelu,
    hard_sigmoid,
    hard_silu,
    leaky_relu,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    power,
    relu,
    relu6,
    reshape,
    selu,
    sigmoid,
    sigmoid_cross_entropy,
    sign,
    silu,
    softmax,
    softmax_cross_entropy,
    softplus,
    softsign,
    sparse_softmax_cross_entropy,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    swish,
    take,
    tanh,
    transpose,
    var,
    where,
)
from axonal.ops import core, image, linalg, nn, numpy  # noqa: F401 - submodules, as keras.ops.linalg
from axonal.ops.core import *  # noqa: F403 - control flow and math, flat as in keras.ops
from axonal.ops.linalg import *  # noqa: F403 - keras.ops.inv, keras.ops.solve...
from axonal.ops.nn import *  # noqa: F403 - the flat namespace, as keras.ops
from axonal.ops.numpy import *  # noqa: F403
from axonal.tensor import Tensor, as_tensor

convert_to_tensor = as_tensor

__all__ = [  # noqa: PLE0604 - extended with the submodules' names below
    "Tensor",
    "abs",
    "absolute",
    "add",
    "as_tensor",
    "broadcast_to",
    "cast",
    "clip",
    "concatenate",
    "convert_to_tensor",
    "dense",
    "divide",
    "elu",
    "enable_grad",
    "erf",
    "exp",
    "expand_dims",
    "exponential",
    "flatten",
    "gelu",
    "hard_sigmoid",
    "hard_silu",
    "leaky_relu",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "no_grad",
    "power",
    "relu",
    "relu6",
    "reshape",
    "selu",
    "sigmoid",
    "sigmoid_cross_entropy",
    "sign",
    "silu",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "softsign",
    "sparse_softmax_cross_entropy",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swish",
    "take",
    "tanh",
    "transpose",
    "var",
    "where",
]


__all__ = sorted(
    set(__all__)
    | set(numpy.__all__)
    | set(nn.__all__)
    | set(core.__all__)
    | set(linalg.__all__)
    | {"image", "linalg", "nn", "numpy"}
)


def _symbolic_aware(name: str, fn):
    """``fn``, recording a graph node instead when called on symbolic (functional) tensors."""

    def _is_sym(a) -> bool:
        if getattr(type(a), "_axonal_symbolic", False):
            return True
        return isinstance(a, (list, tuple)) and builtins.any(
            getattr(type(b), "_axonal_symbolic", False) for b in a
        )

    @functools.wraps(fn)
    def op(*args, **kwargs):
        # builtins.any: ops.any (the NumPy-style op) shadows it in this namespace
        if builtins.any(_is_sym(a) for a in args) or builtins.any(
            _is_sym(v) for v in kwargs.values()
        ):
            from axonal.layers.base import symbolic_op

            return symbolic_op(name, args, kwargs)
        return fn(*args, **kwargs)

    return op


def _wrap_symbolic_ops() -> None:
    from axonal.layers.base import OP_NAMES

    namespace = globals()
    for name in OP_NAMES:
        module_name, _, short = name.rpartition(".")
        if module_name:
            # ops.image.resize and the like: wrapped where they live
            module = namespace[module_name]
            setattr(module, short, _symbolic_aware(name, getattr(module, short)))
            continue
        if callable(namespace.get(name)):
            namespace[name] = _symbolic_aware(name, namespace[name])
            # ops.numpy.tile is ops.tile: the submodules hand out the same wrapped function
            for module in (numpy, nn, linalg, core):
                if name in getattr(module, "__all__", ()):
                    setattr(module, name, namespace[name])


_wrap_symbolic_ops()


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
