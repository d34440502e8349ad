"""Utilities: seeding and label encoding."""

from __future__ import annotations

from axonal.backend import floatx, set_random_seed, xp
from axonal.layers.base import reset_names


def to_categorical(x, num_classes: int | None = None):
    """One-hot encode integer class labels ``(samples,)`` into ``(samples, num_classes)``.

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    labels = xp.asarray(x)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f" and not (labels == xp.round(labels)).all():
        raise ValueError("to_categorical expects integer class labels.")
    labels = labels.astype(xp.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical got a negative label: {int(labels.min())}.")
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= classes:
        raise ValueError(f"to_categorical got label {int(labels.max())} but num_classes={classes}.")
    out = xp.zeros(labels.shape + (classes,), dtype=floatx())
    xp.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def clear_session() -> None:
    """Restart automatic layer naming (``dense``, ``dense_1``…), as Keras's clear_session does."""
    reset_names()


__all__ = ["clear_session", "set_random_seed", "to_categorical"]
