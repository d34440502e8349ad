"""What ``compile`` turns its arguments into: one ``OutputHead`` per model output."""

from __future__ import annotations

from axonal import autograd
from axonal import losses as losses_module
from axonal import metrics as metrics_module


class OutputHead:
    """The loss, loss weight and metrics of one model output, and their running totals.

    Args:
        name: the output's name (the producing layer's name).
        loss: a Loss, or None when this output is not trained.
        loss_name: the loss function's name, used to resolve ``'accuracy'``.
        weight: the factor of this output's loss in the total.
        metric_specs: entries of ``compile(metrics=...)`` for this output.
        weighted_specs: entries of ``compile(weighted_metrics=...)`` for this output.
    """

    def __init__(self, name, loss, loss_name, weight, metric_specs, weighted_specs):
        self.name = name
        self.loss = loss
        self.loss_name = loss_name
        self.weight = weight
        self.metric_specs = metric_specs
        self.weighted_specs = weighted_specs
        self.metrics: list = []
        self.weighted_metrics: list = []
        # this output's loss (reported as '<name>_loss' when the model has several outputs)
        self.loss_tracker = metrics_module.Mean(name=f"{name}_loss")

    def resolve_metrics(self, y_shape: tuple, pred_shape: tuple) -> None:
        """Turn the specs into Metric objects now that target and output shapes are known."""
        self.metrics = [
            resolve_metric(s, self.loss_name, y_shape, pred_shape) for s in self.metric_specs
        ]
        self.weighted_metrics = [
            resolve_metric(s, self.loss_name, y_shape, pred_shape) for s in self.weighted_specs
        ]
        plain = {m.name for m in self.metrics}
        for m in self.weighted_metrics:
            if m.name in plain:
                m.name = "weighted_" + m.name

    @property
    def resolved(self) -> bool:
        """Whether metrics were resolved (or there are none to resolve)."""
        wanted = len(self.metric_specs) + len(self.weighted_specs)
        return len(self.metrics) + len(self.weighted_metrics) == wanted

    def reset(self) -> None:
        """Zero the running loss and every metric."""
        self.loss_tracker.reset_state()
        for m in self.metrics + self.weighted_metrics:
            m.reset_state()

    def update_metrics(self, y, pred, sample_weight) -> None:
        """Update the metrics with one batch (arrays)."""
        for m in self.metrics:
            m.update_state(y, pred)
        for m in self.weighted_metrics:
            m.update_state(y, pred, sample_weight)


def resolve_metric(spec, loss_name, y_shape=None, pred_shape=None):
    """A Metric for one ``compile(metrics=...)`` entry; loss names work too (Keras allows them)."""
    try:
        return metrics_module.resolve(spec, loss_name, y_shape, pred_shape)
    except ValueError as unknown_metric:
        if not isinstance(spec, str):
            raise
        try:
            loss = losses_module.get(spec)
        except ValueError:
            raise unknown_metric from None

    def per_sample(y_true, y_pred):
        with autograd.no_grad():
            return loss.call(y_true, y_pred).data

    return metrics_module.MeanMetricWrapper(per_sample, name=spec)


def loss_name(identifier, loss) -> str | None:
    """The name of the loss function behind ``loss`` (for resolving 'accuracy')."""
    if isinstance(identifier, str):
        fn = getattr(losses_module.get(identifier), "fn", None)
        return getattr(fn, "__name__", identifier)
    fn = getattr(loss, "fn", None)
    return getattr(fn, "__name__", getattr(loss, "name", None))


def per_output(value, names: list[str], what: str, default=None) -> list:
    """One entry per output from a single value, a list in output order, or a dict by name."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"{what} names unknown output(s) {unknown}; the model's outputs are {names}."
            )
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(
                f"{what} has {len(value)} entries but the model has {len(names)} outputs "
                f"({names}); give one per output or a dict by output name."
            )
        return list(value)
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return list(value)
    if isinstance(value, (list, tuple)):
        raise ValueError(
            f"{what} has {len(value)} entries but the model has one output ({names[0]!r})."
        )
    return [value for _ in names]


def metric_lists(value, names: list[str], what: str) -> list[list]:
    """Per-output metric lists: a flat list applies to every output; nesting or a dict splits."""
    if value is None:
        return [[] for _ in names]
    if isinstance(value, dict):
        return [as_list(v, what) for v in per_output(value, names, what, default=None)]
    if (
        isinstance(value, (list, tuple))
        and len(names) > 1
        and value
        and all(v is None or isinstance(v, (list, tuple)) for v in value)
    ):
        return [as_list(v, what) for v in per_output(list(value), names, what)]
    flat = as_list(value, what)
    return [list(flat) for _ in names]


def as_list(value, name: str) -> list:
    """A metric entry as a list (None: empty)."""
    if value is None:
        return []
    if isinstance(value, (str, dict)) or callable(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"{name} must be a list, got {type(value).__name__}.")


def loss_weights(value, names: list[str]) -> list[float]:
    """Per-output loss factors (default 1.0)."""
    if value is None:
        return [1.0 for _ in names]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value) for _ in names]
    return [1.0 if v is None else float(v) for v in per_output(value, names, "loss_weights")]
