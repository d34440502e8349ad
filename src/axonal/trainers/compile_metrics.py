"""``compile(metrics=...)`` as one Metric, the way Keras 3's ``model.metrics`` shows it.

Keras 3 lists a compiled model's metrics as ``[loss tracker, compile_metrics, ...]``, where
``compile_metrics`` is one object whose ``update_state(y, y_pred, sample_weight)`` updates every
metric given to ``compile`` and whose ``result()`` is a dict of them. Custom ``train_step``s
rely on that shape:

    for metric in self.metrics:
        if metric.name == "loss":
            metric.update_state(loss)
        else:
            metric.update_state(y, y_pred)
    return {m.name: m.result() for m in self.metrics}   # fit flattens the nested dict
"""

from __future__ import annotations

import numpy as np

from axonal import metrics as metrics_module


def per_output(value, names: list[str], what: str) -> list:
    """``value`` (one array, a list in output order, or a dict by output name) as one entry
    per output; None stays None for every output."""
    if value is None:
        return [None] * len(names)
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"{what} is missing {missing}; the model's outputs are {names}.")
        return [value[n] for n in names]
    if len(names) == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return [value[0]]
        return [value]
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        raise ValueError(
            f"The model has {len(names)} outputs ({', '.join(names)}): {what} must be a list of "
            f"{len(names)} or a dict by output name, got {type(value).__name__}."
        )
    return list(value)


def as_array(value):
    """A Tensor's array, or ``value`` as a NumPy array."""
    return np.asarray(getattr(value, "data", value))


class CompileMetrics(metrics_module.Metric):
    """Every metric given to ``compile``, updated and reported together.

    Args:
        model: the compiled model, whose output heads hold the metric objects.
    """

    def __init__(self, model) -> None:
        super().__init__(name="compile_metrics")
        self._model = model

    @property
    def metrics(self) -> list:
        """The metric objects, output by output (empty until the first update resolves
        ``'accuracy'`` against the targets' shape)."""
        return [
            m for head in self._model.output_heads for m in head.metrics + head.weighted_metrics
        ]

    def has_metrics(self) -> bool:
        """Whether ``compile`` was given any metric."""
        return any(head.metric_specs or head.weighted_specs for head in self._model.output_heads)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Update every compiled metric with one batch (one entry per output, or one array)."""
        model = self._model
        names = [head.name for head in model.output_heads]
        ys = [None if y is None else as_array(y) for y in per_output(y_true, names, "y")]
        preds = [as_array(p) for p in per_output(y_pred, names, "y_pred")]
        weights = per_output(sample_weight, names, "sample_weight")
        for head, y, pred, weight in zip(model.output_heads, ys, preds, weights, strict=True):
            if y is None:
                continue
            if not head.resolved:
                head.resolve_metrics(y.shape, pred.shape)
            head.update_metrics(y, pred, None if weight is None else as_array(weight))

    def result(self) -> dict:
        """``{name: value}`` for every compiled metric (prefixed by output for several)."""
        heads = self._model.output_heads
        several = len(heads) > 1
        out = {}
        for head in heads:
            for m in head.metrics + head.weighted_metrics:
                out[f"{head.name}_{m.name}" if several else m.name] = m.result()
        return out

    def reset_state(self) -> None:
        """Reset every compiled metric."""
        for m in self.metrics:
            m.reset_state()
