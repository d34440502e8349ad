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
import math
from math import isfinite
from typing import Any

import numpy as np

from axonal import autograd, kernels
from axonal import data as data_utils
from axonal import functional as F
from axonal import losses as losses_module
from axonal import metrics as metrics_module
from axonal import optimizers as optimizers_module
from axonal.allocator import keep_freed_memory
from axonal.backend import xp
from axonal.callbacks import (
    CallbackList,
    History,
    Progbar,
    resolve_verbose,
)
from axonal.layers.base import CALLS
from axonal.layers.masking import mask_of, masks_in_use
from axonal.parameter_buffer import ParameterBuffer
from axonal.tensor import Tensor, as_tensor
from axonal.trainers import array_loop, compile_utils, inference_plan, step_loop
from axonal.trainers import strategy as strategy_module
from axonal.trainers.batch_data import BatchData, adjust_rank
from axonal.trainers.compile_metrics import CompileMetrics, as_array, per_output
from axonal.trainers.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight

# what a subclass may override to change fit / evaluate / predict (checked once per class)
STEP_NAMES = ("train_step", "test_step", "predict_step", "compute_loss", "compute_metrics")


class Trainer(BatchData):
    """The per-batch steps ``fit`` / ``evaluate`` / ``predict`` run, overridable as in Keras,
    and the pieces a custom step is built from: ``compute_loss``, ``compute_metrics``,
    ``metrics``, ``get_metrics_result``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._output_heads: list = []
        self._paths_checked = False
        # the regularized weights while training steps run (fixed per epoch, as the variables
        # are); None outside them, where each loss walks the layers
        self._step_regularized: list[tuple] | None = None
        # the running loss ('loss' in the logs) and compile(metrics=...) as Keras 3's metrics
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_metrics = CompileMetrics(self)
        # a strategy from compile(distribute=...), e.g. axonal.distributed.DataParallel
        self._distribute = None
        # predict's plan of array calls (axonal.trainers.inference_plan), built on first use;
        # _predict_plan_checked says whether None means "none fits" or "not looked for yet"
        self._predict_plan = None
        self._predict_plan_checked = False

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

    @property
    def distribute_strategy(self):
        """The strategy from ``compile(distribute=...)`` (None: one process)."""
        return self._distribute

    def overrides(self, step: str) -> bool:
        """Whether this model's class overrides ``step`` (``train_step``, ``compute_loss``...)
        instead of inheriting ``Trainer``'s."""
        return step in overridden_steps(type(self))

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

    # losses that compare each target value with the output value at the same place

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: list | None = None,
        weighted_metrics: list | None = None,
        distribute: Any = None,
        jit_compile: bool | str = "auto",
        **kwargs,
    ) -> None:
        """Configure training: optimizer, loss, metrics (names, functions or objects).

        Args:
            optimizer: name (Keras defaults) or Optimizer instance. Default ``'rmsprop'``.
            loss: name, function ``f(y_true, y_pred)`` or Loss instance.
            loss_weights: a scale for the loss (one output), or a one-element list/dict.
            metrics: e.g. ``['accuracy']``; evaluated unweighted.
            weighted_metrics: metrics that take ``sample_weight`` into account.
            distribute: None (one process), or a strategy such as
                ``axonal.distributed.DataParallel()`` that ``fit`` trains with over MPI ranks.
            jit_compile: ``"auto"`` runs the optimizer's update as one compiled loop when numba
                is installed (``pip install -e '.[fast]'``) and the model is large; True
                at every size (warns if numba is missing); False never. Results are identical.

        Example:
            >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
            ...               metrics=["accuracy"])
        """
        ignored = {"run_eagerly", "steps_per_execution", "auto_scale_loss"}
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            raise TypeError(f"compile() got unexpected keyword argument(s): {', '.join(unknown)}.")
        if distribute is not None and not hasattr(distribute, "train_step"):
            raise TypeError(
                "compile(distribute=...) takes None or a strategy such as "
                f"axonal.distributed.DataParallel(), got {distribute!r}."
            )
        jit_compile = kernels.check_mode(jit_compile)
        names = self.output_names
        new_optimizer = optimizers_module.get(optimizer)
        specs = compile_utils.per_output(loss, names, "loss")
        heads_losses = [None if spec is None else losses_module.get(spec) for spec in specs]
        # no loss at all is allowed (Keras): add_loss terms, an overridden compute_loss or
        # train_step supply it, and fit says so when nothing does
        if loss is not None and all(head_loss is None for head_loss in heads_losses):
            raise ValueError(f"compile() needs a loss for at least one output of {names}.")
        if distribute is not None and loss is None:
            raise ValueError("compile(distribute=...) needs a loss for the strategy to train.")
        factors = compile_utils.loss_weights(loss_weights, names)
        metric_lists = compile_utils.metric_lists(metrics, names, "metrics")
        weighted_lists = compile_utils.metric_lists(weighted_metrics, names, "weighted_metrics")
        heads = []
        for i, name in enumerate(names):
            head_loss = heads_losses[i]
            loss_name = None if head_loss is None else compile_utils.loss_name(specs[i], head_loss)
            # resolve now so an unknown name fails here, not after the first epoch
            for spec in metric_lists[i] + weighted_lists[i]:
                compile_utils.resolve_metric(spec, loss_name)
            heads.append(
                compile_utils.OutputHead(
                    name, head_loss, loss_name, factors[i], metric_lists[i], weighted_lists[i]
                )
            )
        new_optimizer.jit_compile = jit_compile
        self.optimizer = new_optimizer
        self.jit_compile = jit_compile
        self.loss = heads_losses[0] if len(heads_losses) == 1 else heads_losses
        self._output_heads = heads
        self._distribute = distribute
        self.compiled = True

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {method}(): the model has no loss or optimizer."
            )

    def _resolve_metrics(self, ys: list, out_shapes: list) -> None:
        """Resolve each output's metrics now that target and output shapes are known."""
        for head, y, out_shape in zip(self._output_heads, ys, out_shapes, strict=True):
            if not head.resolved:
                head.resolve_metrics(y.shape, out_shape)

    def _structure_changed(self) -> None:
        """Layers were added or removed: check weight names and resolve 'accuracy' again."""
        self._paths_checked = False
        self._forget_predict_plan()
        for head in self._output_heads:
            head.metrics = []
            head.weighted_metrics = []

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values ``evaluate`` returns: ``['loss', *metrics]``."""
        return list(self._logs())

    def _pack_trainable_weights(self) -> None:
        """Pack the trainable weights into one ``ParameterBuffer`` and hand it to the optimizer,
        which then updates all of them with one fused step. Values are unchanged; packed again
        only when the set of weights changes or a weight was given a new array."""
        variables = self.trainable_weights
        key = tuple(id(v) for v in variables)
        packed = self.__dict__.get("_packed")
        if (
            packed is None
            or packed[0] != key
            or (packed[1] is not None and not packed[1].holds(variables))
        ):
            buffers = ParameterBuffer.pack(variables)
            # weights of several dtypes take the per-variable path
            packed = self._packed = (key, buffers[0] if len(buffers) == 1 else None)
            # the weights have new arrays: predict's plan would keep the old ones alive
            self._forget_predict_plan()
        if self.optimizer is not None:
            self.optimizer.use_buffer(packed[1])

    def _packed_buffer(self):
        """The ``ParameterBuffer`` holding the trainable weights (``_pack_trainable_weights``),
        or None: not packed yet, or weights of several dtypes."""
        packed = self.__dict__.get("_packed")
        return None if packed is None else packed[1]

    def _layer_chain(self) -> list | None:
        """The layers whose calls, in order, are this model's whole forward pass (each on the
        previous one's output), or None where the forward pass is more than that. ``fit``'s
        lean step for Dense stacks (``trainers.dense_chain``) starts from it."""
        return None

    @property
    def output_heads(self) -> list:
        """One ``OutputHead`` per model output once compiled: its loss, loss weight and
        metrics (what saving and the training strategies read)."""
        return self._output_heads

    def compute_losses(self, ys: list, preds: list, weights: list) -> tuple[Tensor, list]:
        """The total loss (each output's compiled loss times its weight, plus regularization
        and ``add_loss`` terms) and each output's loss, for prepared targets ``ys``, outputs
        ``preds`` and sample weights (one entry per output each)."""
        total = None
        per_output = []
        for head, y, pred, w in zip(self._output_heads, ys, preds, weights, strict=True):
            if head.loss is None:
                per_output.append(None)
                continue
            if masks_in_use():
                w = _with_timestep_mask(w, mask_of(pred))
            value = head.loss(y, pred, w)
            per_output.append(value)
            if head.weight != 1.0:
                value = F.multiply(value, head.weight)
            total = value if total is None else F.add(total, value)
        pairs = self._step_regularized
        for variable, regularizer in self.regularized_weights() if pairs is None else pairs:
            total = F.add(total, regularizer(variable))
        if CALLS.losses_added:
            for term in self.added_losses():
                total = F.add(total, term if term.data.ndim == 0 else F.sum(term))
        return total, per_output

    def _reset_trackers(self) -> None:
        self._loss_tracker.reset_state()
        for head in self._output_heads:
            head.reset()

    def track_batch(self, loss: Tensor, per_output: list, ys: list, preds: list, weights: list):
        """Add one batch to the running loss and compiled metrics (``compute_losses``'s results
        and the batch it ran on)."""
        n = len(ys[0])
        if n == 0:
            # an empty batch (Poisson sampling can draw one) has no loss to average in
            return
        if len(self._output_heads) == 1:
            self._track_arrays(loss.data, ys[0], preds[0].data, weights[0])
            return
        # totals added directly: Mean.update_state's checks cost more than this whole step
        tracker = self._loss_tracker
        tracker.total += float(loss.data) * n
        tracker.count += n
        for head, value, y, pred, w in zip(
            self._output_heads, per_output, ys, preds, weights, strict=True
        ):
            if value is not None:
                head.loss_tracker.total += float(value.data) * n
                head.loss_tracker.count += n
            head.update_metrics(y, pred.data, w)

    def _track_arrays(self, loss, y, pred, weight) -> None:
        """``track_batch`` for a model of one output, from arrays: the batch's loss value,
        targets, output and sample weights (or None); the batch is not empty."""
        n = len(y)
        # totals added directly: Mean.update_state's checks cost more than this whole step
        tracker = self._loss_tracker
        tracker.total += float(loss) * n
        tracker.count += n
        self._output_heads[0].update_metrics(y, pred, weight)

    def metric_totals(self) -> list[float]:
        """Every loss and metric accumulator, flat (summed over ranks in distributed fit)."""
        values = [self._loss_tracker.total, self._loss_tracker.count]
        for head in self._output_heads:
            values += [head.loss_tracker.total, head.loss_tracker.count]
            for m in head.metrics + head.weighted_metrics:
                values += [m.total, m.count]
        return values

    def set_metric_totals(self, values: list[float]) -> None:
        """Put back what ``metric_totals`` returned (in the same order)."""
        values = iter(values)
        self._loss_tracker.total, self._loss_tracker.count = next(values), next(values)
        for head in self._output_heads:
            head.loss_tracker.total, head.loss_tracker.count = next(values), next(values)
            for m in head.metrics + head.weighted_metrics:
                m.total, m.count = next(values), next(values)

    def _logs(self) -> dict:
        logs = {"loss": self._loss_tracker.result()}
        several = len(self._output_heads) > 1
        if several:
            for head in self._output_heads:
                if head.loss is not None:
                    logs[f"{head.name}_loss"] = head.loss_tracker.result()
        for head in self._output_heads:
            for m in head.metrics + head.weighted_metrics:
                logs[f"{head.name}_{m.name}" if several else m.name] = m.result()
        return logs

    def _test_step(self, xs: list, ys: list, weights: list) -> None:
        preds = self.compute_outputs(xs, training=False)
        loss, per_output = self.compute_losses(ys, preds, weights)
        self.track_batch(loss, per_output, ys, preds, weights)

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
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
    ) -> History:
        """Train for ``epochs`` epochs on arrays ``x``, ``y``; returns a ``History``.

        ``x`` and ``y`` are arrays, or lists / dicts of arrays for models with several inputs
        or outputs. All input is validated before any weight changes: a bad call raises and
        leaves the model as it was.

        Ctrl-C stops training at the next step boundary: the weights and the History of the
        completed epochs are kept, ``on_train_end`` runs, one line says so and ``fit`` returns
        the History (a second Ctrl-C raises ``KeyboardInterrupt`` at once).

        Example:
            >>> history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)
            >>> history.history["loss"][-1]
        """
        self._require_compiled("fit")
        keep_freed_memory()
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
        if self._runs_steps("train_step", x, validation_data, steps_per_epoch):
            if validation_split:
                if step_loop.is_streaming(x):
                    raise ValueError(
                        "validation_split takes in-memory arrays (Keras's rule too): with a "
                        f"{type(x).__name__}, pass validation_data instead."
                    )
                if validation_data is None:
                    (x, y, sample_weight), validation_data = step_loop.split_validation(
                        x, y, sample_weight, validation_split
                    )
            return step_loop.fit(
                self,
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                verbose=verbose,
                callbacks=callback_list,
                validation_data=validation_data,
                shuffle=shuffle,
                sample_weight=sample_weight,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                validation_batch_size=val_batch,
                validation_freq=validation_freq,
                class_weight=class_weight,
            )

        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, class_weight)
        validation = None
        if validation_data is not None:
            validation = self._prepare_validation(validation_data)
        elif validation_split:
            arrays = xs + ys + weights
            train, held_out = data_utils.split_validation(arrays, validation_split)
            xs, ys, weights = array_loop.regroup(train, len(xs), len(ys))
            validation = array_loop.regroup(held_out, len(xs), len(ys))
        self._ensure_built(xs)
        self._pack_trainable_weights()
        self._resolve_metrics(ys, out_shapes)

        return array_loop.fit(
            self,
            strategy_module.for_model(self),
            xs,
            ys,
            weights,
            validation,
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callback_list,
            shuffle=shuffle,
            initial_epoch=initial_epoch,
            validation_batch_size=val_batch,
            validation_freq=validation_freq,
        )

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight=None,
        callbacks: list | None = None,
        return_dict: bool = False,
        steps: int | None = None,
    ):
        """Loss and metrics on ``x``, ``y``: a scalar without metrics, else ``[loss, *metrics]``.

        ``x`` may also be data that streams (a generator, a ``PyDataset``, a ``Dataset``), read
        for ``steps`` batches or to its end.

        Example:
            >>> loss, accuracy = model.evaluate(x_test, y_test)
        """
        self._require_compiled("evaluate")
        keep_freed_memory()
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        if self._runs_steps("test_step", x, None, steps):
            return step_loop.evaluate(
                self,
                x,
                y,
                batch_size=batch_size,
                verbose=verbose,
                sample_weight=sample_weight,
                steps=steps,
                callbacks=callbacks,
                return_dict=return_dict,
            )
        verbose = resolve_verbose(verbose)
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, None)
        self._ensure_built(xs)
        self._resolve_metrics(ys, out_shapes)
        steps = math.ceil(len(xs[0]) / batch_size)
        cbs = CallbackList(
            callbacks or [], model=self, params={"verbose": verbose, "epochs": 1, "steps": steps}
        )
        progbar = Progbar(steps, verbose) if verbose else None
        logs = array_loop.evaluate(self, xs, ys, weights, batch_size, cbs, progbar)
        return self._result(logs, return_dict)

    def predict(
        self,
        x,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: list | None = None,
        steps: int | None = None,
    ):
        """Model outputs for ``x`` as a NumPy array (a list for several outputs), without a graph.

        ``x`` may also be data that streams (a generator, a ``PyDataset``, a ``Dataset``).

        Example:
            >>> probabilities = model.predict(x_test)
        """
        plan = self._predict_plan
        if (
            plan is not None
            and type(x) is xp.ndarray
            and x.dtype is plan.dtype
            and x.shape[1:] == plan.sample_shape
            and not callbacks
            and steps is None
            and (0 < len(x) <= 32 if batch_size is None else _fits_batch(len(x), batch_size))
            # what resolve_verbose takes ('auto' itself only matters for a progress bar)
            and verbose in _VERBOSE_VALUES
        ):
            # one batch of rows the model's plan takes (built by an earlier call): the general
            # path's checks that can fail here are the batch size, verbose and these values
            if x.size > 16 or not isfinite(sum(x.ravel().tolist())):
                data_utils.check_finite(x, "x")
            try:
                out = plan.run(x)
            except inference_plan.Stale:
                self._forget_predict_plan()
                out = None
            if out is not None:
                return out
        keep_freed_memory()
        batch_size = (
            32 if batch_size is None else data_utils.check_positive_int(batch_size, "batch_size")
        )
        if self._runs_steps("predict_step", x, None, steps):
            return step_loop.predict(self, x, batch_size=batch_size, steps=steps)
        # a progress bar per predict call floods loops; show it only on a terminal
        verbose = resolve_verbose(verbose)
        if not callbacks and self._takes_plain_batch(x, batch_size):
            # the common small call (one array, one batch): validated as below, minus the
            # conversions an array of the model's dtype does not need
            data_utils.check_finite(x, "x")
            expected = self.input_shape
            if expected is None or x.shape[1:] != tuple(expected[1:]):
                x = adjust_rank(x, expected)
                self._check_input_shape(x, "x")  # raises, unless an axis is left open (None)
            return self._predict_batch([x])
        xs = self.prepare_inputs(x)
        n = len(xs[0])
        if n <= batch_size and not callbacks:
            # one batch, nobody listening: skip the callback and progress machinery
            return self._predict_batch(xs)
        steps = math.ceil(n / batch_size)
        progbar = Progbar(steps, 1) if verbose == 1 and n > batch_size else None
        if not callbacks and progbar is None:
            # nobody listening, nothing to show: only the batches
            outputs = [
                self._predict_batch([x[part] for x in xs])
                for part in data_utils.batch_slices(n, batch_size)
            ]
            return self._joined(outputs) if outputs else self._predict_batch(xs)
        cbs = CallbackList(
            callbacks or [], model=self, params={"verbose": verbose, "epochs": 1, "steps": steps}
        )
        cbs.call("on_predict_begin", None)
        outputs = []
        for step, part in enumerate(data_utils.batch_slices(n, batch_size)):
            cbs.call("on_predict_batch_begin", step, None)
            outputs.append(self._predict_batch([x[part] for x in xs]))
            cbs.call("on_predict_batch_end", step, {"outputs": outputs[-1]})
            if progbar is not None:
                progbar.update(step + 1)
        if progbar is not None:
            progbar.update(steps, finalize=True)
        cbs.call("on_predict_end", None)
        return self._joined(outputs) if outputs else self._predict_batch(xs)

    @staticmethod
    def _joined(outputs: list):
        """The batches' outputs as one array (a list of arrays for several outputs)."""
        if len(outputs) == 1:
            return outputs[0]
        if isinstance(outputs[0], list):
            return [xp.concatenate(parts) for parts in zip(*outputs, strict=True)]
        return xp.concatenate(outputs)

    def _runs_steps(self, step: str, x, validation_data, steps: int | None) -> bool:
        """Whether fit/evaluate/predict go through the Keras step loop: the model overrides
        ``step``, the data streams, or a number of steps is given."""
        if steps is not None or step in overridden_steps(type(self)):
            return True
        if step != "predict_step" and not self._compiled_loss_only():
            return True
        if type(x) is not xp.ndarray and step_loop.is_streaming(x):
            return True
        return validation_data is not None and step_loop.is_streaming(validation_data)

    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False
    ):
        """One gradient step on one batch; returns its loss (and metrics)."""
        self._require_compiled("train_on_batch")
        self._reset_trackers()
        return self._result(self._fit_batch(x, y, sample_weight, class_weight), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._require_compiled("test_on_batch")
        self._reset_trackers()
        return self._result(self._evaluate_batch(x, y, sample_weight), return_dict)

    def _fit_batch(self, x, y, sample_weight, class_weight=None) -> dict:
        """One validated gradient step, added to the epoch's running loss and metrics."""
        self._require_compiled("fit")
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, class_weight)
        self._ensure_built(xs)
        self._pack_trainable_weights()
        self._resolve_metrics(ys, out_shapes)
        strategy_module.local_for_model(self).train_step(
            self, xs, ys, weights, self.trainable_weights
        )
        return self._logs()

    def _evaluate_batch(self, x, y, sample_weight) -> dict:
        """One validated batch's loss and metrics, added to the running totals."""
        self._require_compiled("evaluate")
        xs, ys, weights, out_shapes = self._prepare(x, y, sample_weight, None)
        self._ensure_built(xs)
        self._resolve_metrics(ys, out_shapes)
        with autograd.no_grad():
            self._test_step(xs, ys, weights)
        return self._logs()

    def predict_on_batch(self, x):
        """Outputs for one batch as an array (a list for several outputs)."""
        return self._predict_batch(self.prepare_inputs(x))

    def _predict_batch(self, xs: list):
        if len(xs) == 1:
            out = self._run_predict_plan(xs[0])
            if out is not None:
                return out
        with autograd.no_grad():
            return self.infer(xs[0] if len(xs) == 1 else xs)

    def _run_predict_plan(self, x):
        """``infer(x)`` by the model's plan of array calls (built on first use), or None where
        there is no plan or it does not take ``x`` (``x`` is validated)."""
        if not self._predict_plan_checked and self.built:
            self._predict_plan = self._make_predict_plan()
            self._predict_plan_checked = True
        plan = self._predict_plan
        if (
            plan is None
            or type(x) is not xp.ndarray
            or x.dtype is not plan.dtype
            or x.shape[1:] != plan.sample_shape
        ):
            return None
        try:
            return plan.run(x)
        except inference_plan.Stale:
            self._forget_predict_plan()
            return None

    def _make_predict_plan(self):
        """The plan for ``infer`` (``axonal.trainers.inference_plan``), or None where none fits."""
        if "predict_step" in overridden_steps(type(self)):
            # predict runs the model's own step; a plan would skip it
            return None
        return inference_plan.build_plan(self._inference_chain(), self.dtype, self.input_shape)

    def __getstate__(self) -> dict:
        """The attributes ``copy`` and ``pickle`` take, less predict's plan: its closures are
        bound to this model's layers and arrays (a copy builds its own when it predicts)."""
        state = dict(self.__dict__)
        state["_predict_plan"] = None
        state["_predict_plan_checked"] = False
        return state

    def _forget_predict_plan(self) -> None:
        """The layers changed: build predict's plan again when next needed."""
        self._predict_plan = None
        self._predict_plan_checked = False

    def _inference_chain(self) -> list | None:
        """The layers ``infer`` applies one after another to an array (what predict's plan is
        built from), or None where ``infer`` is not such a chain (the default)."""
        return None

    @staticmethod
    def _result(logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


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


def _with_timestep_mask(sample_weight, mask):
    """Fold an output's timestep mask into the sample weights, as Keras does for losses.

    Masked steps weigh 0 and the rest are scaled so ``sum_over_batch_size`` averages over the
    real steps only.
    """
    if mask is None:
        return sample_weight
    mask = xp.asarray(mask, dtype=xp.float32)
    real = float(mask.sum())
    weights = mask * (mask.size / real) if real else mask
    return data_utils.times_sample_weight(weights, sample_weight)


# the values of verbose that resolve_verbose takes (False and True compare equal to 0 and 1)
_VERBOSE_VALUES = (0, 1, 2, "auto")


def _fits_batch(rows: int, batch_size) -> bool:
    """Whether ``rows`` (at least one) fit one batch of ``batch_size``, a valid one (an int,
    not a bool)."""
    return type(batch_size) is int and 0 < rows <= batch_size


@functools.cache
def overridden_steps(cls: type) -> frozenset:
    """The step methods ``cls`` defines itself instead of inheriting ``Trainer``'s (cached per
    class: ``predict`` asks on every call)."""
    return frozenset(n for n in STEP_NAMES if getattr(cls, n) is not getattr(Trainer, n))


__all__ = ["Trainer", "overridden_steps", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
