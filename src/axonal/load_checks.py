"""Checks every loader makes, so a file either gives a model that works or is refused.

- ``config_problem``: a config's shape (nesting depth, number of objects, string sizes, non-finite
  numbers) is checked before anything is built from it;
- ``probe_problem``: after loading, two samples of zeros of the model's declared input run
  through the model, so a config whose layers do not fit together is refused at load, naming the
  layer, instead of failing at the first ``predict``;
- ``nonfinite_weights``: which loaded arrays hold NaN or infinity.

Each returns a description of the problem (or None / an empty list); the loaders turn it into
their one documented error.
"""

from __future__ import annotations

import math

import numpy as np

from axonal import weight_budget
from axonal.autograd import no_grad
from axonal.backend import is_string_dtype
from axonal.layers.base import Layer

# deeper nesting than this is no model anyone saved (a model in a model in a model... is ~10)
MAX_CONFIG_DEPTH = 64
# objects with a class_name (layers, initializers, regularizers...) one config may describe
MAX_CONFIG_OBJECTS = 200_000
# a config string (a name, an activation, a vocabulary entry) longer than this is refused
MAX_CONFIG_STRING = 64 * 1024
# samples in the batch of zeros run through a loaded model
PROBE_BATCH = 2


def config_problem(document, root: str = "config") -> str | None:
    """Why the JSON value ``document`` is not a config axonal will build from, or None.

    The walk is iterative, so a deeply nested hostile document cannot exhaust the stack.
    """
    objects = 0
    stack = [(document, root, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            return f"{path} is nested more than {MAX_CONFIG_DEPTH} levels deep."
        if isinstance(value, dict):
            if "class_name" in value:
                objects += 1
                if objects > MAX_CONFIG_OBJECTS:
                    return f"it describes more than {MAX_CONFIG_OBJECTS:,} objects."
            for key, item in value.items():
                if len(key) > MAX_CONFIG_STRING:
                    return f"{path} has a key of {len(key):,} characters."
                stack.append((item, f"{path}.{key[:80]}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if len(value) > MAX_CONFIG_STRING:
                return (
                    f"{path} is a string of {len(value):,} characters, more than "
                    f"{MAX_CONFIG_STRING:,}."
                )
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{path} is {value}; a config holds finite numbers only."
    return None


def _input_specs(model) -> list[tuple[tuple, str]] | None:
    """``(batch shape, dtype)`` of each of the model's inputs, when the model declares them."""
    inputs = getattr(model, "inputs", None)
    if isinstance(inputs, list) and inputs and all(hasattr(t, "shape") for t in inputs):
        return [(tuple(t.shape), str(getattr(t, "dtype", model.dtype))) for t in inputs]
    shape = getattr(model, "input_shape", None)
    if shape is None:
        shape = getattr(model, "input_shape_built", None)
    if isinstance(shape, tuple) and shape:
        return [(shape, model.dtype)]
    if isinstance(shape, list) and shape and all(isinstance(s, (tuple, list)) for s in shape):
        return [(tuple(s), model.dtype) for s in shape]
    return None


def _failing_layer(exc: BaseException) -> str | None:
    """The innermost layer whose method was running when ``exc`` was raised."""
    found = None
    import traceback  # here, not at the top: `import axonal` stays light

    for frame, _ in traceback.walk_tb(exc.__traceback__):
        owner = frame.f_locals.get("self")
        if isinstance(owner, Layer):
            found = owner
    if found is None:
        return None
    return f"layer '{found.name}' ({type(found).__name__})"


def probe_problem(model) -> str | None:
    """Run two samples of zeros of the model's declared input through it; why it failed, or
    None (also when the model declares no input shape, or one whose two samples hold more than
    ``weight_budget.MAX_PROBE_ELEMENTS`` numbers: nothing is tried then)."""
    specs = _input_specs(model)
    if not specs:
        return None
    arrays = []
    for shape, dtype in specs:
        # two samples whatever batch size the file declares: a batch of one would hide a
        # declared shape that lacks its batch axis (the batch then read as a feature axis)
        concrete = tuple(1 if d is None else int(d) for d in shape[1:])
        concrete = (PROBE_BATCH, *concrete)
        if len(concrete) < 1 or math.prod(concrete) > weight_budget.MAX_PROBE_ELEMENTS:
            return None
        if is_string_dtype(dtype):
            # text inputs: the string "0" (one token, out of any vocabulary) stands for zeros
            arrays.append(np.full(concrete, "0", dtype=str))
        else:
            arrays.append(np.zeros(concrete, dtype=dtype))
    # a stateful RNN would keep the probe's batch size: its states are put back after
    carried = [(layer, layer.states) for layer in model.nested_layers() if hasattr(layer, "states")]
    try:
        with no_grad(), np.errstate(all="ignore"):
            model(arrays[0] if len(arrays) == 1 else arrays, training=False)
    except RecursionError:
        return "running two samples through it exceeds Python's recursion limit."
    except Exception as exc:
        where = _failing_layer(exc)
        at = f" at {where}" if where else ""
        return (
            f"samples of its declared input shape cannot run through it{at} "
            f"({type(exc).__name__}: {exc})."
        )
    finally:
        for layer, states in carried:
            layer.states = states
    return None


def nonfinite_weights(arrays: dict) -> list[str]:
    """Keys of the float arrays in ``arrays`` that hold NaN or infinity."""
    return [
        key
        for key, array in arrays.items()
        if array.dtype.kind in "fc" and not np.isfinite(array).all()
    ]


__all__ = ["config_problem", "nonfinite_weights", "probe_problem"]
