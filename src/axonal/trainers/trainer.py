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

from axonal import metrics as metrics_module

STEP_NAMES = ("train_step", "test_step", "predict_step")


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
    """The batch tuple Keras hands a step: ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


class Trainer:
    """The per-batch steps ``fit`` / ``evaluate`` / ``predict`` run, overridable as in Keras."""

    def train_step(self, data) -> dict:
        """One training step on one batch; returns the logs (loss and metrics so far this epoch).

        The default validates the batch, runs the forward pass, the loss, the backward pass and
        the optimizer update, and updates the compiled metrics.
        """
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        return self._fit_batch(x, y, sample_weight)

    def test_step(self, data) -> dict:
        """The loss and metrics of one batch, accumulated over the evaluation; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        return self._evaluate_batch(x, y, sample_weight)

    def predict_step(self, data):
        """The model's outputs for one batch, as NumPy arrays."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self.predict_on_batch(x)

    @property
    def metrics(self) -> list:
        """The ``Metric`` objects assigned as attributes of the model (Keras tracks them, and
        resets them at the start of every epoch and evaluation)."""
        return [v for v in vars(self).values() if isinstance(v, metrics_module.Metric)]

    def reset_metrics(self) -> None:
        """Reset the compiled loss and metric accumulators and every metric in ``metrics``."""
        reset = getattr(self, "_reset_trackers", None)
        if reset is not None and getattr(self, "compiled", False):
            reset()
        for metric in self.metrics:
            metric.reset_state()


@functools.cache
def overridden_steps(cls: type) -> frozenset:
    """The step methods ``cls`` defines itself instead of inheriting ``Trainer``'s (cached per
    class: ``predict`` asks on every call)."""
    return frozenset(n for n in STEP_NAMES if getattr(cls, n) is not getattr(Trainer, n))


__all__ = ["Trainer", "overridden_steps", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
