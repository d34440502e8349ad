"""Attention: ``MultiHeadAttention``, ``Attention`` and ``AdditiveAttention``, as in Keras 3.

``MultiHeadAttention``'s heads' projections are affine maps of the query, key and value; the
attention itself is one fused primitive (``ScaledDotProductAttention``): scores, mask, softmax,
dropout and the weighted sum of the values in one forward and one backward. ``Attention``
(Luong) and ``AdditiveAttention`` (Bahdanau) have no projections and few weights; they are
composites of ``functional`` ops, so their gradients come from the engine.
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
from axonal.primitives.attention import MASKED_SCORE
from axonal.registry import register
from axonal.tensor import Tensor


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
        kv_heads = self._key_value_heads()
        output_dim = self.output_dim or query_shape[-1]
        layout = (
            ("query", (query_shape[-1], heads, self.key_dim), (heads, self.key_dim)),
            ("key", (key_shape[-1], kv_heads, self.key_dim), (kv_heads, self.key_dim)),
            ("value", (value_shape[-1], kv_heads, self.value_dim), (kv_heads, self.value_dim)),
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

    def _key_value_heads(self) -> int:
        """Heads of the key and value projections (the query's; fewer for grouped queries)."""
        return self.num_heads

    def _shared_heads(self, t: Tensor) -> Tensor:
        """Key or value heads, one per query head (each shared by a group of query heads)."""
        return t

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

    def _packs(self, query, value, key) -> bool:
        """Whether the three projections can run as one GEMM: self-attention (one tensor as
        query, value and key) with a key/value head per query head and equal head sizes."""
        return (
            query is value
            and key is value
            and self._key_value_heads() == self.num_heads
            and self.value_dim == self.key_dim
        )

    def _project_packed(self, x: Tensor, scale: float) -> Tensor:
        """``x`` ``(batch, L, dim)`` through the query, key and value projections at once, as
        ``(batch, L, 3, heads, d)`` (the kernels side by side: one GEMM forward and backward),
        the queries multiplied by ``scale``.

        The scale goes on the query kernel and bias (``dim * d * heads`` values) rather than on
        the queries (``batch * L`` times more), and the attention then takes its scores as they
        come out of the GEMM."""
        parts = [self._projections[part] for part in ("query", "key", "value")]
        dim_in, heads, size = parts[0][0].shape
        batch, length = x.shape[0], x.shape[1]
        factor = xp.asarray(scale, dtype=parts[0][0].data.dtype)
        kernels = [F.reshape(k, (dim_in, heads * size)) for k, _ in parts]
        kernel = F.concatenate([F.multiply(kernels[0], factor)] + kernels[1:], axis=1)
        bias = None
        if parts[0][1] is not None:
            biases = [F.reshape(b, (heads * size,)) for _, b in parts]
            bias = F.concatenate([F.multiply(biases[0], factor)] + biases[1:], axis=0)
        flat = F.dense(F.reshape(x, (batch * length, dim_in)), kernel, bias)
        return F.reshape(flat, (batch, length, 3, heads, size))

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
        adder = None
        if mask is not None:
            adder = xp.where(mask, 0.0, MASKED_SCORE).astype(dtype)[:, None]
        keep = None
        if training and self.dropout > 0.0:
            rng = self._rng if self._rng is not None else make_rng(None)
            shape = (query.shape[0], self.num_heads, query.shape[1], key.shape[1])
            keep = (rng.random(shape) >= self.dropout).astype(dtype) / dtype.type(1 - self.dropout)
        scale = 1.0 / math.sqrt(self.key_dim)
        # the scores returned are made from separate q and k
        if self._packs(query, value, key) and not return_attention_scores:
            heads = F.packed_self_attention(self._project_packed(query, scale), adder, keep, 1.0)
        else:
            q = self._project("query", query)
            k = self._shared_heads(self._project("key", key))
            v = self._shared_heads(self._project("value", value))
            fn_out = F.scaled_dot_product_attention(q, k, v, adder, keep, scale)
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


@register("layer", "Attention")
class Attention(Layer):
    """Dot-product (Luong-style) attention, as Keras 3's ``Attention``.

    Each query ``(batch, Tq, dim)`` scores every key ``(batch, Tv, dim)`` (the keys default to
    the values), the scores go through a softmax over the keys, and the output is the
    probability-weighted sum of the values ``(batch, Tv, dim_v)``: ``(batch, Tq, dim_v)``.

    Args:
        use_scale: multiply the scores by a trainable scalar ``scale`` (initially 1).
        score_mode: ``"dot"``: ``query @ keyᵀ``; ``"concat"``: ``concat_score_weight *
            sum(tanh(query + key))`` over the features, for every query-key pair.
        dropout: dropout rate on the attention probabilities while training.
        seed: seeds that dropout.

    Call arguments: ``inputs`` ``[query, value]`` or ``[query, value, key]``; ``mask``
    ``[query_mask, value_mask]`` (boolean ``(batch, Tq)`` and ``(batch, Tv)``; default: the masks
    an ``Embedding(mask_zero=True)`` attached to the query and value): a key whose value mask is
    False gets no attention and an output row whose query mask is False is zero;
    ``return_attention_scores`` (also return the probabilities, after dropout, as Keras does);
    ``training``; ``use_causal_mask`` (query ``i`` attends only to keys ``j <= i``).

    Weights, in ``get_weights`` order: ``scale`` ``()`` when ``use_scale``, then
    ``concat_score_weight`` ``()`` in ``"concat"`` mode.

    Example:
        >>> query, value = Input((8, 16)), Input((10, 16))
        >>> attended = Attention()([query, value])  # (batch, 8, 16)
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"{type(self).__name__} score_mode must be one of 'dot', 'concat', got "
                f"{score_mode!r}."
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__} dropout must be in [0, 1), got {dropout!r}.")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)
        self.scale = None
        self.concat_score_weight = None

    # ------------------------------------------------------------ weights
    def _shapes(self, input_shape) -> list:
        """The query, value and key shapes from ``build``'s argument, checked."""
        if not isinstance(input_shape, list) or not all(
            isinstance(shape, (list, tuple)) for shape in input_shape
        ):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) must be called on a list of "
                f"inputs, [query, value] or [query, value, key]; got one input of shape "
                f"{tuple(input_shape)}."
            )
        if not 2 <= len(input_shape) <= 3:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) takes [query, value] or [query, "
                f"value, key], got a list of {len(input_shape)} inputs."
            )
        query_shape, value_shape = tuple(input_shape[0]), tuple(input_shape[1])
        key_shape = tuple(input_shape[2]) if len(input_shape) > 2 else value_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) < 3:
                raise ValueError(
                    f"Layer '{self.name}' takes {name} of shape (batch, steps, features), got "
                    f"{shape}."
                )
        if key_shape[-2] is not None and value_shape[-2] is not None:
            if key_shape[-2] != value_shape[-2]:
                raise ValueError(
                    f"Layer '{self.name}': the key and the value need as many steps, got key "
                    f"{key_shape} and value {value_shape}."
                )
        if query_shape[-1] is not None and key_shape[-1] is not None:
            if query_shape[-1] != key_shape[-1]:
                raise ValueError(
                    f"Layer '{self.name}': the query and the key need as many features, got "
                    f"query {query_shape} and key {key_shape}."
                )
        return [query_shape, value_shape, key_shape]

    def build(self, input_shape) -> None:
        self._shapes(input_shape)
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")
        self.built = True

    # ------------------------------------------------------------ call
    def _calculate_scores(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(batch, Tq, Tv)`` of every query against every key."""
        if self.score_mode == "dot":
            scores = F.matmul(query, F.transpose(key, _last_two_swapped(key.ndim)))
            if self.scale is not None:
                scores = F.multiply(scores, self.scale)
            return scores
        # every query-key pair: (batch, Tq, 1, dim) + (batch, 1, Tv, dim)
        pairs = F.add(F.expand_dims(query, -2), F.expand_dims(key, -3))
        if self.scale is not None:
            pairs = F.multiply(self.scale, pairs)
        return F.multiply(self.concat_score_weight, F.sum(F.tanh(pairs), axis=-1))

    def __call__(self, inputs=None, *args, **kwargs):
        """``layer([query, value])`` or ``layer([query, value, key], mask=..., ...)``."""
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) must be called on a list of "
                f"inputs, [query, value] or [query, value, key]; got {type(inputs).__name__}."
            )
        return super().__call__(list(inputs), *args, **kwargs)

    def call(
        self,
        inputs,
        mask=None,
        training: bool = False,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ):
        dtype = xp.dtype(self.dtype)
        tensors = [t if t.dtype == dtype else F.cast(t, dtype) for t in inputs]
        query, value = tensors[0], tensors[1]
        key = tensors[2] if len(tensors) > 2 else value
        query_mask, value_mask = self._masks(inputs, mask)
        scores = self._calculate_scores(query, key)
        allowed = None
        if value_mask is not None:
            allowed = value_mask[:, None, :]
        if use_causal_mask:
            causal = xp.tri(scores.shape[-2], scores.shape[-1], dtype=bool)[None]
            allowed = causal if allowed is None else xp.logical_and(allowed, causal)
        if allowed is not None:
            # a key that may not be attended to: its score minus 1e9, as Keras does, so its
            # probability underflows to 0
            scores = F.add(scores, xp.where(allowed, 0.0, MASKED_SCORE).astype(dtype))
        weights = F.softmax(scores, axis=-1)
        if training and self.dropout > 0.0:
            rng = self._rng if self._rng is not None else make_rng(None)
            keep = (rng.random(weights.shape) >= self.dropout).astype(dtype)
            weights = F.multiply(weights, keep / dtype.type(1.0 - self.dropout))
        out = F.matmul(weights, value)
        if query_mask is not None:
            out = F.where(query_mask[..., None], out, 0.0)
            attach_mask(out, query_mask)
        if return_attention_scores:
            return out, weights
        return out

    def _masks(self, inputs, mask) -> tuple:
        """``(query_mask, value_mask)`` as boolean arrays or None: given, else attached."""
        if mask is None:
            if not masks_in_use():
                return None, None
            return mask_of(inputs[0]), mask_of(inputs[1])
        if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) takes mask=[query_mask, "
                f"value_mask], got {mask!r}."
            )
        return tuple(
            None if m is None else xp.asarray(getattr(m, "data", m), dtype=bool) for m in mask[:2]
        )

    def compute_output_shape(self, input_shape):
        query_shape, value_shape, _ = self._shapes(list(input_shape))
        return query_shape[:-1] + value_shape[-1:]

    def output_shape_for(self, input_shape, dtype, kwargs: dict | None = None):
        """The output's shape, and the scores' ``(batch, Tq, Tv)`` with
        ``return_attention_scores``."""
        out = self.compute_output_shape(input_shape)
        if kwargs and kwargs.get("return_attention_scores"):
            query_shape, _, key_shape = self._shapes(list(input_shape))
            return [out, query_shape[:-1] + key_shape[-2:-1]]
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            use_scale=self.use_scale,
            score_mode=self.score_mode,
            dropout=self.dropout,
            seed=self.seed,
        )
        return config


@register("layer", "AdditiveAttention")
class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention, as Keras 3's ``AdditiveAttention``.

    As ``Attention``, but a query-key pair scores ``sum(scale * tanh(query + key))`` over the
    features, ``scale`` a trainable vector ``(dim,)`` (glorot-uniform initially) when
    ``use_scale`` (the default), else ones.

    Args:
        use_scale: learn the per-feature ``scale``.
        dropout: dropout rate on the attention probabilities while training.
        seed: seeds that dropout.

    Call arguments and outputs as ``Attention``'s. Weights: ``scale`` ``(dim,)`` when
    ``use_scale``.

    Example:
        >>> query, value = Input((8, 16)), Input((10, 16))
        >>> attended = AdditiveAttention()([query, value])  # (batch, 8, 16)
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs):
        # Keras's config has no score_mode; an old config's is ignored, as Keras ignores it
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape) -> None:
        query_shape = self._shapes(input_shape)[0]
        if self.use_scale:
            if query_shape[-1] is None:
                raise ValueError(
                    f"Layer '{self.name}' needs the query's last dimension to build its scale, "
                    f"got {query_shape}."
                )
            self.scale = self.add_weight("scale", (query_shape[-1],), "glorot_uniform")
        self.built = True

    def _calculate_scores(self, query: Tensor, key: Tensor) -> Tensor:
        # every query-key pair: (batch, Tq, 1, dim) + (batch, 1, Tv, dim)
        pairs = F.tanh(F.add(F.expand_dims(query, -2), F.expand_dims(key, -3)))
        if self.scale is not None:
            pairs = F.multiply(self.scale, pairs)
        return F.sum(pairs, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["score_mode"]
        return config


def _last_two_swapped(ndim: int) -> tuple:
    """The axes of a transpose that swaps the last two of ``ndim`` axes."""
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


@register("layer", "GroupedQueryAttention", "GroupQueryAttention")
class GroupedQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al., 2023), as Keras 3's ``GroupedQueryAttention``
    (alias ``GroupQueryAttention``): ``num_query_heads`` query heads share
    ``num_key_value_heads`` key and value heads, each kv head serving a group of
    ``num_query_heads // num_key_value_heads`` consecutive query heads.

    Args:
        head_dim: size of every head.
        num_query_heads: query heads.
        num_key_value_heads: key and value heads (divides ``num_query_heads``).
        dropout, use_bias, initializers, regularizers, constraints, seed: as
            ``MultiHeadAttention``.

    Weights (Keras's layout): ``query/kernel`` ``(dim, num_query_heads, head_dim)``,
    ``key/kernel`` and ``value/kernel`` ``(dim, num_key_value_heads, head_dim)``,
    ``attention_output/kernel`` ``(num_query_heads, head_dim, dim_query)``, with biases.
    """

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        sliding_window: Any = None,
        use_gate: bool = False,
        **kwargs,
    ):
        if sliding_window is not None or use_gate:
            raise ValueError(
                "GroupedQueryAttention sliding_window and use_gate are not supported by axonal."
            )
        super().__init__(
            num_heads=num_query_heads,
            key_dim=head_dim,
            dropout=dropout,
            use_bias=use_bias,
            **kwargs,
        )
        self.num_key_value_heads = _positive_int(num_key_value_heads, "num_key_value_heads")
        if self.num_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_query_heads ({self.num_heads}) must be a multiple of num_key_value_heads "
                f"({self.num_key_value_heads})."
            )

    def _key_value_heads(self) -> int:
        return self.num_key_value_heads

    def _shared_heads(self, t: Tensor) -> Tensor:
        groups = self.num_heads // self.num_key_value_heads
        if groups == 1:
            return t
        return F.take(t, xp.repeat(xp.arange(self.num_key_value_heads), groups), axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("num_heads", "key_dim", "value_dim", "output_shape", "attention_axes"):
            config.pop(key, None)
        config.update(
            head_dim=self.key_dim,
            num_query_heads=self.num_heads,
            num_key_value_heads=self.num_key_value_heads,
        )
        return config


__all__ = ["AdditiveAttention", "Attention", "GroupedQueryAttention", "MultiHeadAttention"]
