"""Attention: ``MultiHeadAttention``, with Keras 3's signature, weight layout and masks.

The heads' projections are affine maps of the query, key and value; the attention itself is
one fused primitive (``ScaledDotProductAttention``): scores, mask, softmax, dropout and the
weighted sum of the values in one forward and one backward.
"""

from __future__ import annotations

import math
from typing import Any

from axonal import constraints as constraints_module
from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import make_rng, xp
from axonal.layers.base import Layer
from axonal.layers.core import serialize_or_none
from axonal.layers.masking import attach_mask, mask_of, masks_in_use
from axonal.registry import register
from axonal.tensor import Tensor

# what a masked score becomes before the softmax (Keras's value for float32 and float64)
_MASKED_SCORE = -1e9


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < 1:
        raise ValueError(f"MultiHeadAttention {name} must be a positive integer, got {value!r}.")
    return int(value)


@register("layer", "MultiHeadAttention")
class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017), as Keras 3's ``MultiHeadAttention``.

    ``query`` ``(batch, T, dim_q)`` attends to ``value`` ``(batch, S, dim_v)`` (keys default to
    the values): each head projects them to ``key_dim`` / ``value_dim`` features, weighs the
    values by ``softmax(q kᵀ / sqrt(key_dim))`` and the heads' results are projected back to
    ``output_shape`` (default ``dim_q``).

    Args:
        num_heads: number of heads.
        key_dim: size of each head's query and key projections.
        value_dim: size of each head's value projection (default ``key_dim``).
        dropout: dropout rate on the attention probabilities while training.
        use_bias: whether the projections have biases.
        output_shape: the last dimension of the output (default the query's).
        attention_axes: only the default (the sequence axis) is supported.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: for every projection, as in ``Dense``.
        seed: seeds the attention dropout.

    Call arguments: ``query``, ``value``, ``key=None``, ``attention_mask`` (boolean
    ``(batch, T, S)``, True where a query may attend to a key), ``return_attention_scores``,
    ``training``, ``use_causal_mask`` (each query attends only to keys at or before it), and
    ``query_mask`` / ``value_mask`` / ``key_mask`` (default: the masks an
    ``Embedding(mask_zero=True)`` attached to the inputs).

    Weights, in ``get_weights`` order as Keras: ``query/kernel`` ``(dim_q, heads, key_dim)``,
    ``query/bias`` ``(heads, key_dim)``, then ``key/…``, ``value/…`` and
    ``attention_output/kernel`` ``(heads, value_dim, output)``, ``attention_output/bias``.

    Example:
        >>> tokens = Input((16, 32))
        >>> attended = MultiHeadAttention(num_heads=4, key_dim=8)(tokens, tokens)
    """

    supports_masking = True
    builds_from_all_args = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        seed: int | None = None,
        flash_attention: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "num_heads")
        self.key_dim = _positive_int(key_dim, "key_dim")
        self.value_dim = (
            self.key_dim if value_dim is None else _positive_int(value_dim, "value_dim")
        )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"MultiHeadAttention dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise ValueError(
                    "MultiHeadAttention output_shape with several axes is not supported by "
                    f"axonal; give one size, got {output_shape!r}."
                )
            output_shape = output_shape[0]
        self.output_dim = (
            None if output_shape is None else _positive_int(output_shape, "output_shape")
        )
        if attention_axes is not None and tuple(
            [attention_axes] if isinstance(attention_axes, int) else attention_axes
        ) not in ((1,), (-2,)):
            raise ValueError(
                "MultiHeadAttention attention_axes other than the sequence axis (rank-3 "
                f"inputs) are not supported by axonal, got {attention_axes!r}."
            )
        if activity_regularizer is not None:
            raise ValueError("MultiHeadAttention activity_regularizer is not supported by axonal.")
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)
        self._projections: dict = {}

    def __call__(self, query=None, value=None, key=None, **kwargs):
        """``layer(query, value, key=None, ...)``, positionally or by keyword (as Keras)."""
        if query is None or value is None:
            raise TypeError(f"Layer '{self.name}' needs a query and a value: layer(query, value).")
        if key is None:
            return super().__call__(query, value, **kwargs)
        return super().__call__(query, value, key, **kwargs)

    # ------------------------------------------------------------ weights
    def build(self, input_shape) -> None:
        shapes = list(input_shape)
        query_shape, value_shape = shapes[0], shapes[1]
        key_shape = shapes[2] if len(shapes) > 2 else value_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"Layer '{self.name}' takes {name} of shape (batch, sequence, features) with "
                    f"known features, got {tuple(shape)}; other ranks need attention_axes, "
                    "which axonal does not support."
                )
        heads = self.num_heads
        output_dim = self.output_dim or query_shape[-1]
        layout = (
            ("query", (query_shape[-1], heads, self.key_dim), (heads, self.key_dim)),
            ("key", (key_shape[-1], heads, self.key_dim), (heads, self.key_dim)),
            ("value", (value_shape[-1], heads, self.value_dim), (heads, self.value_dim)),
            ("attention_output", (heads, self.value_dim, output_dim), (output_dim,)),
        )
        for part, kernel_shape, bias_shape in layout:
            kernel = self.add_weight(
                f"{part}/kernel",
                kernel_shape,
                self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
            bias = None
            if self.use_bias:
                bias = self.add_weight(
                    f"{part}/bias",
                    bias_shape,
                    self.bias_initializer,
                    regularizer=self.bias_regularizer,
                    constraint=self.bias_constraint,
                )
            self._projections[part] = (kernel, bias)
        self.built = True

    def projection(self, part: str) -> tuple:
        """``(kernel, bias)`` of ``part``: ``'query'``, ``'key'``, ``'value'`` or
        ``'attention_output'`` (bias None without ``use_bias``); for exporters."""
        return self._projections[part]

    def _project(self, part: str, x: Tensor) -> Tensor:
        """``x`` ``(batch, L, dim)`` through ``part``'s projection, as ``(batch, heads, L, d)``."""
        kernel, bias = self._projections[part]
        dim_in, heads, size = kernel.shape
        batch, length = x.shape[0], x.shape[1]
        # on (batch * L, dim) rows: a 2-D product's backward is one GEMM per gradient, where a
        # 3-D input's gradient took several times longer (ndarray.dot of a 3-D array)
        flat = F.dense(
            F.reshape(x, (batch * length, dim_in)),
            F.reshape(kernel, (dim_in, heads * size)),
            None if bias is None else F.reshape(bias, (heads * size,)),
        )
        return F.transpose(F.reshape(flat, (batch, length, heads, size)), (0, 2, 1, 3))

    # ------------------------------------------------------------ call
    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores: bool = False,
        training: bool = False,
        use_causal_mask: bool = False,
    ):
        key = value if key is None else key
        dtype = self._projections["query"][0].data.dtype
        query, value, key = (
            t if t.dtype == dtype else F.cast(t, dtype) for t in (query, value, key)
        )
        if masks_in_use():
            query_mask = mask_of(query) if query_mask is None else query_mask
            value_mask = mask_of(value) if value_mask is None else value_mask
            key_mask = mask_of(key) if key_mask is None else key_mask
        mask = _attention_mask(
            query.shape[1],
            value.shape[1],
            query_mask,
            value_mask,
            key_mask,
            attention_mask,
            use_causal_mask,
        )
        q = self._project("query", query)
        k = self._project("key", key)
        v = self._project("value", value)
        adder = None
        if mask is not None:
            adder = xp.where(mask, 0.0, _MASKED_SCORE).astype(dtype)[:, None]
        keep = None
        if training and self.dropout > 0.0:
            rng = self._rng if self._rng is not None else make_rng(None)
            shape = (q.shape[0], self.num_heads, q.shape[2], k.shape[2])
            keep = (rng.random(shape) >= self.dropout).astype(dtype) / dtype.type(1 - self.dropout)
        fn_out = F.scaled_dot_product_attention(q, k, v, adder, keep, 1.0 / math.sqrt(self.key_dim))
        heads = F.transpose(fn_out, (0, 2, 1, 3))  # (batch, T, heads, value_dim)
        kernel, bias = self._projections["attention_output"]
        _, size, output_dim = kernel.shape
        batch, length = heads.shape[0], heads.shape[1]
        out = F.dense(
            F.reshape(heads, (batch * length, self.num_heads * size)),
            F.reshape(kernel, (self.num_heads * size, output_dim)),
            bias,
        )
        out = F.reshape(out, (batch, length, output_dim))
        if query_mask is not None:
            attach_mask(out, query_mask)
        if return_attention_scores:
            # the probabilities (before dropout), as Keras returns them; not differentiable
            return out, Tensor(_scores(q, k, adder, self.key_dim))
        return out

    def compute_output_shape(self, input_shape):
        shapes = list(input_shape) if isinstance(input_shape, list) else [input_shape]
        query_shape = tuple(shapes[0])
        return query_shape[:-1] + (self.output_dim or query_shape[-1],)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            output_shape=self.output_dim,
            attention_axes=None,
            kernel_initializer=initializers_module.serialize(self.kernel_initializer),
            bias_initializer=initializers_module.serialize(self.bias_initializer),
            kernel_regularizer=serialize_or_none(self.kernel_regularizer),
            bias_regularizer=serialize_or_none(self.bias_regularizer),
            kernel_constraint=serialize_or_none(self.kernel_constraint),
            bias_constraint=serialize_or_none(self.bias_constraint),
            seed=self.seed,
        )
        return config


def _scores(q: Tensor, k: Tensor, adder, key_dim: int):
    """The attention probabilities, ``(batch, heads, T, S)``."""
    scores = (q.data @ xp.swapaxes(k.data, -1, -2)) / math.sqrt(key_dim)
    if adder is not None:
        scores = scores + adder
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = xp.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def _attention_mask(
    queries: int, keys: int, query_mask, value_mask, key_mask, attention_mask, causal: bool
):
    """Boolean ``(batch or 1, T, S)``: True where a query may attend to a key, or None."""
    mask = None

    def both(a, b):
        return b if a is None else xp.logical_and(a, b)

    if query_mask is not None:
        mask = xp.asarray(getattr(query_mask, "data", query_mask), dtype=bool)[:, :, None]
    for extra in (value_mask, key_mask):
        if extra is not None:
            mask = both(mask, xp.asarray(getattr(extra, "data", extra), dtype=bool)[:, None, :])
    if causal:
        rows = xp.arange(queries)[:, None]
        cols = xp.arange(keys)[None, :]
        mask = both(mask, (rows >= cols)[None])
    if attention_mask is not None:
        given = xp.asarray(getattr(attention_mask, "data", attention_mask), dtype=bool)
        mask = both(given, mask) if mask is not None else given
    return mask


__all__ = ["MultiHeadAttention"]
