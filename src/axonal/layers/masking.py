"""Timestep masks: a boolean ``(batch, time)`` array per sequence, True where a step is real.

A layer that makes or changes a mask attaches it to its output array; the next layer looks it
up. Keyed by the array, not the Tensor, because predict's array-only path (``Layer.infer``)
hands layers bare arrays.
"""

from __future__ import annotations

import weakref
from typing import Any

from axonal.backend import xp
from axonal.tensor import Tensor

# id(output array) -> (weak reference to the array, its timestep mask). Keyed by the array, not
# the Tensor: predict's array-only path (``Layer.infer``) hands layers the bare arrays. The weak
# reference's callback drops the entry when the array dies, before its id can be reused.
_MASKS: dict[int, tuple] = {}


def attach_mask(x, mask):
    """Record ``mask`` (boolean ``(batch, time)``, or None) as the mask of ``x`` and return ``x``.

    ``x`` is a Tensor or an array; the mask follows the underlying array.
    """
    array = x.data if isinstance(x, Tensor) else x
    key = id(array)
    if mask is None:
        _MASKS.pop(key, None)
        return x
    ref = weakref.ref(array, lambda _ref, key=key: _MASKS.pop(key, None))
    _MASKS[key] = (ref, xp.asarray(mask, dtype=bool))
    return x


def masks_in_use() -> bool:
    """Whether any array currently carries a mask (lets unmasked models skip the lookups)."""
    return bool(_MASKS)


def mask_of(x) -> Any:
    """The mask attached to ``x`` (a Tensor or array) by the layer that produced it, or None."""
    array = x.data if isinstance(x, Tensor) else x
    entry = _MASKS.get(id(array))
    if entry is None or entry[0]() is not array:
        return None
    return entry[1]
