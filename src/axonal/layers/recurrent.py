"""Recurrent layers (SimpleRNN, LSTM, GRU) and the Bidirectional and TimeDistributed wrappers.

Weights follow Keras's layout and gate order, so arrays move between the two libraries as they
are: ``kernel`` ``(features, gates * units)``, ``recurrent_kernel`` ``(units, gates * units)``,
``bias`` ``(gates * units,)`` (GRU with ``reset_after=True``: ``(2, 3 * units)``, input bias
then recurrent bias). LSTM gates are i, f, c, o; GRU gates z, r, h.

How a call runs: the inputs of every time step are projected with one GEMM before the loop;
then either a fused kernel runs the whole recurrence as one op with a hand-written backward
(``primitives.recurrent``; the default activations) or the composite loop builds the step from
primitives (any activation, GRU ``reset_after=False``). Both give the same numbers.

Masks (``Embedding(mask_zero=True)`` or ``mask=``): at a masked step the state is carried over
and the output repeats the previous output (zeros inside a Bidirectional that returns
sequences), as Keras does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axonal import activations as activations_module
from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import make_rng, xp
from axonal.layers.base import Layer
from axonal.layers.core import serialize_or_none
from axonal.layers.masking import attach_mask, mask_of
from axonal.layers.rnn_cells import RNN
from axonal.registry import deserialize, register, serialize
from axonal.tensor import Tensor, as_tensor


def _check_rate(owner: str, name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner} {name} must be in [0, 1), got {value!r}.")
    return value


def _check_sequence_shape(layer: Layer, shape: tuple) -> None:
    if len(shape) != 3:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects inputs of shape "
            f"(batch, time, features), got shape {tuple(shape)}."
        )


def _dropout_mask(rng, rate: float, shape: tuple, dtype):
    """Keep with probability 1 - rate, scaled by 1 / (1 - rate) (inverted dropout)."""
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) * xp.asarray(1.0 / (1.0 - rate), dtype=dtype)


def _recurrent_projection(kernel, masks) -> Callable:
    """``h -> h @ kernel``, or per gate ``(h * masks[k]) @ kernel_k`` under recurrent dropout."""
    if masks is None:
        return lambda h: F.dense(h, kernel)
    gates, units = masks.shape[0], kernel.shape[0]
    blocks = F.transpose(F.reshape(kernel, (units, gates, units)), (1, 0, 2))

    def project(h):
        masked = F.multiply(F.expand_dims(h, 0), masks)
        z = F.matmul(masked, blocks)
        return F.reshape(F.transpose(z, (1, 0, 2)), (masks.shape[1], gates * units))

    return project


class _RNN(Layer):
    """What SimpleRNN, LSTM and GRU share: weights, dropout, masks, states and the loop."""

    _gates = 1
    _n_states = 1

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
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs,
    ):
        owner = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, xp.integer)) or units < 1:
            raise ValueError(f"{owner} units must be a positive integer, got {units!r}.")
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations_module.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.recurrent_initializer = initializers_module.get(recurrent_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers_module.get(recurrent_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.dropout = _check_rate(owner, "dropout", dropout)
        self.recurrent_dropout = _check_rate(owner, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility: the loop is the same
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.kernel = None
        self.recurrent_kernel = None
        self.bias = None
        self.states = None
        # the fused whole-sequence kernel when the cell allows it; tests switch it off
        self._fused = True

    # ------------------------------------------------------------ weights
    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape: tuple) -> None:
        _check_sequence_shape(self, input_shape)
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs the features dimension to "
                f"be known, got input shape {tuple(input_shape)}."
            )
        width = self._gates * self.units
        self.kernel = self.add_weight(
            "kernel",
            (features, width),
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
                "bias", self._bias_shape(), self._bias_init(), regularizer=self.bias_regularizer
            )
        self.built = True

    # ------------------------------------------------------------ states
    def get_initial_state(self, batch_size: int) -> list:
        """Zero states, ``(batch_size, units)`` each (h; and c for the LSTM)."""
        return [xp.zeros((batch_size, self.units), dtype=self.dtype) for _ in range(self._n_states)]

    def reset_states(self) -> None:
        """Zero a stateful layer's carried states."""
        if self.states is not None:
            for state in self.states:
                state[...] = 0

    reset_state = reset_states

    def _initial_states(self, batch: int, initial_state) -> list:
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            if len(states) != self._n_states:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects {self._n_states} "
                    f"initial state(s), got {len(states)}."
                )
            states = [as_tensor(s, dtype=self.dtype) for s in states]
            for s in states:
                if s.shape != (batch, self.units):
                    raise ValueError(
                        f"Layer '{self.name}' ({type(self).__name__}) expects initial states of "
                        f"shape {(batch, self.units)}, got {s.shape}."
                    )
            return states
        if self.stateful:
            if self.states is None:
                self.states = self.get_initial_state(batch)
            if self.states[0].shape[0] != batch:
                raise ValueError(
                    f"Stateful layer '{self.name}' ({type(self).__name__}) was used with batch "
                    f"size {self.states[0].shape[0]}, got a batch of {batch}: keep the batch "
                    "size fixed (and the last batch full), or call reset_states() after changing "
                    "it."
                )
            return list(self.states)
        return self.get_initial_state(batch)

    # ------------------------------------------------------------ calling
    def _check_inputs(self, inputs: Tensor) -> Tensor:
        _check_sequence_shape(self, inputs.shape)
        features = self.kernel.data.shape[0]
        if inputs.shape[-1] != features:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects inputs of shape "
                f"(batch, time, {features}), got shape {inputs.shape}."
            )
        if inputs.shape[1] == 0:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) got a sequence with no time steps "
                f"(shape {inputs.shape})."
            )
        if inputs.dtype != xp.dtype(self.dtype):
            inputs = F.cast(inputs, self.dtype)
        return inputs

    def _check_mask(self, mask, inputs: Tensor):
        if mask is None:
            return None
        mask = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
        if mask.shape != inputs.shape[:2]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a mask of shape "
                f"(batch, time) = {inputs.shape[:2]}, got {mask.shape}."
            )
        return mask.astype(bool, copy=False)

    def _input_bias(self):
        return self.bias

    def _input_projection(self, inputs: Tensor, rng) -> Tensor:
        """``inputs @ kernel + bias`` for every step at once (with input dropout)."""
        bias = self._input_bias()
        if rng is None or self.dropout == 0.0:
            return F.dense(inputs, self.kernel, bias)
        batch, steps, features = inputs.shape
        if self.recurrent_dropout > 0.0 and self._gates > 1:
            # Keras's implementation 1: each gate sees its own dropout of the inputs
            gates, units = self._gates, self.units
            masks = _dropout_mask(rng, self.dropout, (gates, batch, 1, features), inputs.dtype)
            dropped = F.multiply(F.expand_dims(inputs, 0), masks)
            blocks = F.transpose(F.reshape(self.kernel, (features, gates, units)), (1, 0, 2))
            proj = F.matmul(dropped, F.expand_dims(blocks, 1))
            proj = F.reshape(F.transpose(proj, (1, 2, 0, 3)), (batch, steps, gates * units))
            return proj if bias is None else F.add(proj, bias)
        mask = _dropout_mask(rng, self.dropout, (batch, 1, features), inputs.dtype)
        return F.dense(F.multiply(inputs, mask), self.kernel, bias)

    def call(
        self, inputs: Tensor, training: bool = False, mask=None, initial_state=None
    ) -> Tensor | list:
        """Run the recurrence over ``inputs`` ``(batch, time, features)``.

        Returns the output ``(batch, units)`` (last step) or ``(batch, time, units)``
        (``return_sequences``), followed by the final states when ``return_state``.
        """
        if mask is None:
            mask = mask_of(inputs)
        inputs = self._check_inputs(inputs)
        mask = self._check_mask(mask, inputs)
        batch, steps = inputs.shape[:2]
        states = self._initial_states(batch, initial_state)
        dropping = training and (self.dropout > 0.0 or self.recurrent_dropout > 0.0)
        rng = (self._rng if self._rng is not None else make_rng(None)) if dropping else None
        xproj = self._input_projection(inputs, rng)
        recurrent_masks = None
        if rng is not None and self.recurrent_dropout > 0.0:
            shape = (self._gates, batch, self.units)
            recurrent_masks = _dropout_mask(rng, self.recurrent_dropout, shape, inputs.dtype)
        want_states = self.return_state or self.stateful
        if self._fused and self._fusable():
            packed = self._run_fused(xproj, states, mask, recurrent_masks)
            sequence = F.slice_steps(packed, 0, steps) if self.return_sequences else None
            last = F.slice_steps(packed, steps - 1)
            if want_states:
                states = [F.slice_steps(packed, steps + k) for k in range(self._n_states)]
        else:
            sequence, last, states = self._run_composite(xproj, states, mask, recurrent_masks)
        if self.stateful:
            self.states = [xp.array(as_tensor(s).data, dtype=self.dtype) for s in states]
        output = sequence if self.return_sequences else last
        if self.return_sequences and mask is not None:
            attach_mask(output, mask)
        if self.return_state:
            return [output] + [as_tensor(s) for s in states]
        return output

    def _run_composite(self, xproj, states, mask, recurrent_masks):
        steps = xproj.shape[1]
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        step = self._step_function(recurrent_masks)
        outputs = []
        for t in order:
            new_output, new_states = step(F.slice_steps(xproj, t), states)
            if mask is None:
                output, states = new_output, new_states
            else:
                m = mask[:, t, None]
                previous = 0.0 if self.zero_output_for_mask else states[0]
                output = F.where(m, new_output, previous)
                states = [F.where(m, new, old) for new, old in zip(new_states, states, strict=True)]
            outputs.append(output)
        sequence = F.stack(outputs, axis=1) if self.return_sequences else None
        return sequence, outputs[-1], states

    # subclasses: the fused kernel, the composite step, and when the kernel applies
    def _fusable(self) -> bool:
        raise NotImplementedError

    def _run_fused(self, xproj, states, mask, recurrent_masks) -> Tensor:
        raise NotImplementedError

    def _step_function(self, recurrent_masks) -> Callable:
        raise NotImplementedError

    # ------------------------------------------------------------ shapes, masks, config
    def compute_output_shape(self, input_shape: tuple):
        _check_sequence_shape(self, input_shape)
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * self._n_states
        return output

    def compute_mask(self, inputs, mask=None):
        """The input mask when returning sequences, else None (as Keras)."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self._n_states
        return output_mask

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
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        return config


@register("layer", "SimpleRNN")
class SimpleRNN(_RNN):
    """Fully connected recurrence: ``h_t = activation(x_t @ kernel + h_{t-1} @ R + bias)``.

    Weights: ``kernel`` ``(features, units)``, ``recurrent_kernel`` ``(units, units)``,
    ``bias`` ``(units,)``.

    Args:
        units: size of the state and output.
        activation: default ``'tanh'``.
        use_bias, kernel_initializer ('glorot_uniform'), recurrent_initializer ('orthogonal'),
            bias_initializer ('zeros'), kernel/recurrent/bias_regularizer: as Keras.
        dropout: fraction of the inputs dropped (one mask for every step) while training.
        recurrent_dropout: fraction of the state dropped before the recurrent kernel.
        seed: private seed for the dropout masks.
        return_sequences: return every step's output ``(batch, time, units)``, not only the
            last ``(batch, units)``.
        return_state: also return the final state.
        go_backwards: process the sequence from the end; returned sequences are in processing
            (reversed) order, as Keras.
        stateful: carry the final state of each batch into the next (fixed batch size).

    Call arguments: ``inputs`` ``(batch, time, features)``, ``training``, ``mask`` (boolean
    ``(batch, time)``) and ``initial_state`` (a list with one ``(batch, units)`` array).

    Example:
        >>> SimpleRNN(4)(np.random.randn(2, 5, 3)).shape
        (2, 4)
    """

    def _fusable(self) -> bool:
        return self.activation in (activations_module.tanh, activations_module.relu)

    def _run_fused(self, xproj, states, mask, recurrent_masks) -> Tensor:
        return F.simple_rnn_sequence(
            xproj,
            self.recurrent_kernel,
            states[0],
            mask=mask,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            recurrent_masks=recurrent_masks,
            activation="tanh" if self.activation is activations_module.tanh else "relu",
        )

    def _step_function(self, recurrent_masks) -> Callable:
        project = _recurrent_projection(self.recurrent_kernel, recurrent_masks)

        def step(x_t, states):
            h = self.activation(F.add(x_t, project(states[0])))
            return h, [h]

        return step


@register("layer", "LSTM")
class LSTM(_RNN):
    """Long Short-Term Memory (Hochreiter & Schmidhuber, 1997) with Keras's gates and layout.

    ``i, f, o = recurrent_activation(...)``, ``c̃ = activation(...)``, ``c = f*c + i*c̃``,
    ``h = o * activation(c)``, each gate ``x_t @ kernel_g + h @ R_g + bias_g``.

    Weights: ``kernel`` ``(features, 4 * units)`` and ``recurrent_kernel``
    ``(units, 4 * units)`` with gate blocks i, f, c, o; ``bias`` ``(4 * units,)``, its forget
    block initialised to ones when ``unit_forget_bias`` (the default).

    Args:
        units: size of the states and output.
        activation: default ``'tanh'``; recurrent_activation: default ``'sigmoid'``.
        unit_forget_bias: add 1 to the forget-gate bias at initialisation.
        dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards,
            stateful, initializers and regularizers: as SimpleRNN and Keras.

    Returns ``output`` or, with ``return_state``, ``[output, h, c]``.

    Example:
        >>> LSTM(4, return_sequences=True)(np.random.randn(2, 5, 3)).shape
        (2, 5, 4)
    """

    _gates = 4
    _n_states = 2

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

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base = self.bias_initializer
        units = self.units

        def forget_ones(shape, dtype=None):
            return xp.concatenate(
                [
                    xp.asarray(base((units,), dtype=dtype)),
                    xp.ones((units,), dtype=dtype),
                    xp.asarray(base((2 * units,), dtype=dtype)),
                ]
            )

        return forget_ones

    def _fusable(self) -> bool:
        return (
            self.activation is activations_module.tanh
            and self.recurrent_activation is activations_module.sigmoid
        )

    def _run_fused(self, xproj, states, mask, recurrent_masks) -> Tensor:
        return F.lstm_sequence(
            xproj,
            self.recurrent_kernel,
            states[0],
            states[1],
            mask=mask,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            recurrent_masks=recurrent_masks,
        )

    def _step_function(self, recurrent_masks) -> Callable:
        project = _recurrent_projection(self.recurrent_kernel, recurrent_masks)
        u = self.units
        act, rec_act = self.activation, self.recurrent_activation

        def step(x_t, states):
            h, c = states
            z = F.add(x_t, project(h))
            i = rec_act(z[:, :u])
            f = rec_act(z[:, u : 2 * u])
            candidate = act(z[:, 2 * u : 3 * u])
            o = rec_act(z[:, 3 * u :])
            c = F.add(F.multiply(f, c), F.multiply(i, candidate))
            h = F.multiply(o, act(c))
            return h, [h, c]

        return step

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            recurrent_activation=activations_module.serialize(self.recurrent_activation),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config


@register("layer", "GRU")
class GRU(_RNN):
    """Gated Recurrent Unit (Cho et al., 2014) with Keras's gates and layout.

    ``z, r = recurrent_activation(...)``; with ``reset_after=True`` (default, cuDNN/PyTorch
    convention) ``h̃ = activation(x_h + r * (h @ R_h + b_rh))``, otherwise
    ``h̃ = activation(x_h + (r * h) @ R_h)``; then ``h = z * h + (1 - z) * h̃``.

    Weights: ``kernel`` ``(features, 3 * units)`` and ``recurrent_kernel``
    ``(units, 3 * units)`` with gate blocks z, r, h; ``bias`` ``(2, 3 * units)`` (input bias,
    recurrent bias) with ``reset_after=True``, else ``(3 * units,)``.

    Args:
        units: size of the state and output.
        activation: default ``'tanh'``; recurrent_activation: default ``'sigmoid'``.
        reset_after: where the reset gate applies (default True).
        dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards,
            stateful, initializers and regularizers: as SimpleRNN and Keras.

    Example:
        >>> GRU(4)(np.random.randn(2, 5, 3)).shape
        (2, 4)
    """

    _gates = 3

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

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def _recurrent_bias(self):
        if self.bias is None or not self.reset_after:
            return None
        return self.bias[1]

    def _fusable(self) -> bool:
        return (
            self.reset_after
            and self.activation is activations_module.tanh
            and self.recurrent_activation is activations_module.sigmoid
        )

    def _run_fused(self, xproj, states, mask, recurrent_masks) -> Tensor:
        return F.gru_sequence(
            xproj,
            self.recurrent_kernel,
            self._recurrent_bias(),
            states[0],
            mask=mask,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            recurrent_masks=recurrent_masks,
        )

    def _step_function(self, recurrent_masks) -> Callable:
        u = self.units
        act, rec_act = self.activation, self.recurrent_activation
        kernel = self.recurrent_kernel
        if self.reset_after:
            project = _recurrent_projection(kernel, recurrent_masks)
            recurrent_bias = self._recurrent_bias()

            def step(x_t, states):
                (h,) = states
                inner = project(h)
                if recurrent_bias is not None:
                    inner = F.add(inner, recurrent_bias)
                z = rec_act(F.add(x_t[:, :u], inner[:, :u]))
                r = rec_act(F.add(x_t[:, u : 2 * u], inner[:, u : 2 * u]))
                candidate = act(F.add(x_t[:, 2 * u :], F.multiply(r, inner[:, 2 * u :])))
                h = F.add(F.multiply(z, h), F.multiply(F.subtract(1.0, z), candidate))
                return h, [h]

            return step

        gate_masks = None if recurrent_masks is None else recurrent_masks[:2]
        project = _recurrent_projection(kernel[:, : 2 * u], gate_masks)
        kernel_h = kernel[:, 2 * u :]

        def step_reset_before(x_t, states):
            (h,) = states
            inner = project(h)
            z = rec_act(F.add(x_t[:, :u], inner[:, :u]))
            r = rec_act(F.add(x_t[:, u : 2 * u], inner[:, u:]))
            h_masked = h if recurrent_masks is None else F.multiply(h, recurrent_masks[2])
            candidate = act(F.add(x_t[:, 2 * u :], F.dense(F.multiply(r, h_masked), kernel_h)))
            h = F.add(F.multiply(z, h), F.multiply(F.subtract(1.0, z), candidate))
            return h, [h]

        return step_reset_before

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            recurrent_activation=activations_module.serialize(self.recurrent_activation),
            reset_after=self.reset_after,
        )
        return config


# ---------------------------------------------------------------- wrappers


class _Wrapper(Layer):
    """A layer holding other layers: their weights are its weights, under its name."""

    def _inner_layers(self) -> list[Layer]:
        raise NotImplementedError

    def _claim_weights(self) -> None:
        """Key the inner weights under this layer's name (``wrapper/inner/kernel``)."""
        prefix = f"{self.name}/"
        for layer in self._inner_layers():
            for w in layer.weights:
                if not w.path.startswith(prefix):
                    w.path = prefix + w.path

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for layer in self._inner_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return [w for layer in self._inner_layers() for w in layer.weights]
        return [w for layer in self._inner_layers() for w in layer.non_trainable_weights]

    def regularized_weights(self) -> list[tuple]:
        return [pair for layer in self._inner_layers() for pair in layer.regularized_weights()]


@register("layer", "Bidirectional")
class Bidirectional(_Wrapper):
    """Runs a recurrent layer forwards and a copy backwards over the sequence and merges them.

    The forward and backward layers are fresh copies made from ``layer``'s config (named
    ``forward_<name>`` and ``backward_<name>``), as in Keras; their weights, forward first, are
    this layer's weights. With ``return_sequences`` the backward outputs are flipped back to
    time order before merging.

    Args:
        layer: a SimpleRNN, LSTM, GRU or ``RNN`` over a cell.
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'`` or None (a list of
            the two outputs).
        backward_layer: optional layer for the backward direction (must have
            ``go_backwards=True`` and the same return settings).

    Example:
        >>> Bidirectional(LSTM(4))(np.random.randn(2, 5, 3)).shape
        (2, 8)
    """

    def __init__(
        self,
        layer: Layer,
        merge_mode: str | None = "concat",
        backward_layer: Layer | None = None,
        **kwargs,
    ):
        if not isinstance(layer, (_RNN, RNN)):
            raise ValueError(
                "Bidirectional needs a recurrent layer (SimpleRNN, LSTM, GRU or RNN(cell)), got "
                f"{type(layer).__name__}."
            )
        if backward_layer is not None and not isinstance(backward_layer, (_RNN, RNN)):
            raise ValueError(
                "Bidirectional backward_layer must be a recurrent layer, got "
                f"{type(backward_layer).__name__}."
            )
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(
                "Bidirectional merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None, "
                f"got {merge_mode!r}."
            )
        if layer._batch_input_shape is not None and not any(
            k in kwargs for k in ("input_shape", "batch_input_shape", "input_dim")
        ):
            kwargs["batch_input_shape"] = layer._batch_input_shape
        super().__init__(**kwargs)
        self.forward_layer = _copy_layer(layer, "forward_" + _removeprefix(layer.name, "forward_"))
        if backward_layer is None:
            name = "backward_" + _removeprefix(layer.name, "backward_")
            backward_layer = _copy_layer(layer, name, go_backwards=True)
        self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Bidirectional forward and backward layers must have different go_backwards "
                f"values, got {self.forward_layer.go_backwards} for both."
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            ours = getattr(self.forward_layer, attribute)
            theirs = getattr(self.backward_layer, attribute)
            if ours != theirs:
                raise ValueError(
                    f"Bidirectional forward and backward layers must have the same {attribute}, "
                    f"got {ours} and {theirs}."
                )
        for inner in (self.forward_layer, self.backward_layer):
            # Keras: when returning sequences, masked steps give zeros in both directions
            inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.stateful = self.forward_layer.stateful
        self.supports_masking = True

    def _inner_layers(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape: tuple) -> None:
        _check_sequence_shape(self, input_shape)
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)
        self._claim_weights()
        self.built = True

    def call(self, inputs: Tensor, training: bool = False, mask=None, initial_state=None):
        _check_sequence_shape(self, inputs.shape)
        if mask is None:
            mask = mask_of(inputs)
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer(inputs, training=training, mask=mask, initial_state=forward_state)
        y_rev = self.backward_layer(
            inputs, training=training, mask=mask, initial_state=backward_state
        )
        states = []
        if self.return_state:
            states = y[1:] + y_rev[1:]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = F.reverse_steps(y_rev)
        if self.merge_mode == "concat":
            output = F.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = F.add(y, y_rev)
        elif self.merge_mode == "ave":
            output = F.multiply(F.add(y, y_rev), 0.5)
        elif self.merge_mode == "mul":
            output = F.multiply(y, y_rev)
        else:
            output = [y, y_rev]
        if self.return_sequences and mask is not None:
            for out in output if isinstance(output, list) else [output]:
                attach_mask(out, mask)
        if self.return_state:
            return (output if isinstance(output, list) else [output]) + states
        return output

    def reset_states(self) -> None:
        """Zero both directions' carried states (stateful layers)."""
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def compute_output_shape(self, input_shape: tuple):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:]
        if self.merge_mode == "concat":
            outputs = [tuple(shape[:-1]) + (shape[-1] * 2,)]
        elif self.merge_mode is None:
            outputs = [tuple(shape), tuple(shape)]
        else:
            outputs = [tuple(shape)]
        if self.return_state or self.merge_mode is None:
            return outputs + states + states
        return outputs[0]

    def compute_mask(self, inputs, mask=None):
        """The input mask when returning sequences, else None."""
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return masks + [None] * (2 * self.forward_layer._n_states)
        return masks if self.merge_mode is None else output_mask

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            merge_mode=self.merge_mode,
            layer=serialize(self.forward_layer),
            backward_layer=serialize(self.backward_layer),
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        config = dict(config)
        config["layer"] = deserialize("layer", config["layer"])
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = deserialize("layer", backward)
        return cls(**config)


def _removeprefix(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def _copy_layer(layer: Layer, name: str, **changes) -> Layer:
    """A fresh, unbuilt layer with ``layer``'s config, a new name and ``changes``."""
    config = serialize(layer)
    config["config"] = dict(config["config"], name=name, **changes)
    return deserialize("layer", config)


@register("layer", "TimeDistributed")
class TimeDistributed(_Wrapper):
    """Applies ``layer`` to every time step of ``(batch, time, ...)`` inputs, with one weight set.

    The batch and time axes are merged, the layer runs once on ``(batch * time, ...)``, and the
    result is split back to ``(batch, time, ...)``. A timestep mask passes through.

    Args:
        layer: any layer taking one step's shape, e.g. ``Dense`` or ``Conv2D``.

    Example:
        >>> TimeDistributed(Dense(2))(np.random.randn(4, 5, 3)).shape
        (4, 5, 2)
    """

    def __init__(self, layer: Layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed needs a Layer, got {type(layer).__name__}.")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def _inner_layers(self) -> list[Layer]:
        return [self.layer]

    def _check_rank(self, shape: tuple) -> None:
        if len(shape) < 3:
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed) expects inputs of shape "
                f"(batch, time, ...) with at least 3 axes, got shape {tuple(shape)}."
            )

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        self.layer.build_from_shape((None,) + tuple(input_shape[2:]))
        self._claim_weights()
        self.built = True

    def call(self, inputs: Tensor, training: bool = False, mask=None) -> Tensor:
        self._check_rank(inputs.shape)
        if mask is None:
            mask = mask_of(inputs)
        batch, steps = inputs.shape[:2]
        flat = F.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        out = self.layer(flat, training=training)
        out = F.reshape(out, (batch, steps) + tuple(out.shape[1:]))
        if mask is not None:
            attach_mask(out, mask)
        return out

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def compute_mask(self, inputs, mask=None):
        """The timestep mask passes through."""
        return mask

    def get_config(self) -> dict:
        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> TimeDistributed:
        config = dict(config)
        config["layer"] = deserialize("layer", config["layer"])
        return cls(**config)


__all__ = ["GRU", "LSTM", "Bidirectional", "SimpleRNN", "TimeDistributed"]
