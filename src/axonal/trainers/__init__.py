"""Training loops: the overridable Keras steps (``Trainer``) and the loop that calls them."""

from axonal.trainers.trainer import (
    Trainer,
    overridden_steps,
    pack_x_y_sample_weight,
    unpack_x_y_sample_weight,
)

__all__ = ["Trainer", "overridden_steps", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
