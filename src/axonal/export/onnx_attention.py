"""ONNX for the attention layers: ``MultiHeadAttention``, ``GroupedQueryAttention``,
``Attention`` and ``AdditiveAttention``.

``MultiHeadAttention`` (and ``GroupedQueryAttention``, whose key and value heads are gathered
once per query head): the projections as MatMul + Add, the heads split with Reshape and
Transpose, ``softmax(q kᵀ / sqrt(key_dim) + mask) v`` and the output projection.
``Attention`` / ``AdditiveAttention``: the dot, concat or additive scores of every query-key
pair, the mask, the softmax and the weighted sum of the values.

Masks are rebuilt in the graph from what the model computes them from, as axonal's layers
build them: the timestep masks that travel with the inputs (``Value.mask``, made from the
token ids by ``Embedding(mask_zero=True)`` or by ``Masking``) and ``use_causal_mask`` (a
``Trilu``, so any sequence length works). A key that may not be seen gets ``MASKED_SCORE``
(-1e9) added to its score, as in axonal, so a row with every key masked comes out as the
same (uniform) softmax that ``predict`` gives. Opset 14 or later (``Trilu``).
"""

from __future__ import annotations

import math

import numpy as np

from axonal.export.onnx_graph import INT64_MAX, GraphBuilder, Value, layer_error
from axonal.layers.attention import (
    AdditiveAttention,
    Attention,
    GroupedQueryAttention,
    MultiHeadAttention,
)
from axonal.primitives.attention import MASKED_SCORE

# the keyword arguments a saved call may carry that the export reproduces (others must be None)
SUPPORTED_KWARGS = frozenset({"use_causal_mask", "return_attention_scores"})
# MultiHeadAttention's masks given as tensors (model inputs or layers' outputs)
MASK_KWARGS = frozenset({"attention_mask", "query_mask", "value_mask", "key_mask"})


def _weight(b: GraphBuilder, layer, what: str, array) -> str:
    return b.constant(np.ascontiguousarray(array), f"{layer.name}/{what}", key=(id(layer), what))


def _check(b: GraphBuilder, layer, kwargs: dict, masks=frozenset()) -> None:
    given = sorted(
        k
        for k, v in kwargs.items()
        if v is not None and k not in SUPPORTED_KWARGS and not (k in masks and isinstance(v, Value))
    )
    if given:
        raise layer_error(
            layer,
            f"it is called with {', '.join(given)}=..., which the export does not carry over "
            "(timestep masks from Embedding(mask_zero=True) or Masking, masks that are model "
            "inputs or layers' outputs, and use_causal_mask do carry over).",
        )
    if b.opset < 14:
        raise layer_error(layer, f"it needs opset 14 or later (Trilu), got {b.opset}.")


def _boolean(b: GraphBuilder, value) -> str | None:
    """A mask given as a Value (any dtype: nonzero is True, as axonal reads it), as a
    boolean graph value; None stays None."""
    if value is None:
        return None
    return value.name if value.dtype == "bool" else b.cast(value.name, "bool")


def _score_adder(
    b: GraphBuilder,
    scores: str,
    dtype: str,
    row_mask,
    column_masks: list,
    causal: bool,
    given=None,
):
    """``(…, T, S)``-broadcastable: 0 where a query may see a key, ``MASKED_SCORE`` where not.

    ``row_mask`` ``(batch, T)`` (a query's own mask) and ``column_masks`` ``(batch, S)`` are
    boolean value names or None; ``causal`` adds "key ``j`` at or before query ``i``";
    ``given`` is an explicit boolean ``(batch, T, S)`` mask or None. Returns None when nothing
    is masked. The result has rank 3 (batch first) or 2 (causal only).
    """
    allowed = None

    def both(a, c):
        return c if a is None else b.op("And", [a, c])

    if row_mask is not None:
        allowed = b.unsqueeze(row_mask, [2])  # (batch, T, 1)
    for mask in column_masks:
        if mask is not None:
            allowed = both(allowed, b.unsqueeze(mask, [1]))  # (batch, 1, S)
    if causal:
        # (T, S) of ones, lower triangle kept: True where key j <= query i
        size = b.slice(b.op("Shape", [scores]), [-2], [INT64_MAX], [0])
        ones = b.op("Expand", [b.scalar(1.0, dtype), size])
        allowed = both(allowed, b.cast(b.op("Trilu", [ones], upper=0), "bool"))
    if given is not None:
        allowed = both(allowed, given)
    if allowed is None:
        return None
    return b.op("Where", [allowed, b.scalar(0.0, dtype), b.scalar(MASKED_SCORE, dtype)])


# ---------------------------------------------------------------- multi-head attention


def _heads(b: GraphBuilder, layer, part: str, x: str) -> str:
    """``x`` ``(batch, L, dim)`` projected and split: ``(batch, heads, L, size)``."""
    kernel, bias = layer.projection(part)
    dim_in, heads, size = kernel.data.shape
    out = b.op("MatMul", [x, _weight(b, layer, f"{part}/kernel", kernel.data.reshape(dim_in, -1))])
    if bias is not None:
        out = b.op("Add", [out, _weight(b, layer, f"{part}/bias", bias.data.reshape(-1))])
    out = b.op("Reshape", [out, b.ints((0, 0, heads, size))])
    out = b.op("Transpose", [out], perm=[0, 2, 1, 3])
    if part != "query" and heads != layer.num_heads:
        # grouped queries: key/value head h serves query heads h*groups … (h+1)*groups - 1
        groups = layer.num_heads // heads
        out = b.op("Gather", [out, b.ints(np.repeat(np.arange(heads), groups))], axis=1)
    return out


def convert_multi_head_attention(
    b: GraphBuilder, layer: MultiHeadAttention, inputs: list, kwargs: dict
) -> list:
    """The attention of one call (query, value and optionally key), as ONNX nodes; returns
    the output Value (and the attention probabilities with ``return_attention_scores``)."""
    _check(b, layer, kwargs, MASK_KWARGS)
    dtype = str(layer.projection("query")[0].data.dtype)
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    # masks given by keyword take the place of the inputs' own, as in axonal's call
    query_mask = _boolean(b, kwargs.get("query_mask")) or query.mask
    value_mask = _boolean(b, kwargs.get("value_mask")) or value.mask
    key_mask = _boolean(b, kwargs.get("key_mask")) or key.mask
    given = _boolean(b, kwargs.get("attention_mask"))
    q = _heads(b, layer, "query", query.name)
    k = _heads(b, layer, "key", key.name)
    v = _heads(b, layer, "value", value.name)
    scores = b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = b.op("Mul", [scores, b.scalar(1.0 / math.sqrt(layer.key_dim), dtype)])
    causal = bool(kwargs.get("use_causal_mask"))
    adder = _score_adder(b, scores, dtype, query_mask, [value_mask, key_mask], causal, given)
    if adder is not None:
        if any(m is not None for m in (query_mask, value_mask, key_mask, given)):
            adder = b.unsqueeze(adder, [1])  # (batch, 1, T, S): one mask for every head
        scores = b.op("Add", [scores, adder])
    weights = b.op("Softmax", [scores], axis=-1)
    heads = b.op("Transpose", [b.op("MatMul", [weights, v])], perm=[0, 2, 1, 3])
    kernel, bias = layer.projection("attention_output")
    heads_total = kernel.data.shape[0] * kernel.data.shape[1]
    output_dim = kernel.data.shape[2]
    merged = b.op("Reshape", [heads, b.ints((0, 0, heads_total))])
    out = b.op(
        "MatMul",
        [
            merged,
            _weight(b, layer, "attention_output/kernel", kernel.data.reshape(heads_total, -1)),
        ],
    )
    if bias is not None:
        out = b.op("Add", [out, _weight(b, layer, "attention_output/bias", bias.data)])
    # the output carries the query's mask, as in axonal
    results = [Value(out, tuple(query.shape[:-1]) + (output_dim,), layer.dtype, query_mask)]
    if kwargs.get("return_attention_scores"):
        shape = (query.shape[0], layer.num_heads, query.shape[1], key.shape[1])
        results.append(Value(weights, shape, layer.dtype))
    return results


# ---------------------------------------------------------------- Attention, AdditiveAttention


def _pair_sums(b: GraphBuilder, query: str, key: str) -> str:
    """``query + key`` for every pair: ``(batch, Tq, 1, dim) + (batch, 1, Tv, dim)``."""
    return b.op("Add", [b.unsqueeze(query, [-2]), b.unsqueeze(key, [-3])])


def _scores(b: GraphBuilder, layer: Attention, query: str, key: str, dtype: str) -> str:
    """``(batch, Tq, Tv)`` scores in the order of operations of the layer's own."""
    scale = None if layer.scale is None else _weight(b, layer, "scale", layer.scale.data)
    if isinstance(layer, AdditiveAttention):
        pairs = b.op("Tanh", [_pair_sums(b, query, key)])
        if scale is not None:
            pairs = b.op("Mul", [scale, pairs])
        return b.reduce("ReduceSum", pairs, [-1], keepdims=False)
    if layer.score_mode == "dot":
        scores = b.op("MatMul", [query, b.op("Transpose", [key], perm=[0, 2, 1])])
        return scores if scale is None else b.op("Mul", [scores, scale])
    pairs = _pair_sums(b, query, key)
    if scale is not None:
        pairs = b.op("Mul", [scale, pairs])
    summed = b.reduce("ReduceSum", b.op("Tanh", [pairs]), [-1], keepdims=False)
    weight = _weight(b, layer, "concat_score_weight", layer.concat_score_weight.data)
    return b.op("Mul", [weight, summed])


def convert_attention(b: GraphBuilder, layer: Attention, inputs: list, kwargs: dict) -> list:
    """``Attention`` or ``AdditiveAttention`` on ``[query, value(, key)]``; returns the
    output Value (and the attention probabilities with ``return_attention_scores``)."""
    given = kwargs.get("mask")
    if isinstance(given, (list, tuple)) and all(v is None or isinstance(v, Value) for v in given):
        kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
    _check(b, layer, kwargs)
    if any(len(v.shape) != 3 for v in inputs):
        shapes = ", ".join(str(v.shape) for v in inputs)
        raise layer_error(layer, f"the export takes rank-3 inputs only, got {shapes}.")
    dtype = layer.dtype
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    query_mask, value_mask = query.mask, value.mask
    if given is not None and "mask" not in kwargs:
        # mask=[query_mask, value_mask] replaces the attached masks, None entries included
        query_mask, value_mask = (_boolean(b, m) for m in list(given)[:2])
    scores = _scores(b, layer, query.name, key.name, dtype)
    # the value's mask hides keys; the query's zeroes output rows afterwards
    adder = _score_adder(b, scores, dtype, None, [value_mask], bool(kwargs.get("use_causal_mask")))
    if adder is not None:
        scores = b.op("Add", [scores, adder])
    weights = b.op("Softmax", [scores], axis=-1)
    out = b.op("MatMul", [weights, value.name])
    if query_mask is not None:
        out = b.op("Where", [b.unsqueeze(query_mask, [2]), out, b.scalar(0.0, dtype)])
    shape = tuple(query.shape[:-1]) + (value.shape[-1],)
    results = [Value(out, shape, dtype, query_mask)]
    if kwargs.get("return_attention_scores"):
        results.append(Value(weights, tuple(query.shape[:-1]) + (key.shape[1],), dtype))
    return results


# layer class -> converter taking the call's keyword arguments too
CONVERTERS = {
    MultiHeadAttention: convert_multi_head_attention,
    GroupedQueryAttention: convert_multi_head_attention,
    Attention: convert_attention,
    AdditiveAttention: convert_attention,
}
