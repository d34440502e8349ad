"""Callbacks: hooks into fit/evaluate/predict (Keras hook names), History and the progress bar.

Callbacks talk to the model by duck typing (``model.stop_training``, ``model.get_weights``); this
module never imports models.
"""

from __future__ import annotations

import inspect
import io
import math
import operator
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from typing import Any

from axonal.atomic import atomic_write
from axonal.backend import xp


class Callback:
    """Base class: override any ``on_*`` hook; ``self.model`` and ``self.params`` are set by fit.

    Set the class attribute ``rank_zero_only = True`` on a callback that only prints or writes
    files and never changes training: under ``axonal.distributed.DataParallel`` it then runs on
    rank 0 alone (``ModelCheckpoint``, ``CSVLogger`` and the progress bar do), while the others
    (``EarlyStopping``, ``ReduceLROnPlateau``...) run on every rank and, seeing the same logs,
    decide the same.

    Example:
        >>> class PrintLoss(Callback):
        ...     rank_zero_only = True
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    rank_zero_only: bool = False

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        """Attach the model being trained."""
        self.model = model

    def set_params(self, params: dict) -> None:
        """Receive ``verbose``, ``epochs`` and ``steps`` from the training loop."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit``."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch with its metrics (and ``val_`` metrics)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch."""

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the running epoch metrics."""

    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` (and of validation)."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate``."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation batch."""

    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction batch."""


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls a hook on every callback in order; skips callbacks that do not override it."""

    def __init__(self, callbacks=None, model=None, params: dict | None = None):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}.")
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)
        # per hook, only the callbacks that override it: the batch hooks run every step
        # (an instance attribute counts too: LambdaCallback sets its functions that way)
        self._active = {
            hook: [
                getattr(cb, hook)
                for cb in self.callbacks
                if hook in vars(cb) or getattr(type(cb), hook) is not getattr(Callback, hook)
            ]
            for hook in _HOOKS
        }

    def has(self, hook: str) -> bool:
        """Whether any callback overrides ``hook``."""
        return bool(self._active[hook])

    def call(self, hook: str, *args) -> None:
        """Run ``hook`` on the callbacks that define it."""
        for fn in self._active[hook]:
            fn(*args)


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']`` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def plot(self, path=None, metrics=None):
        """Draw loss and each metric per epoch (training and validation) with matplotlib.

        Needs the ``plot`` extra (``pip install -e '.[plot]'``); see ``axonal.plot.history``.

        Args:
            path: save the figure there as a PNG when given.
            metrics: the quantities to draw (default: all).

        Returns:
            The matplotlib ``Figure``.

        Example:
            >>> model.fit(x, y, epochs=20, validation_split=0.2).plot("curves.png")
        """
        from axonal.plot import history as plot_history

        return plot_history(self, path=path, metrics=metrics)


def format_value(value: Any) -> str:
    """Keras-style number formatting: 4 decimals, scientific when tiny."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"
    return str(value)


def format_time(seconds: float) -> str:
    """``0s``, ``12s``, ``1:05`` or ``1:02:03``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def format_per_step(seconds: float) -> str:
    """Time per step as ``12ms/step`` or ``340us/step``."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """A progress bar on a stream: in place (``verbose=1``) or one line at the end (``2``).

    In-place redraws are throttled to ``interval`` seconds, so a fast loop does not spend its
    time printing.
    """

    WIDTH = 20

    def __init__(self, target: int | None, verbose: int = 1, stream=None, interval: float = 0.05):
        self.target = target
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.interval = interval
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.drawn_width = 0

    def update(self, current: int, logs: dict | None = None, finalize: bool = False) -> None:
        """Show progress at step ``current`` with ``logs``; ``finalize`` ends the line."""
        now = time.perf_counter()
        if self.verbose == 1:
            if not finalize and now - self.last_draw < self.interval:
                return
            self.last_draw = now
            self._draw_in_place(current, logs or {}, now, finalize)
        elif self.verbose == 2 and finalize:
            elapsed = now - self.start
            per_step = format_per_step(elapsed / max(current, 1))
            line = f"{current}/{self.target} - {format_time(elapsed)} - {per_step}"
            self.stream.write(line + _logs_text(logs or {}) + "\n")
            self.stream.flush()

    def _draw_in_place(self, current: int, logs: dict, now: float, finalize: bool) -> None:
        elapsed = now - self.start
        target = self.target
        if target:
            digits = len(str(target))
            fraction = min(current / target, 1.0)
            filled = int(self.WIDTH * fraction)
            bar = "━" * filled + ("╸" if filled < self.WIDTH and not finalize else "")
            bar = bar.ljust(self.WIDTH, "─") if not finalize else "━" * self.WIDTH
            head = f"{current:>{digits}}/{target} {bar} "
            if finalize:
                timing = f"{format_time(elapsed)} {format_per_step(elapsed / max(current, 1))}"
            else:
                eta = elapsed / max(current, 1) * (target - current)
                timing = f"ETA {format_time(eta)}"
        else:
            head = f"{current} "
            timing = format_time(elapsed)
        line = head + timing + _logs_text(logs)
        pad = max(self.drawn_width - len(line), 0)
        self.stream.write("\r" + line + " " * pad + ("\n" if finalize else ""))
        self.stream.flush()
        self.drawn_width = len(line)


def _logs_text(logs: dict) -> str:
    return "".join(f" - {key}: {format_value(value)}" for key, value in logs.items())


def resolve_verbose(verbose, stream=None) -> int:
    """Turn ``'auto'`` into 1 on a terminal and 2 otherwise (logs stay free of carriage returns)."""
    if verbose == "auto":
        stream = stream or sys.stdout
        isatty = getattr(stream, "isatty", None)
        return 1 if isatty is not None and isatty() else 2
    if verbose in (0, 1, 2) and not isinstance(verbose, bool):
        return int(verbose)
    if isinstance(verbose, bool):
        return int(verbose)
    raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")


class ProgbarLogger(Callback):
    """Prints ``Epoch i/N`` and a progress bar per epoch (``verbose`` 1) or a line (2)."""

    rank_zero_only = True

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.bar: Progbar | None = None
        self.seen = 0

    def _verbose(self) -> int:
        return self.params.get("verbose", 1)

    def on_epoch_begin(self, epoch, logs=None):
        stream = self.stream or sys.stdout
        if self._verbose():
            stream.write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")
        self.bar = Progbar(self.params.get("steps"), self._verbose(), stream)
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.bar is not None and self._verbose() == 1:
            self.bar.update(self.seen, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.update(self.seen, logs, finalize=True)


# ------------------------------------------------------------ monitoring a logged quantity

# Fragments of a metric's name that say which way is better, for mode='auto'. Keras 3 asks each
# metric object for its direction; axonal's metrics are known by their names.
_HIGHER_IS_BETTER = (
    "accuracy",
    "auc",
    "precision",
    "recall",
    "f1_score",
    "fbeta_score",
    "iou",
    "r2_score",
    "cosine_similarity",
)
_LOWER_IS_BETTER = (
    "loss",
    "error",
    "crossentropy",
    "hinge",
    "divergence",
    "poisson",
    "log_cosh",
    "logcosh",
    "huber",
)
_LOWER_IS_BETTER_NAMES = ("mse", "mae", "mape", "msle", "rmse", "kld")


def _direction_from_name(monitor: str) -> str | None:
    """'max' or 'min' from a monitored quantity's name (``val_`` and output prefixes allowed)."""
    name = monitor.removeprefix("val_").lower()
    if name == "loss" or name.endswith("_loss"):
        return "min"
    last = name.rsplit("_", 1)[-1]
    if name in ("acc",) or last == "acc" or any(part in name for part in _HIGHER_IS_BETTER):
        return "max"
    if last in _LOWER_IS_BETTER_NAMES or any(part in name for part in _LOWER_IS_BETTER):
        return "min"
    return None


class MonitorCallback(Callback):
    """Base class of callbacks that watch one logged quantity for improvement (Keras 3's).

    Args:
        monitor: the key in the epoch logs, e.g. ``'val_loss'`` or ``'accuracy'``.
        mode: ``'min'``, ``'max'``, or ``'auto'`` (inferred from the name: losses and errors go
            down, accuracies go up).
        baseline: the initial best value; None to take the first value seen.
        min_delta: an improvement must beat the best by more than this.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self) -> None:
        direction = self.mode if self.mode != "auto" else _direction_from_name(self.monitor)
        if direction is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but axonal "
                "can't tell whether that metric should be maximized or minimized. Pass "
                "`mode='max'` in order to monitor based on the highest metric value, or pass "
                "`mode='min'` in order to use the lowest value."
            )
        if direction == "min":
            self.monitor_op = operator.lt
            # an improvement must go below the best by more than min_delta
            self.min_delta = -abs(self.min_delta)
        else:
            self.monitor_op = operator.gt
            self.min_delta = abs(self.min_delta)

    def _is_improvement(self, monitor_value, reference_value) -> bool:
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))


def _missing_key_warning(what: str, monitor: str, logs: dict) -> None:
    warnings.warn(
        f"{what} conditioned on metric `{monitor}` which is not available. "
        f"Available metrics are: {','.join(logs)}",
        stacklevel=3,
    )


def _print(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


class EarlyStopping(MonitorCallback):
    """Stop training when a monitored quantity has stopped improving.

    At the end of each epoch the monitored value is compared with the best so far; after
    ``patience`` epochs without an improvement of more than ``min_delta``, ``fit`` stops.

    Args:
        monitor: the quantity to watch. Defaults to ``'val_loss'``.
        min_delta: the smallest change that counts as an improvement. Defaults to 0.
        patience: epochs without improvement before stopping. Defaults to 0.
        verbose: 1 prints a line when stopping or restoring weights. Defaults to 0.
        mode: ``'auto'``, ``'min'`` or ``'max'``. Defaults to ``'auto'``.
        baseline: training stops if the model does not improve on this value within
            ``patience`` epochs. Defaults to None.
        restore_best_weights: at the end of training, set the weights of the best epoch.
            Defaults to False.
        start_from_epoch: epochs to wait before monitoring starts (a warm-up). Defaults to 0.

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[stop])
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        # the same instance can be used for several fit calls
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # nothing better seen yet: the current weights are the best
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # patience restarts only when both the baseline and the best so far are beaten
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        """The monitored value from ``logs``, or None (with a warning) when it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            _missing_key_warning("Early stopping", self.monitor, logs)
        return value


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) after each epoch, or every ``save_freq`` batches.

    ``filepath`` may hold ``str.format`` fields filled from ``epoch`` (1-based, as in Keras),
    ``batch`` (when saving by batch) and the epoch's logs: ``'ckpt-{epoch:02d}-{val_loss:.2f}'``.
    Saving calls ``model.save(path)`` or ``model.save_weights(path)``, which write atomically.

    Args:
        filepath: where to save; a missing folder is created.
        monitor: the quantity that decides which model is best. Defaults to ``'val_loss'``.
        verbose: 1 prints a line per save decision. Defaults to 0.
        save_best_only: save only when the monitored quantity improves. Defaults to False.
        save_weights_only: save only the weights. Defaults to False.
        mode: ``'auto'``, ``'min'`` or ``'max'``. Defaults to ``'auto'``.
        save_freq: ``'epoch'``, or save every this many batches. Defaults to ``'epoch'``.
        initial_value_threshold: the best value to beat at first (with ``save_best_only``).

    Example:
        >>> checkpoint = ModelCheckpoint("best.axonal", monitor="val_accuracy",
        ...                              save_best_only=True)
        >>> model.fit(x, y, epochs=20, validation_split=0.2, callbacks=[checkpoint])
    """

    rank_zero_only = True

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        valid_int = isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq > 0
        if save_freq != "epoch" and not valid_int:
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or a "
                "positive integer (a number of batches)."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None and self.save_best_only:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            # a new epoch: batches count from 0 again
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs) -> None:
        logs = dict(logs or {})
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used is "
                f"an existing directory: {filepath}"
            )
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        """``filepath`` with ``{epoch}``, ``{batch}`` and the logs' values filled in."""
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {error} '
                f"is not one of the available fields: {', '.join(fields)}."
            ) from None


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when a monitored quantity stops improving.

    Also adds the current ``learning_rate`` to each epoch's logs (so it lands in ``History``).

    Args:
        monitor: the quantity to watch. Defaults to ``'val_loss'``.
        factor: the new rate is ``rate * factor`` (< 1). Defaults to 0.1.
        patience: epochs without improvement before reducing. Defaults to 10.
        verbose: 1 prints a line per reduction. Defaults to 0.
        mode: ``'auto'``, ``'min'`` or ``'max'``. Defaults to ``'auto'``.
        min_delta: the smallest change that counts as an improvement. Defaults to 1e-4.
        cooldown: epochs to wait after a reduction before counting again. Defaults to 0.
        min_lr: the rate is never reduced below this. Defaults to 0.

    Example:
        >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5,
        ...                               min_lr=0.001)
        >>> model.fit(x, y, validation_split=0.2, callbacks=[reduce_lr])
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        if kwargs:
            raise TypeError(
                f"ReduceLROnPlateau got unexpected keyword argument(s): {', '.join(kwargs)}."
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self) -> bool:
        """Whether a reduction happened less than ``cooldown`` epochs ago."""
        return self.cooldown_counter > 0

    def _reduce_lr(self, epoch: int) -> bool:
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        # compared in float32, as Keras stores the rate: once at min_lr, no more "reductions"
        if xp.float32(old_lr) > xp.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                )
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if logs is None:
            logs = {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            _missing_key_warning("Learning rate reduction is", self.monitor, logs)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    Also adds the epoch's ``learning_rate`` to its logs (so it lands in ``History``).

    Args:
        schedule: a function of the epoch index (from 0) and the current learning rate that
            returns the new rate (a float). A one-argument ``schedule(epoch)`` works too.
        verbose: 1 prints the rate each epoch. Defaults to 0.

    Example:
        >>> def scheduler(epoch, lr):
        ...     return lr if epoch < 10 else lr * math.exp(-0.1)
        >>> model.fit(x, y, epochs=15, callbacks=[LearningRateScheduler(scheduler)])
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "LearningRateScheduler needs a function schedule(epoch, lr) -> float, got "
                f"{schedule!r}."
            )
        self.schedule = schedule
        self.verbose = verbose

    def _call_schedule(self, epoch: int, learning_rate: float):
        try:
            parameters = inspect.signature(self.schedule).parameters.values()
        except (TypeError, ValueError):
            return self.schedule(epoch, learning_rate)
        positional = [
            p
            for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        takes_two = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)
        # the one-argument form is Keras's older API
        return self.schedule(epoch, learning_rate) if takes_two else self.schedule(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        learning_rate = self._call_schedule(epoch, float(optimizer.learning_rate))
        if isinstance(learning_rate, xp.ndarray) and learning_rate.ndim == 0:
            learning_rate = learning_rate[()]
        if isinstance(learning_rate, bool) or not isinstance(
            learning_rate, (float, int, xp.floating, xp.integer)
        ):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate!r}"
            )
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            _print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{float(learning_rate)}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite.

    Args:
        raise_error: raise a ``RuntimeError`` at once instead of stopping gracefully (which sets
            ``model.stop_training`` and lets ``on_train_end`` run). Defaults to False.

    Example:
        >>> model.fit(x, y, callbacks=[TerminateOnNaN()])
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                "Terminating training immediately."
            )
        _print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``epoch`` first, then sorted keys).

    The file is rewritten whole at each epoch through ``axonal.atomic.atomic_write``, so a
    crash at any moment leaves a complete file: the one before the epoch or the one after.

    Args:
        filename: the CSV file, e.g. ``'run/log.csv'``.
        separator: the column separator. Defaults to ``','``.
        append: continue an existing file (its header and its columns are kept) instead of
            overwriting it. Defaults to False.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[CSVLogger("training.csv")])
    """

    rank_zero_only = True

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys: list[str] | None = None
        self.append_header = True
        self._text = ""

    def on_train_begin(self, logs=None):
        self.keys = None
        self.append_header = True
        self._text = ""
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8", newline="") as handle:
                self._text = handle.read()
            if self._text and not self._text.endswith("\n"):
                self._text += "\n"
            import csv  # here, not at the top: `import axonal` stays light

            header = next(csv.reader(io.StringIO(self._text), delimiter=self.sep), None)
            if header:
                self.append_header = False
                # keep the file's columns, so old and new rows line up
                if header[0] == "epoch" and len(header) > 1:
                    self.keys = header[1:]
        # as Keras opens the file here: an unwritable path fails before any training
        self._write()

    def _write(self) -> None:
        with atomic_write(self.filename, "w", encoding="utf-8") as handle:
            handle.write(self._text)

    @staticmethod
    def _value(value):
        if isinstance(value, str):
            return value
        if isinstance(value, xp.ndarray) and value.ndim == 0:
            return value.item()
        if isinstance(value, Iterable):
            return f'"[{", ".join(map(str, value))}]"'
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # validation may start later (validation_freq): reserve its columns now
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend(f"val_{key}" for key in list(self.keys))
        buffer = io.StringIO()
        import csv  # here, not at the top: `import axonal` stays light

        writer = csv.writer(buffer, delimiter=self.sep, lineterminator="\n")
        if self.append_header:
            writer.writerow(["epoch", *self.keys])
            self.append_header = False
        writer.writerow([epoch, *(self._value(logs.get(key, "NA")) for key in self.keys)])
        self._text += buffer.getvalue()
        self._write()


class LambdaCallback(Callback):
    """A callback made of functions given as arguments (Keras's positional arguments).

    ``on_epoch_begin`` / ``on_epoch_end`` take ``(epoch, logs)``, ``on_train_begin`` /
    ``on_train_end`` take ``(logs)``, ``on_train_batch_begin`` / ``on_train_batch_end`` take
    ``(batch, logs)``. Any other hook of ``Callback`` can be given by name as well.

    Example:
        >>> print_loss = LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs["loss"]))
        >>> model.fit(x, y, callbacks=[print_loss])
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        unknown = sorted(name for name in kwargs if name not in _HOOKS)
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook(s) {', '.join(unknown)}; the hooks are "
                f"{', '.join(_HOOKS)}."
            )
        functions = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **kwargs,
        }
        for hook, function in functions.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback {hook} must be a function, got {function!r}.")
            # an instance attribute: CallbackList sees it as an override
            setattr(self, hook, function)


# ------------------------------------------------------------ Ctrl-C during fit


class InterruptGuard:
    """While active, Ctrl-C (SIGINT) asks the training loop to stop instead of raising.

    The first Ctrl-C sets ``requested``; the loop checks it at each step boundary, so the step
    in progress finishes and no weight is left half-updated. A second Ctrl-C raises
    ``KeyboardInterrupt`` at once. The handler is installed only on the main thread and only
    when Ctrl-C would otherwise raise ``KeyboardInterrupt`` (Python's default handler); the
    previous handler is restored on exit. Elsewhere the loop falls back to catching
    ``KeyboardInterrupt``.

    Example:
        >>> with InterruptGuard() as guard:
        ...     for step in range(1000):
        ...         if guard.requested:
        ...             break
        ...         train_step()
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            import signal  # here, not at the top: `import axonal` stays light

            try:
                current = signal.getsignal(signal.SIGINT)
            except (AttributeError, ValueError):
                current = None
            if current is signal.default_int_handler:
                self._previous = current
                signal.signal(signal.SIGINT, self._handle)
                self._installed = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._installed:
            import signal  # here, not at the top: `import axonal` stays light

            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


class TensorBoard(Callback):
    """Write logs TensorBoard reads: metrics, learning rate, weight histograms, the model graph.

    No TensorFlow needed: ``axonal.summary_events`` writes the event files itself. Runs,
    directories and tags are Keras's, so dashboards and scripts built for Keras keep working:
    ``log_dir/train`` holds ``epoch_<metric>`` (``epoch_loss``, ``epoch_accuracy``...) and
    ``epoch_learning_rate`` per epoch, ``batch_<metric>`` every ``update_freq`` batches when it
    is an integer (or ``"batch"``), ``<layer>/<weight>/histogram`` (and ``/image`` with
    ``write_images``) every ``histogram_freq`` epochs, and the model's layer graph under the tag
    ``keras`` (TensorBoard's Graphs tab, "Keras" view); ``log_dir/validation`` holds the
    ``val_`` metrics as ``epoch_<metric>`` and ``evaluation_<metric>_vs_iterations``.

    Args:
        log_dir: where the runs go. Defaults to ``"logs"``.
        histogram_freq: every how many epochs to write weight histograms (0: never).
        write_graph: write the layer graph (Sequential and functional models).
        write_images: also write each kernel as an image with the histograms.
        write_steps_per_second: also log training steps per second.
        update_freq: ``"epoch"``, ``"batch"`` or an integer N (batch scalars every N batches).
        profile_batch: must be 0: profiling is not supported (refused by name).
        embeddings_freq: must be 0: the embedding projector is not supported (refused by name).
        embeddings_metadata: accepted for Keras compatibility; unused.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[TensorBoard("logs")])  # doctest: +SKIP
        $ tensorboard --logdir logs
    """

    rank_zero_only = True

    def __init__(
        self,
        log_dir="logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq: int = 0,
        embeddings_metadata=None,
    ):
        super().__init__()
        if profile_batch:
            raise ValueError(
                "TensorBoard(profile_batch=...) is not supported by axonal (there is no "
                f"profiler to trace); received profile_batch={profile_batch!r}, use 0."
            )
        if embeddings_freq:
            raise ValueError(
                "TensorBoard(embeddings_freq=...) is not supported by axonal (no embedding "
                f"projector output); received embeddings_freq={embeddings_freq!r}, use 0."
            )
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1
        ):
            raise ValueError(
                "TensorBoard update_freq must be 'epoch', 'batch' or a positive integer; "
                f"received {update_freq!r}."
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict = {}
        self._global_train_batch = 0
        self._graph_written = False
        self._batch_start = 0.0
        self._epoch_start = 0.0
        self._epoch_start_iterations = 0

    def _writer(self, run: str):
        # created on first use, as Keras does, so a run with nothing to log leaves no file
        from axonal.summary_events import EventFileWriter

        if run not in self._writers:
            self._writers[run] = EventFileWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def set_model(self, model) -> None:
        super().set_model(model)
        self._graph_written = False

    def _write_graph(self) -> None:
        from axonal.model_plot import keras_model_json

        self._graph_written = True
        text = keras_model_json(self.model)
        if text is not None:
            # the plugin name and version TensorBoard's graph plugin looks for (Keras's summary)
            self._writer("train").text_tensor("keras", text, "graph_keras_model", b"1", step=0)

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        if self.write_graph and not self._graph_written:
            self._write_graph()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._epoch_start_iterations = self._iterations()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        writer = self._writer("train")
        step = self._global_train_batch
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start, 1e-12)
            writer.scalar("batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            if _is_number(value):
                writer.scalar(f"batch_{name}", float(value), step)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not logs:
            return
        writer = self._writer("validation")
        for name, value in logs.items():
            if _is_number(value):
                writer.scalar(f"evaluation_{name}_vs_iterations", float(value), self._iterations())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        learning_rate = self._learning_rate()
        if learning_rate is not None:
            train["learning_rate"] = learning_rate
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start, 1e-12)
            train["steps_per_second"] = (
                self._iterations() - self._epoch_start_iterations
            ) / elapsed
        for run, values in (("train", train), ("validation", validation)):
            numbers = {k: v for k, v in values.items() if _is_number(v)}
            if numbers:
                writer = self._writer(run)
                for name, value in numbers.items():
                    writer.scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        return int(getattr(optimizer, "iterations", 0) or 0)

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        try:
            return float(optimizer.learning_rate)
        except (AttributeError, TypeError, ValueError):
            return None  # no optimizer (or one without a scalar rate): nothing to log

    def _log_weights(self, epoch: int) -> None:
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = getattr(weight, "path", None) or f"{layer.name}/{weight.name}"
                name = name.replace(":", "_")
                values = xp.asarray(weight)
                writer.histogram(f"{name}/histogram", values, epoch)
                if self.write_images:
                    image = _weight_image(values)
                    if image is not None:
                        writer.image(f"{name}/image", image, epoch)


def _is_number(value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    return isinstance(value, xp.ndarray) and value.size == 1 and value.dtype.kind in "iuf"


def _weight_image(weight):
    """A weight as a batch of grayscale images in [0, 1], laid out as Keras's TensorBoard does
    (a bias as one row, a dense kernel as one image, a conv kernel as one image per input
    channel); None for shapes Keras does not draw either."""
    values = xp.squeeze(xp.asarray(weight, dtype=xp.float64))
    if values.ndim == 1:
        values = values.reshape(1, 1, -1)
    elif values.ndim == 2:
        if values.shape[0] > values.shape[1]:
            values = values.T
        values = values[None]
    elif values.ndim == 3:
        values = xp.transpose(values, (2, 0, 1))  # channels-last kernel: one image per channel
    else:
        return None
    low, high = values.min(), values.max()
    scaled = (values - low) / (high - low) if high > low else xp.zeros_like(values)
    return scaled[..., None]


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (see axonal._missing:
    a PEP 562 hook that only picks the error, never resolves a name)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
