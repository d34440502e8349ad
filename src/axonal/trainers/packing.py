"""How Keras packs one batch for a step: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""

from __future__ import annotations


def unpack_x_y_sample_weight(data) -> tuple:
    """``(x, y, sample_weight)`` from a batch packed as Keras packs it (missing parts None).

    Example:
        >>> x, y, sample_weight = unpack_x_y_sample_weight((x_batch, y_batch))
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(
            f"A batch is x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(data)}."
        )
    return data + (None,) * (3 - len(data))


def pack_x_y_sample_weight(x, y=None, sample_weight=None) -> tuple:
    """The batch Keras hands a step: ``x`` alone (as it is; wrapped as ``(x,)`` when it is a
    list or tuple of inputs, so it cannot pass for ``(x, y)``), ``(x, y)`` or
    ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


__all__ = ["pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
