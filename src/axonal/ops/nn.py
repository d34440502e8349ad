"""``keras.ops.nn``: activations, softmax, one-hot, moments, losses as ops and dot-product
attention, with Keras's argument order (losses take ``(target, output)``)."""

from __future__ import annotations

import numpy as np

from axonal import functional as F
from axonal import losses as losses_module
from axonal.backend import floatx, standardize_dtype
from axonal.functional import (
    elu,
    gelu,
    hard_sigmoid,
    hard_silu,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    swish,
    tanh,
)
from axonal.primitives.attention import MASKED_SCORE
from axonal.tensor import Tensor, as_tensor


def one_hot(x, num_classes: int, axis: int = -1, dtype=None) -> Tensor:
    """Integer labels ``x`` as one-hot vectors along a new ``axis`` (an index outside
    ``[0, num_classes)`` gives all zeros, as Keras)."""
    labels = np.asarray(getattr(x, "data", x)).astype(np.int64)
    eye = np.eye(num_classes, dtype=standardize_dtype(dtype or floatx()))
    valid = (labels >= 0) & (labels < num_classes)
    out = eye[np.where(valid, labels, 0)] * valid[..., None]
    return Tensor(np.moveaxis(out, -1, axis) if axis != -1 else out)


def moments(x, axes, keepdims: bool = False) -> tuple:
    """The mean and (biased) variance of ``x`` over ``axes`` (differentiable)."""
    x = as_tensor(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    mean = F.mean(x, axis=axes, keepdims=True)
    variance = F.mean(F.square(F.subtract(x, mean)), axis=axes, keepdims=keepdims)
    if not keepdims:
        mean = F.squeeze(mean, axes)
    return mean, variance


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """Per-sample cross-entropy of integer ``target`` labels and ``output`` probabilities."""
    return losses_module.sparse_categorical_crossentropy(
        target, output, from_logits=from_logits, axis=axis
    )


def categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """Per-sample cross-entropy of one-hot ``target`` and ``output`` probabilities."""
    return losses_module.categorical_crossentropy(
        target, output, from_logits=from_logits, axis=axis
    )


def binary_crossentropy(target, output, from_logits=False) -> Tensor:
    """Element-wise binary cross-entropy (not averaged, as Keras's op)."""
    output = as_tensor(output)
    target = np.asarray(getattr(target, "data", target), dtype=output.data.dtype)
    if from_logits:
        # log(1 + e^x) - t x, written with softplus so large |x| cannot overflow
        return F.subtract(F.softplus(output), F.multiply(output, target))
    eps = 1e-7
    clipped = F.clip(output, eps, 1 - eps)
    positive = F.multiply(F.log(clipped), target)
    negative = F.multiply(F.log(F.subtract(1.0, clipped)), 1 - target)
    return F.negative(F.add(positive, negative))


def dot_product_attention(
    query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None
) -> Tensor:
    """Keras's ``ops.dot_product_attention``: inputs ``(batch, T/S, heads, head_dim)``,
    ``softmax(q kᵀ · scale + bias)`` with ``mask`` (True: attend) and ``is_causal``, one fused
    op; returns ``(batch, T, heads, value_dim)``."""
    q, k, v = (F.transpose(as_tensor(t), (0, 2, 1, 3)) for t in (query, key, value))
    dtype = q.data.dtype
    adder = None
    if bias is not None:
        adder = np.asarray(getattr(bias, "data", bias), dtype=dtype)
    allowed = None if mask is None else np.asarray(getattr(mask, "data", mask), dtype=bool)
    if is_causal:
        causal = np.tri(q.data.shape[2], k.data.shape[2], dtype=bool)
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        masked = np.where(allowed, 0.0, MASKED_SCORE).astype(dtype)
        adder = masked if adder is None else adder + masked
    out = F.scaled_dot_product_attention(q, k, v, adder=adder, scale=scale)
    return F.transpose(out, (0, 2, 1, 3))


__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "dot_product_attention",
    "elu",
    "gelu",
    "hard_sigmoid",
    "hard_silu",
    "leaky_relu",
    "log_softmax",
    "moments",
    "one_hot",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "sparse_categorical_crossentropy",
    "swish",
    "tanh",
]
