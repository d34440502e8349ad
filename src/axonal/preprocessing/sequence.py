"""Sequence preprocessing: ``pad_sequences``, as ``keras.preprocessing.sequence`` has it."""

from __future__ import annotations

from axonal.backend import xp


def pad_sequences(
    sequences,
    maxlen: int | None = None,
    dtype="int32",
    padding: str = "pre",
    truncating: str = "pre",
    value=0.0,
):
    """Pad (and truncate) a list of sequences to one length, giving a 2-D array.

    Sequences longer than ``maxlen`` lose values from the start (``truncating='pre'``) or the
    end (``'post'``); shorter ones are filled with ``value`` before (``padding='pre'``) or after
    (``'post'``) their values. Elements may themselves be arrays of one shared shape.

    Args:
        sequences: a list (or array) of sequences, each a list or array of values.
        maxlen: the output length; None means the longest sequence's length.
        dtype: the output dtype (default ``'int32'``; use ``object`` or a string dtype for text).
        padding: ``'pre'`` or ``'post'``: where the filler goes.
        truncating: ``'pre'`` or ``'post'``: which end of a long sequence is cut.
        value: the filler (default 0).

    Returns:
        An array of shape ``(len(sequences), maxlen) + element_shape``.

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post", truncating="post")
        array([[1, 0],
               [2, 3],
               [4, 5]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"pad_sequences expects a list of sequences, got {type(sequences).__name__}."
        )
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post', got {padding!r}.")
    if truncating not in ("pre", "post"):
        raise ValueError(f"truncating must be 'pre' or 'post', got {truncating!r}.")
    lengths = []
    sample_shape: tuple = ()
    found_shape = False
    for index, seq in enumerate(sequences):
        try:
            lengths.append(len(seq))
        except TypeError as error:
            raise ValueError(
                "pad_sequences expects a list of sequences (lists or arrays), but sequence "
                f"{index} is {seq!r} of type {type(seq).__name__}."
            ) from error
        if not found_shape and len(seq):
            sample_shape = xp.asarray(seq).shape[1:]
            found_shape = True
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    maxlen = int(maxlen)
    if maxlen < 0:
        raise ValueError(f"maxlen must be a non-negative integer or None, got {maxlen}.")
    is_text_dtype = dtype is not object and xp.issubdtype(xp.dtype(dtype), xp.str_)
    if isinstance(value, str) and dtype is not object and not is_text_dtype:
        raise ValueError(
            f"dtype {dtype!r} cannot hold the string padding value {value!r}; pass "
            "dtype=object or a string dtype for variable-length strings."
        )
    out = xp.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for index, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        kept = xp.asarray(kept, dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(
                f"Sequence {index} has elements of shape {kept.shape[1:]}, but the first "
                f"non-empty sequence's elements have shape {tuple(sample_shape)}."
            )
        if padding == "post":
            out[index, : len(kept)] = kept
        else:
            out[index, -len(kept) :] = kept
    return out


__all__ = ["pad_sequences"]
