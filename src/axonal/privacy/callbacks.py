"""EpsilonLogger: the privacy spent so far, in each epoch's logs and so in the History."""

from __future__ import annotations

from axonal.callbacks import Callback
from axonal.privacy.accountant import check_delta
from axonal.privacy.optimizer import DPOptimizer


class EpsilonLogger(Callback):
    """Adds ``epsilon`` (the DP guarantee spent so far at ``delta``) to each epoch's logs.

    The model must be compiled with a :class:`DPOptimizer`. Put it in ``callbacks``: the
    History, and the progress bar, then show ``epsilon`` beside the loss.

    Args:
        delta: the delta of the ``(epsilon, delta)`` guarantee, in (0, 1); usually below
            ``1 / n`` for ``n`` training examples.
        key: the name of the entry in the logs (default ``'epsilon'``).

    Example:
        >>> history = model.fit(x, y, epochs=5, callbacks=[EpsilonLogger(delta=1e-5)])
        >>> history.history["epsilon"]  # doctest: +SKIP
    """

    def __init__(self, delta: float, key: str = "epsilon"):
        super().__init__()
        self.delta = check_delta(delta)
        if not isinstance(key, str) or not key:
            raise ValueError(f"`key` must be a non-empty string, got {key!r}.")
        self.key = key

    def _optimizer(self) -> DPOptimizer:
        optimizer = getattr(self.model, "optimizer", None)
        if not isinstance(optimizer, DPOptimizer):
            raise ValueError(
                "EpsilonLogger needs a model compiled with axonal.privacy.DPOptimizer, got "
                f"{type(optimizer).__name__}."
            )
        return optimizer

    def on_train_begin(self, logs=None):
        self._optimizer()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.key] = self._optimizer().epsilon(self.delta)


__all__ = ["EpsilonLogger"]
