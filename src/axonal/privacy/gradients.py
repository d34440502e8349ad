"""Per-example gradients of a model's loss, and the checks a private model must pass."""

from __future__ import annotations

import numpy as np

from axonal import data as data_utils
from axonal import functional as F
from axonal.layers.masking import mask_of, masks_in_use
from axonal.layers.normalization import BatchNormalization
from axonal.privacy.per_example import PerExampleGradients
from axonal.tensor import Tensor

# losses whose value is a mean over the batch: the sum over examples is batch size times it
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")
# layers whose output for one example depends on the other examples of the batch
_BATCH_MIXING = (BatchNormalization,)


def check_private_model(model) -> None:
    """Raise if ``model`` has a layer that mixes examples, so DP-SGD cannot train it.

    A BatchNormalization layer in training normalizes each example with statistics of the whole
    batch: one example's output, and so every other example's gradient, depends on it. There is
    then no per-example gradient to clip, and the DP guarantee does not hold.

    Raises:
        ValueError: naming the layer and the reason.

    Example:
        >>> check_private_model(model)  # doctest: +SKIP
    """
    for layer in model.nested_layers():
        if isinstance(layer, _BATCH_MIXING) and layer.trainable:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) normalizes each example with "
                "statistics of the whole batch, so one example's output depends on the others: "
                "per-example gradients, and with them the DP-SGD guarantee, do not exist. Use "
                "LayerNormalization instead (or freeze the layer: trainable=False makes it use "
                "its moving statistics)."
            )


def sum_of_example_losses(model, ys: list, preds: list, weights: list, per_output: list) -> Tensor:
    """``sum_i L_i``: the model's data loss as a sum over examples of each one's own loss.

    A loss that averages over the batch is ``(1 / batch) sum_i L_i``; times the batch size it is
    the sum. Loss weights of several outputs carry over. An output with a timestep mask is
    scored again with each example's real steps averaged on their own: the model's loss averages
    over the real steps of the whole batch, which would make one example's gradient depend on
    how many real steps the others have.

    Args:
        model: the compiled model; ``ys``, ``preds``, ``weights``: one entry per output, as
            ``Model._compute_loss`` takes them; ``per_output``: its per-output losses.
    """
    total = None
    batch = len(ys[0])
    parts = zip(model.output_heads, ys, preds, weights, per_output, strict=True)
    for head, y, pred, weight, value in parts:
        if value is None:
            continue
        mask = mask_of(pred) if masks_in_use() else None
        if mask is not None:
            value = head.loss(y, pred, _per_example_step_weights(weight, mask))
        reduction = getattr(head.loss, "reduction", "sum_over_batch_size")
        scale = float(head.weight) * (batch if reduction in _MEAN_REDUCTIONS else 1.0)
        term = F.multiply(value, scale)
        total = term if total is None else F.add(total, term)
    return total


def _per_example_step_weights(sample_weight, mask):
    """Step weights that average each example's loss over its own real steps."""
    mask = np.asarray(mask, dtype=np.float32)
    steps = mask[0].size if len(mask) else 1
    real = mask.reshape(len(mask), -1).sum(axis=1)
    # an example with no real step contributes nothing
    scale = np.where(real > 0, steps / np.maximum(real, 1.0), 0.0).astype(np.float32)
    weights = mask * scale.reshape((-1,) + (1,) * (mask.ndim - 1))
    return data_utils.times_sample_weight(weights, sample_weight)


def per_example_gradients(model, x, y, sample_weight=None) -> dict[str, np.ndarray]:
    """Each example's gradient of its own loss, for every trainable weight, in one pass.

    Example ``i``'s gradient is what ``x[i:i+1]``, ``y[i:i+1]`` alone would give with the
    compiled loss (the batch-mean loss of one example is that example's loss). The forward pass
    runs in training mode (dropout active). Regularization penalties are not included: they
    belong to no example.

    Args:
        model: a compiled model.
        x, y: inputs and targets, as ``fit`` takes them.
        sample_weight: optional per-example weights.

    Returns:
        ``{weight path: array (n, *weight shape)}``, e.g. ``{'dense/kernel': (n, 4, 3)}``;
        weights the loss does not reach are absent.

    Raises:
        ValueError: a layer mixes examples (BatchNormalization) or uses its weights through an
            operation without a per-example rule.

    Example:
        >>> grads = per_example_gradients(model, x[:8], y[:8])
        >>> grads["dense/kernel"].shape  # doctest: +SKIP
        (8, 4, 3)
    """
    if not getattr(model, "compiled", False):
        raise RuntimeError(
            "per_example_gradients() needs a compiled model: the loss defines the gradients."
        )
    xs, ys, weights = model.prepare_batch(x, y, sample_weight)
    check_private_model(model)
    variables = model.trainable_weights
    batch = len(xs[0])
    preds = model.compute_outputs(xs, training=True)
    _, per_output = model.compute_losses(ys, preds, weights)
    root = sum_of_example_losses(model, ys, preds, weights, per_output)
    found = PerExampleGradients(root, variables, batch, materialize_all=True).materialized()
    return {v.path: found[id(v)] for v in variables if id(v) in found}


__all__ = ["check_private_model", "per_example_gradients", "sum_of_example_losses"]
