"""Model: compile, fit, evaluate, predict and friends on top of a layer graph's ``call``."""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from typing import Any

from axonal import autograd
from axonal import data as data_utils
from axonal import functional as F
from axonal import losses as losses_module
from axonal import metrics as metrics_module
from axonal import optimizers as optimizers_module
from axonal.backend import rng, xp
from axonal.callbacks import (
    CallbackList,
    History,
    Progbar,
    ProgbarLogger,
    resolve_verbose,
)
from axonal.layers.base import Layer, shape_str
from axonal.tensor import Tensor, Variable

_SPARSE_LOSSES = (losses_module.sparse_categorical_crossentropy,)
# shuffled data up to this size is copied once per epoch; larger data is gathered per batch
_EPOCH_COPY_BYTES = 1 << 20
# losses that compare each target value with the output value at the same place
_ELEMENTWISE_LOSSES = (
    losses_module.mean_squared_error,
    losses_module.mean_absolute_error,
    losses_module.huber,
    losses_module.log_cosh,
    losses_module.binary_crossentropy,
)


class Model(Layer):
    """A trainable stack or graph of layers with the Keras training API.

    Subclasses define ``call(inputs, training=False)`` (``Sequential`` chains its layers) and
    ``layers``. The model is compiled with an optimizer, loss and metrics, then trained with
    ``fit`` on NumPy arrays; every user-facing method takes and returns plain arrays.
    """

    def __init__(self, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._metric_specs: list = []
        self._weighted_metric_specs: list = []
        self._metrics: list = []
        self._weighted_metrics: list = []
        self._paths_checked = False
        self._loss_weight = 1.0
        self._loss_total = 0.0
        self._loss_count = 0.0

    # ------------------------------------------------------------ structure (subclasses)
    @property
    def layers(self) -> list[Layer]:
        """The model's layers, in order."""
        return []

    @property
    def weights(self) -> list[Variable]:
        """Every layer's weights, layer by layer (each layer: trainable, then the rest)."""
        return _unique([w for layer in self.layers for w in layer.weights])

    @property
    def trainable_weights(self) -> list[Variable]:
        """Weights that training updates."""
        if not self.trainable:
            return []
        return _unique([w for layer in self.layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """Weights that training leaves alone."""
        if not self.trainable:
            return self.weights
        return _unique([w for layer in self.layers for w in layer.non_trainable_weights])

    def regularization_losses(self) -> list[Tensor]:
        """Penalties from every layer's regularizers."""
        return [loss for layer in self.layers for loss in layer.regularization_losses()]

    @property
    def input_shape(self) -> tuple | None:
        """Batch input shape, e.g. ``(None, 4)``, once known."""
        return None

    def _check_unique_paths(self) -> None:
        seen: dict[str, Variable] = {}
        for w in self.weights:
            if w.path in seen and seen[w.path] is not w:
                raise ValueError(
                    f"Two different weights are named '{w.path}': give the layers distinct names."
                )
            seen[w.path] = w

    # ------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: list | None = None,
        weighted_metrics: list | None = None,
        **kwargs,
    ) -> None:
        """Configure training: optimizer, loss, metrics (names, functions or objects).

        Args:
            optimizer: name (Keras defaults) or Optimizer instance. Default ``'rmsprop'``.
            loss: name, function ``f(y_true, y_pred)`` or Loss instance.
            loss_weights: a scale for the loss (one output), or a one-element list/dict.
            metrics: e.g. ``['accuracy']``; evaluated unweighted.
            weighted_metrics: metrics that take ``sample_weight`` into account.

        Example:
            >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
            ...               metrics=["accuracy"])
        """
        ignored = {"run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"}
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            raise TypeError(f"compile() got unexpected keyword argument(s): {', '.join(unknown)}.")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse'.")
        new_optimizer = optimizers_module.get(optimizer)
        new_loss = losses_module.get(loss)
        loss_name = _loss_name(loss, new_loss)
        metric_specs = _as_list(metrics, "metrics")
        weighted_specs = _as_list(weighted_metrics, "weighted_metrics")
        # resolve now so an unknown name fails here, not after the first epoch
        for spec in metric_specs + weighted_specs:
            _resolve_metric(spec, loss_name)
        self._loss_weight = _single_loss_weight(loss_weights)
        self.optimizer = new_optimizer
        self.loss = new_loss
        self._loss_name = loss_name
        self._metric_specs = metric_specs
        self._weighted_metric_specs = weighted_specs
        self._metrics = []
        self._weighted_metrics = []
        self.compiled = True

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {method}(): the model has no loss or optimizer."
            )

    def _resolve_metrics(self, y_shape: tuple, pred_shape: tuple) -> None:
        """Turn metric specs into Metric objects now that target and output shapes are known."""
        if self._metrics or self._weighted_metrics:
            return
        resolve = _resolve_metric
        self._metrics = [
            resolve(s, self._loss_name, y_shape, pred_shape) for s in self._metric_specs
        ]
        self._weighted_metrics = [
            resolve(s, self._loss_name, y_shape, pred_shape) for s in self._weighted_metric_specs
        ]
        for m in self._weighted_metrics:
            if m.name in {n.name for n in self._metrics}:
                m.name = "weighted_" + m.name

    def _structure_changed(self) -> None:
        """Layers were added or removed: check weight names and resolve 'accuracy' again."""
        self._paths_checked = False
        self._metrics = []
        self._weighted_metrics = []

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values ``evaluate`` returns: ``['loss', *metrics]``."""
        return ["loss"] + [m.name for m in self._metrics + self._weighted_metrics]

    # ------------------------------------------------------------ data preparation
    def _prepare(self, x, y, sample_weight=None, class_weight=None, prefix: str = ""):
        """Validate and convert one data set; raises before anything changes."""
        x_name, y_name = f"{prefix}x", f"{prefix}y"
        x = data_utils.to_array(x, x_name)
        x = x.astype(self._input_dtype(x), copy=False)
        data_utils.check_finite(x, x_name)
        self._check_input_shape(x, x_name)
        if y is None:
            raise ValueError(f"{y_name} (the targets) is required for training and evaluation.")
        y = data_utils.to_array(y, y_name)
        data_utils.check_finite(y, y_name)
        data_utils.check_lengths({x_name: x, y_name: y})
        if len(x) == 0:
            # no batches would run and the logged loss would be a made-up 0.0
            raise ValueError(f"{x_name} has no samples (shape {x.shape}); at least one is needed.")
        out_shape = self.compute_output_shape((None,) + x.shape[1:])
        y = self._check_targets(y, out_shape, y_name)
        weights = data_utils.sample_weights(
            y, sample_weight, class_weight, len(x), x.dtype if x.dtype.kind == "f" else self.dtype
        )
        return x, y, weights, out_shape

    def _input_dtype(self, x):
        if x.dtype.kind in "biu" and getattr(self, "_integer_inputs", False):
            return x.dtype
        return self.dtype

    def _check_input_shape(self, x, name: str) -> None:
        expected = self.input_shape
        if expected is None:
            return
        got = x.shape
        want = expected[1:]
        if got[1:] == want:
            return
        if len(got) - 1 != len(want) or any(
            w is not None and w != g for w, g in zip(want, got[1:], strict=False)
        ):
            detail = ""
            if len(want) == 1 and len(got) == 2:
                detail = f": {got[1]} features instead of {want[0]}"
            raise ValueError(
                f"Model '{self.name}' expects samples of shape {tuple(want)} (input shape "
                f"{shape_str(expected)}), got {name} with shape {got}{detail}."
            )

    def _check_targets(self, y, out_shape: tuple, name: str):
        loss_fn = getattr(self.loss, "fn", None)
        if loss_fn in _SPARSE_LOSSES:
            classes = out_shape[-1]
            if classes is not None:
                data_utils.check_sparse_labels(y, classes, name)
            return y.astype(xp.int64, copy=False)
        if loss_fn is losses_module.categorical_crossentropy:
            want = out_shape[1:]
            if y.shape[1:] != tuple(want):
                raise ValueError(
                    f"categorical_crossentropy needs one-hot targets of shape (samples, "
                    f"{', '.join(str(d) for d in want)}), got {name} with shape {y.shape}; "
                    "for integer labels use sparse_categorical_crossentropy "
                    "(or axonal.utils.to_categorical)."
                )
        if loss_fn in _ELEMENTWISE_LOSSES:
            _check_target_shape(y, out_shape, name, loss_fn.__name__)
        if y.dtype.kind != "f" or y.dtype != self.dtype:
            y = y.astype(self.dtype)
        return y

    def _pack_trainable_weights(self) -> None:
        """Move the trainable weights into one contiguous buffer per dtype, in order.

        Each variable's array becomes a view of the buffer, so the optimizer can update all of
        them with one fused step. Values are unchanged; done again only when the set changes.
        """
        variables = self.trainable_weights
        key = tuple(id(v) for v in variables)
        if key == getattr(self, "_packed_key", None):
            return
        by_dtype: dict = {}
        for variable in variables:
            by_dtype.setdefault(variable.data.dtype, []).append(variable)
        for dtype, group in by_dtype.items():
            buffer = xp.empty(sum(v.data.size for v in group), dtype=dtype)
            position = 0
            for variable in group:
                size = variable.data.size
                view = buffer[position : position + size].reshape(variable.data.shape)
                view[...] = variable.data
                variable.data = view
                position += size
        self._packed_key = key

    def _ensure_built(self, x_shape: tuple) -> None:
        if not self.built:
            self.build_from_shape((None,) + tuple(x_shape[1:]))
        if not self._paths_checked:
            self._check_unique_paths()
            self._paths_checked = True

    # ------------------------------------------------------------ steps
    def _compute_loss(self, y, pred: Tensor, sample_weight) -> Tensor:
        loss = self.loss(y, pred, sample_weight)
        if self._loss_weight != 1.0:
            loss = F.multiply(loss, self._loss_weight)
        for penalty in self.regularization_losses():
            loss = F.add(loss, penalty)
        return loss

    def _reset_trackers(self) -> None:
        self._loss_total = 0.0
        self._loss_count = 0.0
        for m in self._metrics + self._weighted_metrics:
            m.reset_state()

    def _track(self, loss: Tensor, y, pred, sample_weight) -> None:
        n = len(y)
        self._loss_total += float(loss.data) * n
        self._loss_count += n
        for m in self._metrics:
            m.update_state(y, pred)
        for m in self._weighted_metrics:
            m.update_state(y, pred, sample_weight)

    def _logs(self) -> dict:
        logs = {"loss": self._loss_total / self._loss_count if self._loss_count else 0.0}
        for m in self._metrics + self._weighted_metrics:
            logs[m.name] = m.result()
        return logs

    def _train_step(self, x, y, sample_weight, variables: list | None = None) -> None:
        pred = self.call(x, training=True)
        loss = self._compute_loss(y, pred, sample_weight)
        if variables is None:
            variables = self.trainable_weights
        if loss.requires_grad:
            for v in variables:
                v.grad = None
            loss.backward()
            self.optimizer.apply_gradients([(v.grad, v) for v in variables])
        self._track(loss, y, pred.data, sample_weight)

    def _test_step(self, x, y, sample_weight) -> None:
        pred = self.call(x, training=False)
        loss = self._compute_loss(y, pred, sample_weight)
        self._track(loss, y, pred.data, sample_weight)

    # ------------------------------------------------------------ fit
    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: list | None = None,
        validation_split: float = 0.0,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight=None,
        initial_epoch: int = 0,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` epochs on arrays ``x``, ``y``; returns a ``History``.

        All input is validated before any weight changes: a bad call raises and leaves the
        model as it was.

        Example:
            >>> history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)
            >>> history.history["loss"][-1]
        """
        self._require_compiled("fit")
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        epochs = data_utils.check_positive_int(epochs, "epochs", minimum=0)
        initial_epoch = data_utils.check_positive_int(initial_epoch, "initial_epoch", minimum=0)
        validation_freq = data_utils.check_positive_int(validation_freq, "validation_freq")
        val_batch = (
            batch_size
            if validation_batch_size is None
            else data_utils.check_positive_int(validation_batch_size, "validation_batch_size")
        )
        verbose = resolve_verbose(verbose)
        callback_list = list(callbacks or [])

        x, y, weights, out_shape = self._prepare(x, y, sample_weight, class_weight)
        validation = None
        if validation_data is not None:
            validation = self._prepare_validation(validation_data)
        elif validation_split:
            (x, y, weights), (xv, yv, wv) = data_utils.split_validation(
                [x, y, weights], validation_split
            )
            validation = (xv, yv, wv)
        self._ensure_built(x.shape)
        self._pack_trainable_weights()
        self._resolve_metrics(y.shape, out_shape)

        history = History()
        steps = math.ceil(len(x) / batch_size)
        builtin = [history] + ([ProgbarLogger()] if verbose else [])
        cbs = CallbackList(
            builtin + callback_list,
            model=self,
            params={"verbose": verbose, "epochs": epochs, "steps": steps},
        )
        self.stop_training = False
        self.history = history
        cbs.call("on_train_begin", None)
        batch_begin = cbs.has("on_train_batch_begin")
        batch_end = cbs.has("on_train_batch_end")
        logs: dict = {}
        n = len(x)
        for epoch in range(initial_epoch, epochs):
            # per epoch, not per step: a callback may freeze layers between epochs
            variables = self.trainable_weights
            self._reset_trackers()
            cbs.call("on_epoch_begin", epoch, None)
            xe, ye, we = x, y, weights
            order = rng().permutation(n) if shuffle else None
            if order is not None and x.nbytes <= _EPOCH_COPY_BYTES:
                # small data: one gather per epoch is cheaper than one per batch
                xe, ye = x[order], y[order]
                we = None if weights is None else weights[order]
                order = None
            for step, part in enumerate(data_utils.batch_slices(n, batch_size)):
                if batch_begin:
                    cbs.call("on_train_batch_begin", step, None)
                if order is not None:
                    # large data: gather each batch by index, never a shuffled copy of the epoch
                    part = order[part]
                self._train_step(xe[part], ye[part], None if we is None else we[part], variables)
                if batch_end:
                    cbs.call("on_train_batch_end", step, self._logs())
                if self.stop_training:
                    break
            logs = self._logs()
            if validation is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_arrays(*validation, val_batch, cbs)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        cbs.call("on_train_end", logs)
        return history

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            got = type(validation_data).__name__
            if isinstance(validation_data, (tuple, list)):
                got += f" of length {len(validation_data)}"
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val), got {got}."
            )
        xv, yv = validation_data[0], validation_data[1]
        wv = validation_data[2] if len(validation_data) == 3 else None
        xv, yv, wv, _ = self._prepare(xv, yv, wv, None, prefix="validation_data ")
        return xv, yv, wv

    def _evaluate_arrays(self, x, y, weights, batch_size: int, cbs=None, progbar=None) -> dict:
        self._reset_trackers()
        if cbs is not None:
            cbs.call("on_test_begin", None)
        with autograd.no_grad():
            for step, part in enumerate(data_utils.batch_slices(len(x), batch_size)):
                if cbs is not None:
                    cbs.call("on_test_batch_begin", step, None)
                self._test_step(x[part], y[part], None if weights is None else weights[part])
                if cbs is not None:
                    cbs.call("on_test_batch_end", step, None)
                if progbar is not None:
                    progbar.update(step + 1, self._logs())
        logs = self._logs()
        if progbar is not None:
            progbar.update(progbar.target, logs, finalize=True)
        if cbs is not None:
            cbs.call("on_test_end", logs)
        return logs

    # ------------------------------------------------------------ evaluate / predict
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight=None,
        callbacks: list | None = None,
        return_dict: bool = False,
    ):
        """Loss and metrics on ``x``, ``y``: a scalar without metrics, else ``[loss, *metrics]``.

        Example:
            >>> loss, accuracy = model.evaluate(x_test, y_test)
        """
        self._require_compiled("evaluate")
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        verbose = resolve_verbose(verbose)
        x, y, weights, out_shape = self._prepare(x, y, sample_weight, None)
        self._ensure_built(x.shape)
        self._resolve_metrics(y.shape, out_shape)
        steps = math.ceil(len(x) / batch_size)
        cbs = CallbackList(
            callbacks or [], model=self, params={"verbose": verbose, "epochs": 1, "steps": steps}
        )
        progbar = Progbar(steps, verbose) if verbose else None
        logs = self._evaluate_arrays(x, y, weights, batch_size, cbs, progbar)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: list | None = None,
    ):
        """Model outputs for ``x`` as a NumPy array, computed in batches without a graph.

        Example:
            >>> probabilities = model.predict(x_test)
        """
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        # a progress bar per predict call floods loops; show it only on a terminal
        verbose = resolve_verbose(verbose)
        x = self._prepare_inputs(x)
        if len(x) <= batch_size and not callbacks:
            # one batch, nobody listening: skip the callback and progress machinery
            return self._predict_batch(x)
        steps = math.ceil(len(x) / batch_size)
        cbs = CallbackList(
            callbacks or [], model=self, params={"verbose": verbose, "epochs": 1, "steps": steps}
        )
        progbar = Progbar(steps, 1) if verbose == 1 and len(x) > batch_size else None
        cbs.call("on_predict_begin", None)
        outputs = []
        with autograd.no_grad():
            for step, part in enumerate(data_utils.batch_slices(len(x), batch_size)):
                cbs.call("on_predict_batch_begin", step, None)
                outputs.append(self.call(x[part], training=False).data)
                cbs.call("on_predict_batch_end", step, {"outputs": outputs[-1]})
                if progbar is not None:
                    progbar.update(step + 1)
        if progbar is not None:
            progbar.update(steps, finalize=True)
        cbs.call("on_predict_end", None)
        if not outputs:
            out_shape = self.compute_output_shape((0,) + x.shape[1:])
            return xp.zeros((0,) + tuple(out_shape[1:]), dtype=self.dtype)
        return outputs[0] if len(outputs) == 1 else xp.concatenate(outputs)

    def _prepare_inputs(self, x):
        x = data_utils.to_array(x, "x")
        x = x.astype(self._input_dtype(x), copy=False)
        data_utils.check_finite(x, "x")
        self._check_input_shape(x, "x")
        self._ensure_built(x.shape)
        return x

    # ------------------------------------------------------------ single batches
    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False
    ):
        """One gradient step on one batch; returns its loss (and metrics)."""
        self._require_compiled("train_on_batch")
        x, y, weights, out_shape = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_built(x.shape)
        self._pack_trainable_weights()
        self._resolve_metrics(y.shape, out_shape)
        self._reset_trackers()
        self._train_step(x, y, weights)
        return self._batch_result(return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._require_compiled("test_on_batch")
        x, y, weights, out_shape = self._prepare(x, y, sample_weight, None)
        self._ensure_built(x.shape)
        self._resolve_metrics(y.shape, out_shape)
        self._reset_trackers()
        with autograd.no_grad():
            self._test_step(x, y, weights)
        return self._batch_result(return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch as an array."""
        return self._predict_batch(self._prepare_inputs(x))

    def _predict_batch(self, x):
        with autograd.no_grad():
            return self.infer(x)

    def _batch_result(self, return_dict: bool):
        logs = self._logs()
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------ description
    def summary(self, line_length: int | None = None, print_fn: Callable | None = None) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does."""
        text = self._summary_text(line_length or 78)
        if print_fn is None:
            sys.stdout.write(text)
        else:
            for line in text.rstrip("\n").split("\n"):
                print_fn(line)

    def _summary_rows(self) -> list[tuple[str, str, str]]:
        return []

    def _summary_text(self, width: int) -> str:
        cols = [int(width * 0.45) - 2, int(width * 0.33) - 2]
        cols.append(width - sum(cols) - 4)
        out = io.StringIO()
        out.write(f'Model: "{self.name}"\n')

        def border(left, mid, right, fill):
            return left + mid.join(fill * (c + 2) for c in cols) + right + "\n"

        def row(cells, edge="│"):
            parts = [
                f" {cells[0]:<{cols[0]}} ",
                f" {cells[1]:<{cols[1]}} ",
                f" {cells[2]:>{cols[2]}} ",
            ]
            return edge + edge.join(parts) + edge + "\n"

        out.write(border("┏", "┳", "┓", "━"))
        out.write(row(("Layer (type)", "Output Shape", "Param #"), "┃"))
        out.write(border("┡", "╇", "┩", "━"))
        rows = self._summary_rows()
        for i, cells in enumerate(rows):
            out.write(row(cells))
            if i < len(rows) - 1:
                out.write(border("├", "┼", "┤", "─"))
        out.write(border("└", "┴", "┘", "─"))
        trainable = sum(int(w.data.size) for w in self.trainable_weights)
        total = self.count_params()
        total_bytes = sum(int(w.data.nbytes) for w in self.weights)
        train_bytes = sum(int(w.data.nbytes) for w in self.trainable_weights)
        out.write(f" Total params: {total:,} ({_bytes(total_bytes)})\n")
        out.write(f" Trainable params: {trainable:,} ({_bytes(train_bytes)})\n")
        out.write(
            f" Non-trainable params: {total - trainable:,} ({_bytes(total_bytes - train_bytes)})\n"
        )
        return out.getvalue()


def _resolve_metric(spec, loss_name, y_shape=None, pred_shape=None):
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


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _check_target_shape(y, out_shape: tuple, name: str, loss_name: str) -> None:
    """Targets must match the output sample for sample, before a broadcast makes nonsense."""
    want = tuple(out_shape[1:])
    got = tuple(y.shape[1:])
    # as in Keras, (samples,) targets meet (samples, 1) outputs, and the other way round
    if want and len(got) == len(want) - 1 and want[-1] == 1:
        got = got + (1,)
    elif len(got) == len(want) + 1 and got[-1] == 1:
        got = got[:-1]
    if len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got, strict=True)):
        return
    raise ValueError(
        f"{loss_name} compares each target with the model output in the same place: the model "
        f"outputs samples of shape {want}, but {name} has shape {y.shape} (samples of shape "
        f"{tuple(y.shape[1:])})."
    )


def _unique(weights: list) -> list:
    seen = set()
    out = []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _as_list(value, name: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, dict)) or callable(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"{name} must be a list, got {type(value).__name__}.")


def _loss_name(identifier, loss) -> str | None:
    if isinstance(identifier, str):
        fn = getattr(losses_module.get(identifier), "fn", None)
        return getattr(fn, "__name__", identifier)
    fn = getattr(loss, "fn", None)
    return getattr(fn, "__name__", getattr(loss, "name", None))


def _single_loss_weight(loss_weights) -> float:
    if loss_weights is None:
        return 1.0
    if isinstance(loss_weights, (int, float)) and not isinstance(loss_weights, bool):
        return float(loss_weights)
    values = list(loss_weights.values()) if isinstance(loss_weights, dict) else list(loss_weights)
    if len(values) != 1:
        raise ValueError(f"loss_weights has {len(values)} entries but the model has one output.")
    return float(values[0])
