"""Training: ``Trainer`` (compile, fit, evaluate, predict and Keras's overridable steps), the
loops behind them, and the strategies that distributed and private training plug in."""

from axonal.trainers.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight
from axonal.trainers.trainer import Trainer, overridden_steps

__all__ = ["Trainer", "overridden_steps", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
