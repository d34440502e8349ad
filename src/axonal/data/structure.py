"""Nested elements: an array, or tuples / lists / dicts of them, flattened and rebuilt.

A dataset element or a batch is a *structure*: a leaf (anything that is not a tuple, list or
dict, usually an ndarray), a tuple of structures, or a dict of structures. Lists are read as
tuples. Flattening walks tuples in order and dicts in key insertion order.
"""

from __future__ import annotations

from axonal.backend import xp


def is_nested(value) -> bool:
    """True for a tuple, list or dict (a structure with parts), False for a leaf."""
    return isinstance(value, (tuple, list, dict))


def flatten(structure) -> list:
    """The leaves of ``structure``, in order."""
    leaves = []
    _flatten_into(structure, leaves)
    return leaves


def _flatten_into(structure, leaves: list) -> None:
    if isinstance(structure, dict):
        for value in structure.values():
            _flatten_into(value, leaves)
    elif isinstance(structure, (tuple, list)):
        for value in structure:
            _flatten_into(value, leaves)
    else:
        leaves.append(structure)


def pack_like(structure, leaves: list):
    """Rebuild ``structure``'s shape around ``leaves`` (as many as ``flatten`` gives)."""
    position = iter(leaves)
    result = _pack(structure, position)
    return result


def _pack(structure, position):
    if isinstance(structure, dict):
        return {key: _pack(value, position) for key, value in structure.items()}
    if isinstance(structure, (tuple, list)):
        return tuple(_pack(value, position) for value in structure)
    return next(position)


def map_structure(fn, structure):
    """``structure`` with ``fn`` applied to every leaf (lists come back as tuples)."""
    return pack_like(structure, [fn(leaf) for leaf in flatten(structure)])


def describe(structure) -> str:
    """A short description of a structure's shape, for error messages.

    Example:
        >>> describe((xp.zeros((2, 3)), {"w": xp.zeros(2)}))
        "(array(2, 3), {'w': array(2,)})"
    """
    if isinstance(structure, dict):
        inner = ", ".join(f"{key!r}: {describe(value)}" for key, value in structure.items())
        return "{" + inner + "}"
    if isinstance(structure, (tuple, list)):
        inner = ", ".join(describe(value) for value in structure)
        return "(" + inner + ("," if len(structure) == 1 else "") + ")"
    shape = getattr(structure, "shape", None)
    if shape is None:
        return type(structure).__name__
    return "array" + str(tuple(shape))


def signature(structure):
    """The structure with each leaf replaced by None: two elements with equal signatures have
    the same nesting and dict keys."""
    if isinstance(structure, dict):
        return ("dict", tuple((key, signature(value)) for key, value in structure.items()))
    if isinstance(structure, (tuple, list)):
        return ("tuple", tuple(signature(value) for value in structure))
    return None


def as_leaf_array(value):
    """A leaf as an ndarray (a NumPy scalar or a Python number becomes a 0-d array)."""
    if isinstance(value, xp.ndarray):
        return value
    return xp.asarray(value)
