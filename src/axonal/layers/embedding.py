"""Embedding: integer indices to dense vectors; and the timestep masks sequence layers share.

Masks follow Keras: a boolean ``(batch, time)`` array, True where a step is real and False
where it is padding. ``Embedding(mask_zero=True)`` makes one from its inputs; recurrent layers
skip masked steps and pass the mask on when they return sequences. A layer's ``call`` takes the
mask as ``mask=``; when none is passed it looks up the mask attached to its input (Tensor or
array) by the layer that made it (``attach_mask`` / ``mask_of``), so a plain Sequential stack
``Embedding -> LSTM`` honours masks in fit and predict without the model threading them through.
"""

from __future__ import annotations

from typing import Any

from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import xp
from axonal.layers.base import Layer
from axonal.layers.masking import attach_mask, mask_of
from axonal.registry import register, serialize
from axonal.tensor import Tensor


def _serialize_or_none(obj):
    return None if obj is None else serialize(obj)


@register("layer", "Embedding")
class Embedding(Layer):
    """Turns non-negative integer indices into dense vectors: row ``i`` of ``embeddings``.

    The only weight, ``embeddings``, has shape ``(input_dim, output_dim)``. Inputs are integer
    arrays of any shape ``(batch, ...)``; the output is ``(batch, ..., output_dim)``. Float
    inputs holding whole numbers are accepted and cast. Gradients of repeated indices add up.

    Models keep integer inputs as integers when their first layer has ``integer_inputs``.

    Args:
        input_dim: vocabulary size (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: default ``'uniform'`` (RandomUniform(-0.05, 0.05), as Keras).
        embeddings_regularizer: optional penalty.
        mask_zero: treat index 0 as padding: produce a ``(batch, time)`` mask, False at zeros,
            that recurrent layers downstream honour (index 0 is then reserved, so
            ``input_dim`` should be the vocabulary size + 1).
        input_length: Keras 2 argument; when given it declares ``input_shape=(input_length,)``.

    Example:
        >>> layer = Embedding(10, 4)
        >>> layer(np.array([[1, 2, 3]])).shape
        (1, 3, 4)
    """

    integer_inputs = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs,
    ):
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < 1:
                raise ValueError(f"Embedding {name} must be a positive integer, got {value!r}.")
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers_module.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers_module.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.embeddings = None
        self.supports_masking = self.mask_zero

    def build(self, input_shape: tuple) -> None:
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
        )
        self.built = True

    def _indices(self, inputs):
        indices = inputs.data if isinstance(inputs, Tensor) else xp.asarray(inputs)
        if indices.dtype.kind == "f":
            if not xp.all(indices == xp.round(indices)):
                raise ValueError(
                    f"Layer '{self.name}' (Embedding) expects integer indices, got non-integer "
                    f"values in an array of dtype {indices.dtype}."
                )
        elif indices.dtype.kind not in "iub":
            raise TypeError(
                f"Layer '{self.name}' (Embedding) expects integer indices, got dtype "
                f"{indices.dtype}."
            )
        indices = indices.astype(xp.intp, copy=False)
        if indices.size and (indices.min() < 0 or indices.max() >= self.input_dim):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise ValueError(
                f"Layer '{self.name}' (Embedding) has input_dim={self.input_dim}: indices must "
                f"be in [0, {self.input_dim - 1}], got {int(bad)}."
            )
        return indices

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        indices = self._indices(inputs)
        out = F.take(self.embeddings, indices, axis=0)
        if self.mask_zero:
            attach_mask(out, indices != 0)
        return out

    def compute_mask(self, inputs, mask=None):
        """``inputs != 0`` when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        indices = inputs.data if isinstance(inputs, Tensor) else xp.asarray(inputs)
        return indices != 0

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=initializers_module.serialize(self.embeddings_initializer),
            embeddings_regularizer=_serialize_or_none(self.embeddings_regularizer),
            mask_zero=self.mask_zero,
        )
        return config


__all__ = ["Embedding", "attach_mask", "mask_of"]
