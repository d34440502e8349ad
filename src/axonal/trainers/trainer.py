"""Keras 3's overridable steps: ``train_step``, ``test_step``, ``predict_step``, ``metrics``.

``Model`` inherits ``Trainer``. The defaults do what ``fit``, ``evaluate`` and ``predict`` do
for one batch, through the model's own per-batch path (the same validation, loss, metrics and
update as ``train_on_batch``); a subclass overrides them the Keras way, and the step loop
(``axonal.trainers.step_loop``) calls the override once per batch:

    class GAN(axonal.Model):
        def train_step(self, data):
            x, y = data
            with axonal.GradientTape() as tape:
                loss = ...
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

``data`` is one batch as Keras packs it: ``(x, y)``, ``(x, y, sample_weight)`` or ``(x,)``, each
part a NumPy array (or a list / dict of them for several inputs or outputs).
"""

from __future__ import annotations

import functools

import numpy as np

from axonal import autograd
from axonal import functional as F
from axonal import metrics as metrics_module
from axonal.tensor import Tensor, as_tensor
from axonal.trainers.compile_metrics import as_array, per_output

# what a subclass may override to change fit / evaluate / predict (checked once per class)
STEP_NAMES = ("train_step", "test_step", "predict_step", "compute_loss", "compute_metrics")


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


class Trainer:
    """The per-batch steps ``fit`` / ``evaluate`` / ``predict`` run, overridable as in Keras,
    and the pieces a custom step is built from: ``compute_loss``, ``compute_metrics``,
    ``metrics``, ``get_metrics_result``."""

    def train_step(self, data) -> dict:
        """One training step on one batch; returns the logs (loss and metrics so far this epoch).

        The default runs the forward pass, ``compute_loss``, the gradients and the optimizer
        update, then ``compute_metrics`` (through a tuned path that gives the same result
        unless ``compute_loss`` / ``compute_metrics`` are overridden or the loss comes only
        from ``add_loss``).
        """
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        if self._compiled_loss_only():
            return self._fit_batch(x, y, sample_weight)
        self._require_compiled("fit")
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        self._loss_tracker.update_state(_scalar(loss), sample_weight=_batch_size(x))
        variables = self.trainable_weights
        if variables and getattr(loss, "requires_grad", False):
            seed = [np.ones_like(loss.data)]
            grads = autograd.gradients([loss], seed, variables)
            self.optimizer.apply(grads, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data) -> dict:
        """The loss and metrics of one batch, accumulated over the evaluation; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        if self._compiled_loss_only():
            return self._evaluate_batch(x, y, sample_weight)
        self._require_compiled("evaluate")
        with autograd.no_grad():
            y_pred = self(x, training=False)
            loss = self.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
            )
        self._loss_tracker.update_state(_scalar(loss), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        """The model's outputs for one batch, as NumPy arrays."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self.predict_on_batch(x)

    def _compiled_loss_only(self) -> bool:
        """Whether the tuned built-in step gives what Keras's generic one would: a compiled
        loss, and neither ``compute_loss`` nor ``compute_metrics`` overridden."""
        if overridden_steps(type(self)) & {"compute_loss", "compute_metrics"}:
            return False
        return any(head.loss is not None for head in self._output_heads)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss of one batch: the compiled loss plus every term in ``self.losses``
        (weight regularizers and ``add_loss`` terms). Override it to change the loss while
        keeping the built-in ``train_step``.

        Args:
            x: the batch's inputs (unused by the default).
            y: targets: an array, or a list / dict by output name for several outputs.
            y_pred: the model's outputs for ``x`` (Tensors, so the loss can be differentiated).
            sample_weight: per-sample weights, or None.
            training: whether this is a training step (unused by the default).

        Returns:
            A scalar Tensor.

        Example:
            >>> y_pred = model(x, training=True)
            >>> loss = model.compute_loss(y=y, y_pred=y_pred)
        """
        del x, training
        terms = []
        if any(head.loss is not None for head in self._output_heads):
            terms.append(self._compiled_loss_value(y, y_pred, sample_weight))
        for term in self.losses:
            term = term if isinstance(term, Tensor) else as_tensor(term)
            terms.append(term if term.data.ndim == 0 else F.sum(term))
        if not terms:
            raise ValueError(
                "No loss to compute: give compile() a loss, call add_loss() in a layer, or "
                "override compute_loss() / train_step()."
            )
        total = terms[0]
        for term in terms[1:]:
            total = F.add(total, term)
        return total

    def _compiled_loss_value(self, y, y_pred, sample_weight) -> Tensor:
        names = [head.name for head in self._output_heads]
        ys = per_output(y, names, "y")
        preds = per_output(y_pred, names, "y_pred")
        weights = per_output(sample_weight, names, "sample_weight")
        several = len(self._output_heads) > 1
        total = None
        for head, target, pred, weight in zip(self._output_heads, ys, preds, weights, strict=True):
            if head.loss is None:
                continue
            if target is None:
                raise ValueError(
                    f"compute_loss needs targets for output '{head.name}', whose compiled loss "
                    f"is {head.loss_name}; got y=None."
                )
            pred = pred if isinstance(pred, Tensor) else as_tensor(pred)
            if not isinstance(target, Tensor):
                target = np.asarray(target)
                if target.dtype != pred.data.dtype:
                    target = target.astype(pred.data.dtype)
            if weight is not None and not isinstance(weight, Tensor):
                weight = np.asarray(weight)
            value = head.loss(target, pred, weight)
            if several:
                head.loss_tracker.update_state(_scalar(value), sample_weight=len(pred.data))
            if head.weight != 1.0:
                value = F.multiply(value, head.weight)
            total = value if total is None else F.add(total, value)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics with one batch and return ``get_metrics_result()``.

        Override it to update metrics of your own; ``super().compute_metrics(...)`` keeps the
        compiled ones.
        """
        del x
        if getattr(self, "compiled", False) and self._compile_metrics.has_metrics():
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict:
        """``{name: value}`` of every metric in ``self.metrics``; a metric whose result is a
        dict (``compile_metrics``) contributes its entries."""
        out = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                out.update(result)
            else:
                out[metric.name] = result
        return out

    @property
    def metrics(self) -> list:
        """The model's metrics in Keras 3's order: the loss tracker (``'loss'``), the compiled
        metrics (one ``compile_metrics`` object), each output's loss for several outputs, then
        Metric objects assigned as attributes of the model and of its layers."""
        found = []
        if getattr(self, "compiled", False):
            found.append(self._loss_tracker)
            if self._compile_metrics.has_metrics():
                found.append(self._compile_metrics)
            if len(self._output_heads) > 1:
                found += [head.loss_tracker for head in self._output_heads if head.loss is not None]
        internal = {id(self._loss_tracker), id(self._compile_metrics)}
        for layer in self.nested_layers():
            if layer is not self and isinstance(layer, Trainer):
                continue  # a sub-model reports its own metrics through its own fit
            for value in vars(layer).values():
                if isinstance(value, metrics_module.Metric) and id(value) not in internal:
                    found.append(value)
        return found

    def reset_metrics(self) -> None:
        """Reset every metric in ``metrics`` (and the compiled loss and metric totals)."""
        if getattr(self, "compiled", False):
            self._reset_trackers()
        for metric in self.metrics:
            metric.reset_state()

    # Keras 2 spellings that published train_steps still use
    def compiled_loss(self, y, y_pred, sample_weight=None, regularization_losses=None):
        """Keras 2's ``self.compiled_loss(y, y_pred)``: the same as ``compute_loss``
        (regularization and ``add_loss`` terms are included, whatever is passed)."""
        del regularization_losses
        loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        # Keras 2's compiled loss kept the 'loss' metric itself
        self._loss_tracker.update_state(_scalar(loss), sample_weight=_batch_size(y_pred))
        return loss

    @property
    def compiled_metrics(self):
        """Keras 2's ``self.compiled_metrics.update_state(y, y_pred)``: updates the compiled
        metrics and every other metric in ``self.metrics`` but the loss, which
        ``compiled_loss`` tracks (as in Keras 2)."""
        return _CompiledMetricsShim(self)


class _CompiledMetricsShim:
    """What ``model.compiled_metrics`` returns: an object with Keras 2's ``update_state``."""

    def __init__(self, model) -> None:
        self._model = model

    def update_state(self, y, y_pred, sample_weight=None) -> None:
        """Update the model's metrics with one batch."""
        model = self._model
        for metric in model.metrics:
            if metric is model._loss_tracker:
                continue
            if isinstance(metric, metrics_module.Mean) and not isinstance(
                metric, metrics_module.MeanMetricWrapper
            ):
                metric.update_state(as_array(y_pred), sample_weight=sample_weight)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)


def _scalar(loss) -> float:
    return float(np.asarray(getattr(loss, "data", loss)))


def _batch_size(x) -> int:
    """Rows in the batch ``x`` (an array, or a list / dict of them)."""
    while isinstance(x, (list, tuple, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return len(getattr(x, "data", x))


@functools.cache
def overridden_steps(cls: type) -> frozenset:
    """The step methods ``cls`` defines itself instead of inheriting ``Trainer``'s (cached per
    class: ``predict`` asks on every call)."""
    return frozenset(n for n in STEP_NAMES if getattr(cls, n) is not getattr(Trainer, n))


__all__ = ["Trainer", "overridden_steps", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
