"""ONNX for ``MultiHeadAttention``: the projections as MatMul + Add, the heads split with
Reshape and Transpose, ``softmax(q kᵀ / sqrt(key_dim) + causal mask) v``, and the output
projection. Opset 14 or later (``Trilu`` builds the causal mask for any sequence length)."""

from __future__ import annotations

import math

import numpy as np

from axonal.export.onnx_graph import GraphBuilder, layer_error
from axonal.layers.attention import MultiHeadAttention
from axonal.primitives.attention import MASKED_SCORE

# the keyword arguments a saved call may carry that the export reproduces
SUPPORTED_KWARGS = frozenset({"use_causal_mask", "return_attention_scores"})


def _weight(b: GraphBuilder, layer, what: str, array) -> str:
    return b.constant(np.ascontiguousarray(array), f"{layer.name}/{what}", key=(id(layer), what))


def _heads(b: GraphBuilder, layer, part: str, x: str) -> str:
    """``x`` ``(batch, L, dim)`` projected and split: ``(batch, heads, L, size)``."""
    kernel, bias = layer.projection(part)
    dim_in, heads, size = kernel.data.shape
    out = b.op("MatMul", [x, _weight(b, layer, f"{part}/kernel", kernel.data.reshape(dim_in, -1))])
    if bias is not None:
        out = b.op("Add", [out, _weight(b, layer, f"{part}/bias", bias.data.reshape(-1))])
    out = b.op("Reshape", [out, b.ints((0, 0, heads, size))])
    return b.op("Transpose", [out], perm=[0, 2, 1, 3])


def convert_multi_head_attention(
    b: GraphBuilder, layer: MultiHeadAttention, inputs: list, kwargs: dict
) -> list:
    """The attention of one call (query, value and optionally key), as ONNX nodes."""
    if kwargs.get("return_attention_scores"):
        raise layer_error(layer, "return_attention_scores=True has no ONNX export.")
    if any(v.masked for v in inputs):
        raise layer_error(
            layer,
            "its inputs carry a timestep mask (Embedding(mask_zero=True)), which the export "
            "does not turn into an attention mask.",
        )
    if b.opset < 14:
        raise layer_error(layer, f"it needs opset 14 or later (Trilu), got {b.opset}.")
    dtype = layer.projection("query")[0].data.dtype
    query, value = inputs[0].name, inputs[1].name
    key = inputs[2].name if len(inputs) > 2 else value
    q = _heads(b, layer, "query", query)
    k = _heads(b, layer, "key", key)
    v = _heads(b, layer, "value", value)
    scores = b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = b.op("Mul", [scores, b.scalar(1.0 / math.sqrt(layer.key_dim), str(dtype))])
    if kwargs.get("use_causal_mask"):
        ones = b.op("Expand", [b.scalar(1.0, str(dtype)), b.op("Shape", [scores])])
        allowed = b.op("Trilu", [ones], upper=0)
        # 0 where a key may be seen, a large negative number where not (Keras's -1e9)
        blocked = b.op(
            "Mul",
            [b.op("Sub", [b.scalar(1.0, str(dtype)), allowed]), b.scalar(MASKED_SCORE, str(dtype))],
        )
        scores = b.op("Add", [scores, blocked])
    weights = b.op("Softmax", [scores], axis=-1)
    heads = b.op("Transpose", [b.op("MatMul", [weights, v])], perm=[0, 2, 1, 3])
    kernel, bias = layer.projection("attention_output")
    heads_total = kernel.data.shape[0] * kernel.data.shape[1]
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
    return [out]
