"""Callbacks: hooks into fit/evaluate/predict (Keras hook names), History and the progress bar.

Callbacks talk to the model by duck typing (``model.stop_training``, ``model.get_weights``); this
module never imports models.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Callback:
    """Base class: override any ``on_*`` hook; ``self.model`` and ``self.params`` are set by fit.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

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
        self._active = {
            hook: [
                getattr(cb, hook)
                for cb in self.callbacks
                if getattr(type(cb), hook) is not getattr(Callback, hook)
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
