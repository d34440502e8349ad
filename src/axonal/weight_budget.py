"""Limits that hold while a model is rebuilt from a file or a config.

A loader opens a ``rebuilding(max_parameters, initialize)`` scope around the build. Inside it,
every ``Layer.add_weight`` reserves its weight's size here *before* allocating: a weight that
would take the model past ``max_parameters`` raises ``ParameterBudgetError`` (so a config that
declares a layer of a billion units fails at once, with nothing allocated), and with
``initialize=False`` the weight is made of zeros instead of running its initializer, since the
file's values replace it (an orthogonal initializer on a 3,000-unit LSTM costs tens of seconds).

Outside a scope nothing is checked and ``reserve`` is one attribute read.

Example:
    >>> with rebuilding(max_parameters=10_000, initialize=False):
    ...     model = registry.deserialize("layer", config)
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator

# the most vocabulary entries and bin boundaries (all preprocessing tables together) a model
# rebuilt from a file may hold: a config may list at most ~4M short strings anyway
MAX_TABLE_ENTRIES = 1 << 22
# the most numbers a layer may be probed with (zeros run through it to learn its output shape)
MAX_PROBE_ELEMENTS = 1 << 24


class ParameterBudgetError(ValueError):
    """A model being rebuilt asks for more parameters than its file or the caller allows."""


class _Scope:
    def __init__(self, max_parameters: int | None, initialize: bool):
        self.max_parameters = max_parameters
        self.initialize = initialize
        self.used = 0
        self.table_entries = 0


_STATE = threading.local()


@contextlib.contextmanager
def rebuilding(max_parameters: int | None, initialize: bool = True) -> Iterator[None]:
    """Within the block, weights count against ``max_parameters`` (None: no limit) and, with
    ``initialize=False``, are zeros rather than their initializer's values."""
    previous = getattr(_STATE, "scope", None)
    _STATE.scope = _Scope(max_parameters, initialize)
    try:
        yield
    finally:
        _STATE.scope = previous


def reserve(path: str, shape: tuple) -> bool:
    """Count a weight of ``shape`` against the active budget, before it is allocated.

    Returns:
        Whether the weight's initializer should run (False inside a scope whose weights the
        file replaces).

    Raises:
        ParameterBudgetError: the weight takes the model past the budget, or a dimension is
            negative.
    """
    scope = getattr(_STATE, "scope", None)
    if scope is None:
        return True
    if any(d < 0 for d in shape):
        raise ParameterBudgetError(f"weight '{path}' has a negative dimension in {shape}.")
    size = math.prod(shape)
    scope.used += size
    if scope.max_parameters is not None and scope.used > scope.max_parameters:
        raise ParameterBudgetError(
            f"weight '{path}' of shape {shape} takes the model to {scope.used:,} parameters, "
            f"more than the {scope.max_parameters:,} allowed (the file's stored weights, or "
            "max_parameters=); refused before allocating it."
        )
    return scope.initialize


def check_probe(shape: tuple) -> None:
    """Refuse, while rebuilding, to run a layer on zeros of a shape larger than
    ``MAX_PROBE_ELEMENTS`` numbers (a config declaring a huge input shape)."""
    if getattr(_STATE, "scope", None) is None:
        return
    if math.prod(shape) > MAX_PROBE_ELEMENTS:
        raise ParameterBudgetError(
            f"an input of shape {shape} is larger than the {MAX_PROBE_ELEMENTS:,} numbers a "
            "layer is run on while a model is rebuilt."
        )


def check_table(path: str, entries: int) -> None:
    """Count a lookup table (a vocabulary, bin boundaries) of ``entries`` against the active
    scope's ``MAX_TABLE_ENTRIES``: a hostile file cannot make a loader build a huge table.

    Raises:
        ParameterBudgetError: the model's tables together exceed ``MAX_TABLE_ENTRIES``.
    """
    scope = getattr(_STATE, "scope", None)
    if scope is None:
        return
    scope.table_entries += int(entries)
    if scope.table_entries > MAX_TABLE_ENTRIES:
        raise ParameterBudgetError(
            f"table '{path}' of {entries:,} entries takes the model's vocabularies and bins to "
            f"{scope.table_entries:,} entries, more than the {MAX_TABLE_ENTRIES:,} a loaded "
            "model may hold; refused before building it."
        )


__all__ = ["ParameterBudgetError", "check_probe", "check_table", "rebuilding", "reserve"]
