"""Keras 3's recurrent cells and the generic ``RNN`` layer that loops a cell over time.

A cell computes one step: ``cell(x_t, states) -> (output, new_states)``; ``RNN(cell)`` runs it
along the sequence, with masks, ``return_sequences``, ``return_state``, ``go_backwards`` and
initial states. ``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell`` have the weight layouts of
Keras's (and of axonal's ``SimpleRNN`` / ``LSTM`` / ``GRU``); a cell of your own needs
``state_size`` and ``call(inputs, states)``, as in Keras. The step is written with functional
ops, so gradients (and custom cells) need nothing else; the fused ``LSTM`` / ``GRU`` layers stay
the fast path for the built-in cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from axonal import activations as activations_module
from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.layers.base import Layer
from axonal.layers.core import serialize_or_none
from axonal.layers.masking import attach_mask, mask_of
from axonal.registry import deserialize, register, serialize
from axonal.tensor import Tensor, as_tensor


class _Cell(Layer):
    """What the built-in cells share: units, activations, initializers, weights, config."""

    gates = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        if dropout or recurrent_dropout:
            raise ValueError(
                f"{type(self).__name__} dropout is not supported by axonal's cells; use the "
                "LSTM / GRU / SimpleRNN layers, which have it."
            )
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(
                f"{type(self).__name__} units must be a positive integer, got {units!r}."
            )
        self.units = int(units)
        self.activation = activations_module.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.recurrent_initializer = initializers_module.get(recurrent_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers_module.get(recurrent_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.seed = seed
        self.bias = None

    @property
    def output_size(self) -> int:
        """The size of one step's output."""
        return self.units

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape) -> None:
        width = self.gates * self.units
        self.kernel = self.add_weight(
            "kernel",
            (input_shape[-1], width),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (self.units, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                self._bias_shape(),
                self._bias_initializer(),
                regularizer=self.bias_regularizer,
            )
        self.built = True

    def get_initial_state(self, batch_size: int) -> list:
        """Zeros for every state."""
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [Tensor(np.zeros((batch_size, s), self.dtype)) for s in sizes]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations_module.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers_module.serialize(self.kernel_initializer),
            recurrent_initializer=initializers_module.serialize(self.recurrent_initializer),
            bias_initializer=initializers_module.serialize(self.bias_initializer),
            kernel_regularizer=serialize_or_none(self.kernel_regularizer),
            recurrent_regularizer=serialize_or_none(self.recurrent_regularizer),
            bias_regularizer=serialize_or_none(self.bias_regularizer),
            seed=self.seed,
        )
        return config


@register("layer", "SimpleRNNCell")
class SimpleRNNCell(_Cell):
    """One step of a fully connected RNN: ``h = activation(x W + h U + b)``."""

    @property
    def state_size(self) -> int:
        """One state of ``units``."""
        return self.units

    def call(self, inputs, states, training: bool = False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        z = F.add(F.matmul(inputs, self.kernel), F.matmul(h, self.recurrent_kernel))
        if self.bias is not None:
            z = F.add(z, self.bias)
        out = self.activation(z)
        return out, [out]


@register("layer", "LSTMCell")
class LSTMCell(_Cell):
    """One LSTM step, gates in Keras's order (input, forget, cell, output)."""

    gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_module.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list:
        """``[h, c]``, each of ``units``."""
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_ones(shape, dtype=None):
            values = np.asarray(base((units,), dtype=dtype))
            return np.concatenate(
                [values, np.ones_like(values), *[base((units,), dtype=dtype)] * 2]
            )

        return forget_ones

    def call(self, inputs, states, training: bool = False):
        h, c = states
        z = F.add(F.matmul(inputs, self.kernel), F.matmul(h, self.recurrent_kernel))
        if self.bias is not None:
            z = F.add(z, self.bias)
        u = self.units
        i, f, g, o = (F.take(z, np.arange(k * u, (k + 1) * u), axis=-1) for k in range(4))
        i, f, o = (
            self.recurrent_activation(i),
            self.recurrent_activation(f),
            self.recurrent_activation(o),
        )
        c = F.add(F.multiply(f, c), F.multiply(i, self.activation(g)))
        h = F.multiply(o, self.activation(c))
        return h, [h, c]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            recurrent_activation=activations_module.serialize(self.recurrent_activation),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config


@register("layer", "GRUCell")
class GRUCell(_Cell):
    """One GRU step, gates in Keras's order (update, reset, candidate); ``reset_after=True``
    (Keras 3's default) applies the reset gate after the recurrent product and keeps two
    biases."""

    gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_module.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    @property
    def state_size(self) -> int:
        """One state of ``units``."""
        return self.units

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training: bool = False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units

        def part(t, k):
            return F.take(t, np.arange(k * u, (k + 1) * u), axis=-1)

        x_proj = F.matmul(inputs, self.kernel)
        h_proj = F.matmul(h, self.recurrent_kernel)
        if self.bias is not None:
            if self.reset_after:
                x_proj = F.add(x_proj, F.take(self.bias, np.array(0), axis=0))
                h_proj = F.add(h_proj, F.take(self.bias, np.array(1), axis=0))
            else:
                x_proj = F.add(x_proj, self.bias)
        z = self.recurrent_activation(F.add(part(x_proj, 0), part(h_proj, 0)))
        r = self.recurrent_activation(F.add(part(x_proj, 1), part(h_proj, 1)))
        if self.reset_after:
            candidate = F.add(part(x_proj, 2), F.multiply(r, part(h_proj, 2)))
        else:
            recurrent = F.matmul(
                F.multiply(r, h), F.take(self.recurrent_kernel, np.arange(2 * u, 3 * u), axis=1)
            )
            candidate = F.add(part(x_proj, 2), recurrent)
        hh = self.activation(candidate)
        new_h = F.add(F.multiply(z, h), F.multiply(F.subtract(1.0, z), hh))
        return new_h, [new_h]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            recurrent_activation=activations_module.serialize(self.recurrent_activation),
            reset_after=self.reset_after,
        )
        return config


@register("layer", "StackedRNNCells")
class StackedRNNCells(Layer):
    """Cells run one after another at each step (the first's output feeds the second)."""

    def __init__(self, cells: list, **kwargs):
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self) -> list:
        """Every cell's states, in order."""
        sizes = []
        for cell in self.cells:
            sizes += cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
        return sizes

    @property
    def output_size(self) -> int:
        """The last cell's output size."""
        last = self.cells[-1]
        return getattr(last, "output_size", None) or _first(last.state_size)

    def build(self, input_shape) -> None:
        width = input_shape[-1]
        for cell in self.cells:
            cell.build_from_shape((None, width))
            width = getattr(cell, "output_size", None) or _first(cell.state_size)
        self.built = True

    def call(self, inputs, states, training: bool = False):
        new_states = []
        position = 0
        x = inputs
        for cell in self.cells:
            count = len(cell.state_size) if isinstance(cell.state_size, list) else 1
            x, cell_states = cell(x, list(states[position : position + count]), training=training)
            new_states += list(cell_states)
            position += count
        return x, new_states

    def get_config(self) -> dict:
        config = super().get_config()
        config["cells"] = [serialize(cell) for cell in self.cells]
        return config

    @classmethod
    def from_config(cls, config: dict) -> StackedRNNCells:
        config = dict(config)
        config["cells"] = [deserialize("layer", c) for c in config["cells"]]
        return cls(**config)


def _first(size):
    return size[0] if isinstance(size, list) else size


@register("layer", "RNN")
class RNN(Layer):
    """Runs ``cell`` (or a list of cells, stacked) along the time axis of ``(batch, time, d)``.

    Args:
        cell: a cell with ``state_size`` and ``call(inputs, states)``, or a list of them.
        return_sequences: every step's output ``(batch, time, out)`` instead of the last.
        return_state: also return the final states.
        go_backwards: run the sequence from its end.
        unroll, stateful: ``unroll`` is accepted (the loop is always unrolled here);
            ``stateful=True`` is refused.

    Example:
        >>> layer = RNN(LSTMCell(8), return_sequences=True)
    """

    supports_masking = True

    def __init__(
        self,
        cell,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs,
    ):
        if stateful:
            raise ValueError("RNN(stateful=True) over a cell is not supported by axonal.")
        super().__init__(**kwargs)
        self.cell = StackedRNNCells(cell) if isinstance(cell, (list, tuple)) else cell
        if not hasattr(self.cell, "state_size"):
            raise TypeError(
                f"RNN needs a cell with state_size and call(inputs, states), got {cell!r}."
            )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.stateful = False

    def reset_states(self) -> None:
        """Nothing is carried between calls (``stateful`` is not supported)."""

    def build(self, input_shape) -> None:
        self.cell.build_from_shape((None, input_shape[-1]))
        self.built = True

    def _output_size(self) -> int:
        return getattr(self.cell, "output_size", None) or _first(self.cell.state_size)

    def call(self, inputs, initial_state=None, mask=None, training: bool = False):
        batch, steps = inputs.shape[0], inputs.shape[1]
        sizes = (
            self.cell.state_size
            if isinstance(self.cell.state_size, list)
            else [self.cell.state_size]
        )
        if initial_state is None:
            states = [Tensor(np.zeros((batch, s), self.dtype)) for s in sizes]
        else:
            given = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            states = [s if isinstance(s, Tensor) else as_tensor(s) for s in given]
        mask = mask_of(inputs) if mask is None else mask
        mask = None if mask is None else np.asarray(getattr(mask, "data", mask), dtype=bool)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        previous = None
        single = not isinstance(self.cell.state_size, list)
        for t in order:
            x_t = F.take(inputs, np.array(t), axis=1)
            out, new_states = self.cell(x_t, states[0] if single else states, training=training)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            if mask is not None:
                # a masked step keeps the states (and repeats the output) it had before
                keep = mask[:, t][:, None]
                new_states = [F.where(keep, n, o) for n, o in zip(new_states, states, strict=True)]
                # ...starting from zeros, as Keras's previous output starts
                zeros = previous is None or self.zero_output_for_mask
                held = np.zeros(out.shape, out.data.dtype) if zeros else previous
                out = F.where(keep, out, held)
            states, previous = new_states, out
            outputs.append(out)
        if self.return_sequences:
            # in the order the steps ran (reversed for go_backwards), as Keras returns them
            result = F.stack(outputs, axis=1)
            if mask is not None:
                attach_mask(result, mask)
        else:
            result = outputs[-1]
        return [result, *states] if self.return_state else result

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        units = self._output_size()
        out = (batch, steps, units) if self.return_sequences else (batch, units)
        if not self.return_state:
            return out
        sizes = (
            self.cell.state_size
            if isinstance(self.cell.state_size, list)
            else [self.cell.state_size]
        )
        return [out] + [(batch, s) for s in sizes]

    def compute_mask(self, inputs, mask=None):
        """The input's mask when sequences are returned."""
        return mask if self.return_sequences else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            cell=serialize(self.cell),
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> RNN:
        config = dict(config)
        config["cell"] = deserialize("layer", config["cell"])
        return cls(**config)


__all__ = ["GRUCell", "LSTMCell", "RNN", "SimpleRNNCell", "StackedRNNCells"]
