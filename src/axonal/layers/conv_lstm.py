"""Convolutional LSTM layers: ConvLSTM1D/2D/3D (Keras names, defaults and layouts).

An LSTM whose input and recurrent transformations are convolutions (Shi et al., 2015). Inputs
are sequences of images ``(batch, time, *spatial, channels)`` (``'channels_first'``:
``(batch, time, channels, *spatial)``); states ``h`` and ``c`` are images
``(batch, *out_spatial, filters)``. Weights follow Keras's layout and gate order i, f, c, o:

==================  ==============================================
kernel              ``(*kernel_size, channels, 4 * filters)``
recurrent_kernel    ``(*kernel_size, filters, 4 * filters)``
bias                ``(4 * filters,)``
==================  ==============================================

Per step: ``z = conv(x_t, kernel, strides, padding, dilation) + bias +
conv_same(h, recurrent_kernel)``; ``i, f, o = recurrent_activation(z_i, z_f, z_o)``,
``c = f * c + i * activation(z_c)``, ``h = o * activation(c)``. The layer is built from the
convolution ops in ``functional`` (``conv1d``, ``conv2d``, ``conv3d``), so its
gradients come from autograd. The input convolution
of every step runs as one batched convolution before the loop (a convolution is linear in its
input, so splitting its output channels into gates equals Keras's one convolution per gate).
"""

from __future__ import annotations

from typing import Any

from axonal import activations as activations_module
from axonal import constraints as constraints_module
from axonal import functional as F
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal.backend import make_rng, xp
from axonal.layers.base import Layer
from axonal.layers.conv import standardize_padding, standardize_tuple
from axonal.layers.core import serialize_or_none
from axonal.layers.data_format import standardize_data_format
from axonal.layers.masking import attach_mask, mask_of
from axonal.primitives.conv import conv_output_length
from axonal.registry import register
from axonal.tensor import Tensor, as_tensor

_GATES = 4
_SPATIAL_NAMES = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}


def _check_rate(owner: str, name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner} {name} must be in [0, 1), got {value!r}.")
    return value


def _dropout_mask(rng, rate: float, shape: tuple, dtype):
    """Keep with probability 1 - rate, scaled by 1 / (1 - rate) (inverted dropout)."""
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) * xp.asarray(1.0 / (1.0 - rate), dtype=dtype)


class _ConvLSTM(Layer):
    """What ConvLSTM1D/2D/3D share (not registered); ``rank`` spatial axes."""

    rank = 2
    supports_masking = True

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
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
        if isinstance(filters, bool) or not isinstance(filters, (int, xp.integer)) or filters < 1:
            raise ValueError(f"{owner} filters must be a positive integer, got {filters!r}.")
        if stateful:
            raise ValueError(
                f"{owner}: stateful=True is not supported by axonal (states are not carried "
                "between batches); pass the states explicitly with initial_state= and "
                "return_state=True instead."
            )
        if activity_regularizer is not None:
            raise ValueError(f"{owner}: activity_regularizer is not supported by axonal.")
        super().__init__(**kwargs)
        rank = self.rank
        self.filters = int(filters)
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{owner}: strides > 1 is not supported together with dilation_rate > 1 (as "
                f"in Keras), got strides={self.strides} and dilation_rate={self.dilation_rate}."
            )
        self.activation = activations_module.get(activation)
        self.recurrent_activation = activations_module.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.recurrent_initializer = initializers_module.get(recurrent_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers_module.get(recurrent_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.recurrent_constraint = constraints_module.get(recurrent_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)
        self.dropout = _check_rate(owner, "dropout", dropout)
        self.recurrent_dropout = _check_rate(owner, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._rng = None if seed is None else make_rng(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)  # accepted for Keras compatibility: the loop is the same
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.kernel = None
        self.recurrent_kernel = None
        self.bias = None

    # ------------------------------------------------------------ shapes
    def _layout(self) -> str:
        spatial = _SPATIAL_NAMES[self.rank]
        if self.data_format == "channels_first":
            return f"(batch, time, channels, {spatial})"
        return f"(batch, time, {spatial}, channels)"

    def _check_rank(self, shape: tuple) -> None:
        if len(shape) != self.rank + 3:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects inputs of rank "
                f"{self.rank + 3}, {self._layout()} ({self.data_format}), got shape "
                f"{tuple(shape)}."
            )

    def _split_shape(self, shape: tuple) -> tuple:
        """``(spatial, channels)`` of a sequence shape in this layer's data format."""
        if self.data_format == "channels_first":
            return tuple(shape[3:]), shape[2]
        return tuple(shape[2:-1]), shape[-1]

    def _out_spatial(self, spatial: tuple) -> tuple:
        out = tuple(
            conv_output_length(size, k, s, d, self.padding)
            for size, k, s, d in zip(
                spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        )
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): inputs of spatial size "
                f"{tuple(spatial)} are too small for kernel_size {self.kernel_size} with "
                f"dilation_rate {self.dilation_rate} and padding '{self.padding}'."
            )
        return out

    def _state_shape(self, batch, spatial: tuple) -> tuple:
        """Shape of ``h`` and ``c`` in this layer's data format."""
        out = self._out_spatial(spatial)
        if self.data_format == "channels_first":
            return (batch, self.filters) + out
        return (batch,) + out + (self.filters,)

    def compute_output_shape(self, input_shape: tuple):
        self._check_rank(input_shape)
        spatial, _ = self._split_shape(input_shape)
        state = self._state_shape(input_shape[0], spatial)
        if self.return_sequences:
            output = (state[0], input_shape[1]) + state[1:]
        else:
            output = state
        if self.return_state:
            return [output, state, state]
        return output

    def compute_mask(self, inputs, mask=None):
        """The input mask when returning sequences, else None (as Keras)."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None, None]
        return output_mask

    # ------------------------------------------------------------ weights
    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base = self.bias_initializer
        filters = self.filters

        def forget_ones(shape, dtype=None):
            # Keras: the forget gate's bias starts at one, the others at bias_initializer
            return xp.concatenate(
                [
                    xp.asarray(base((filters,), dtype=dtype)),
                    xp.ones((filters,), dtype=dtype),
                    xp.asarray(base((2 * filters,), dtype=dtype)),
                ]
            )

        return forget_ones

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        spatial, channels = self._split_shape(input_shape)
        if channels is None or None in spatial:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs the channel and spatial "
                f"dimensions of its inputs to be known, got input shape {tuple(input_shape)}."
            )
        self._out_spatial(spatial)
        width = _GATES * self.filters
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (int(channels), width),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            self.kernel_size + (self.filters, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (width,),
                self._bias_init(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    # ------------------------------------------------------------ the convolutions
    def _conv(self, x, kernel, bias=None, strides=None, padding=None, dilation=None) -> Tensor:
        raise NotImplementedError

    def _input_conv(self, x, kernel, bias) -> Tensor:
        return self._conv(x, kernel, bias, self.strides, self.padding, self.dilation_rate)

    def _recurrent_conv(self, h, kernel) -> Tensor:
        # Keras: the recurrent convolution keeps the state's size ('same', stride 1, no dilation)
        ones = (1,) * self.rank
        return self._conv(h, kernel, None, ones, "same", ones)

    def _gate_kernels(self, kernel) -> list:
        f = self.filters
        return [kernel[..., g * f : (g + 1) * f] for g in range(_GATES)]

    def _gate_biases(self) -> list:
        if self.bias is None:
            return [None] * _GATES
        f = self.filters
        return [self.bias[g * f : (g + 1) * f] for g in range(_GATES)]

    def _input_projection(self, frames: Tensor, batch: int, steps: int, masks) -> Tensor:
        """The input convolution of every step at once: ``(batch * time, *out, 4 * filters)``.

        ``frames`` are the steps flattened into the batch ``(batch * time, *spatial, c)``;
        under input dropout each gate sees its own mask of the inputs (the same at every step).
        """
        if masks is None:
            return self._input_conv(frames, self.kernel, self.bias)
        shape = frames.shape
        per_sample = F.reshape(frames, (batch, steps) + shape[1:])
        outputs = []
        for mask, kernel, bias in zip(
            masks, self._gate_kernels(self.kernel), self._gate_biases(), strict=True
        ):
            dropped = F.reshape(F.multiply(per_sample, mask[:, None]), shape)
            outputs.append(self._input_conv(dropped, kernel, bias))
        return F.concatenate(outputs, axis=-1)

    def _recurrent_projection(self, h: Tensor, masks) -> Tensor:
        if masks is None:
            return self._recurrent_conv(h, self.recurrent_kernel)
        kernels = self._gate_kernels(self.recurrent_kernel)
        parts = [
            self._recurrent_conv(F.multiply(h, mask), kernel)
            for mask, kernel in zip(masks, kernels, strict=True)
        ]
        return F.concatenate(parts, axis=-1)

    # ------------------------------------------------------------ calling
    def _to_last(self, x: Tensor, time_axis: bool) -> Tensor:
        """``x`` in channels-last order (a sequence when ``time_axis``, else one state)."""
        if self.data_format != "channels_first":
            return x
        lead = 2 if time_axis else 1
        rank = len(x.shape)
        return F.transpose(x, tuple(range(lead)) + tuple(range(lead + 1, rank)) + (lead,))

    def _to_format(self, x: Tensor, time_axis: bool) -> Tensor:
        """Channels-last ``x`` in this layer's data format."""
        if self.data_format != "channels_first":
            return x
        lead = 2 if time_axis else 1
        rank = len(x.shape)
        return F.transpose(x, tuple(range(lead)) + (rank - 1,) + tuple(range(lead, rank - 1)))

    def _check_inputs(self, inputs: Tensor) -> Tensor:
        self._check_rank(inputs.shape)
        channels = self.kernel.data.shape[-2]
        spatial, got = self._split_shape(inputs.shape)
        if got != channels:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) was built for inputs with "
                f"{channels} channels, {self._layout()}, got shape {inputs.shape}."
            )
        if inputs.shape[1] == 0:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) got a sequence with no time steps "
                f"(shape {inputs.shape})."
            )
        self._out_spatial(spatial)
        # compute in the kernel's dtype (as Dense does), so a float32 kernel stays float32
        if inputs.dtype != self.kernel.dtype:
            inputs = F.cast(inputs, self.kernel.dtype)
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

    def _initial_states(self, batch: int, spatial: tuple, initial_state) -> list:
        """``[h, c]`` channels-last: zeros, or ``initial_state`` given in the data format."""
        expected = self._state_shape(batch, spatial)
        if initial_state is None:
            last = (batch,) + self._out_spatial(spatial) + (self.filters,)
            return [as_tensor(xp.zeros(last, dtype=self.kernel.dtype)) for _ in range(2)]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else []
        if len(states) != 2:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects 2 initial states [h, c], "
                f"got {initial_state!r:.80}."
            )
        states = [as_tensor(s, dtype=self.kernel.dtype) for s in states]
        for s in states:
            if s.shape != expected:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects initial states of "
                    f"shape {expected}, got {s.shape}."
                )
        return [self._to_last(s, time_axis=False) for s in states]

    def call(
        self, inputs: Tensor, training: bool = False, mask=None, initial_state=None
    ) -> Tensor | list:
        """Run the recurrence over ``inputs`` ``(batch, time, *spatial, channels)``.

        Returns the last output ``(batch, *out_spatial, filters)`` or every output
        ``(batch, time, *out_spatial, filters)`` (``return_sequences``), followed by the final
        ``h`` and ``c`` when ``return_state`` (channels-first layouts when so configured).
        """
        if mask is None:
            mask = mask_of(inputs)
        inputs = self._check_inputs(inputs)
        mask = self._check_mask(mask, inputs)
        batch, steps = inputs.shape[:2]
        spatial, _ = self._split_shape(inputs.shape)
        h, c = self._initial_states(batch, spatial, initial_state)
        sequence = self._to_last(inputs, time_axis=True)
        frames = F.reshape(sequence, (batch * steps,) + sequence.shape[2:])

        rng = None
        if training and (self.dropout > 0.0 or self.recurrent_dropout > 0.0):
            rng = self._rng if self._rng is not None else make_rng(None)
        input_masks = recurrent_masks = None
        if rng is not None and self.dropout > 0.0:
            shape = (_GATES, batch) + sequence.shape[2:]
            input_masks = _dropout_mask(rng, self.dropout, shape, inputs.dtype)
        if rng is not None and self.recurrent_dropout > 0.0:
            shape = (_GATES,) + h.shape
            recurrent_masks = _dropout_mask(rng, self.recurrent_dropout, shape, inputs.dtype)

        projected = self._input_projection(frames, batch, steps, input_masks)
        projected = F.reshape(projected, (batch, steps) + projected.shape[1:])
        f = self.filters
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        for t in order:
            z = F.add(F.slice_steps(projected, t), self._recurrent_projection(h, recurrent_masks))
            i = self.recurrent_activation(z[..., :f])
            forget = self.recurrent_activation(z[..., f : 2 * f])
            candidate = self.activation(z[..., 2 * f : 3 * f])
            o = self.recurrent_activation(z[..., 3 * f :])
            new_c = F.add(F.multiply(forget, c), F.multiply(i, candidate))
            new_h = F.multiply(o, self.activation(new_c))
            if mask is None:
                output, h, c = new_h, new_h, new_c
            else:
                # a masked step carries the states over and repeats the previous output
                m = mask[:, t].reshape((batch,) + (1,) * (len(h.shape) - 1))
                previous = 0.0 if self.zero_output_for_mask else h
                output = F.where(m, new_h, previous)
                h, c = F.where(m, new_h, h), F.where(m, new_c, c)
            outputs.append(output)

        if self.return_sequences:
            output = self._to_format(F.stack(outputs, axis=1), time_axis=True)
            if mask is not None:
                attach_mask(output, mask)
        else:
            output = self._to_format(outputs[-1], time_axis=False)
        if self.return_state:
            states = [self._to_format(s, time_axis=False) for s in (h, c)]
            return [output] + states
        return output

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=list(self.dilation_rate),
            activation=activations_module.serialize(self.activation),
            recurrent_activation=activations_module.serialize(self.recurrent_activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers_module.serialize(self.kernel_initializer),
            recurrent_initializer=initializers_module.serialize(self.recurrent_initializer),
            bias_initializer=initializers_module.serialize(self.bias_initializer),
            unit_forget_bias=self.unit_forget_bias,
            kernel_regularizer=serialize_or_none(self.kernel_regularizer),
            recurrent_regularizer=serialize_or_none(self.recurrent_regularizer),
            bias_regularizer=serialize_or_none(self.bias_regularizer),
            activity_regularizer=None,
            kernel_constraint=serialize_or_none(self.kernel_constraint),
            recurrent_constraint=serialize_or_none(self.recurrent_constraint),
            bias_constraint=serialize_or_none(self.bias_constraint),
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


@register("layer", "ConvLSTM2D")
class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM over sequences of images ``(batch, time, rows, cols, channels)``.

    Args:
        filters: output channels (of ``h`` and ``c``).
        kernel_size: int or pair, for the input and the recurrent convolution.
        strides, dilation_rate: int or pair, of the input convolution (not both > 1).
        padding: ``'valid'`` or ``'same'``, of the input convolution (the recurrent one is
            always ``'same'``).
        data_format: ``'channels_last'``, ``'channels_first'`` (``(batch, time, channels,
            rows, cols)``) or None (``config.image_data_format()``).
        activation: for the candidate and the output (default ``'tanh'``).
        recurrent_activation: for the gates (default ``'sigmoid'``).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer: as ``LSTM``.
        unit_forget_bias: start the forget gate's bias at one (default True).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on the weights.
        kernel_constraint, recurrent_constraint, bias_constraint: projections after updates.
        dropout: fraction of input cells dropped (one mask per gate, for every step) while
            training.
        recurrent_dropout: fraction of state cells dropped before the recurrent convolution.
        seed: private seed for the dropout masks.
        return_sequences: return every step's output, not only the last.
        return_state: also return the final ``h`` and ``c``.
        go_backwards: process the sequence from its end.
        stateful: only False (axonal refuses True by name).

    Call arguments: ``inputs``, ``training``, ``mask`` (boolean ``(batch, time)``: a masked step
    carries the states over), ``initial_state`` (``[h, c]``).

    Example:
        >>> ConvLSTM2D(4, 3, padding="same")(np.zeros((2, 5, 8, 8, 1), "float32")).shape
        (2, 8, 8, 4)
    """

    rank = 2

    def _conv(self, x, kernel, bias=None, strides=None, padding=None, dilation=None) -> Tensor:
        return F.conv2d(x, kernel, bias, strides, padding, dilation)


@register("layer", "ConvLSTM1D")
class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM over sequences of sequences ``(batch, time, steps, channels)``.

    Arguments as ``ConvLSTM2D`` with 1-D ``kernel_size``, ``strides`` and ``dilation_rate``;
    kernel ``(k, channels, 4 * filters)``, recurrent_kernel ``(k, filters, 4 * filters)``.

    Example:
        >>> ConvLSTM1D(4, 3, return_sequences=True)(np.zeros((2, 5, 10, 3), "float32")).shape
        (2, 5, 8, 4)
    """

    rank = 1

    def _conv(self, x, kernel, bias=None, strides=None, padding=None, dilation=None) -> Tensor:
        return F.conv1d(x, kernel, bias, strides, padding, dilation)


@register("layer", "ConvLSTM3D")
class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM over sequences of volumes ``(batch, time, d, h, w, channels)``.

    Arguments as ``ConvLSTM2D`` with 3-D ``kernel_size``, ``strides`` and ``dilation_rate``;
    kernel ``(kd, kh, kw, channels, 4 * filters)``, recurrent_kernel
    ``(kd, kh, kw, filters, 4 * filters)``.

    Example:
        >>> ConvLSTM3D(2, 3, padding="same")(np.zeros((1, 3, 4, 5, 5, 1), "float32")).shape
        (1, 4, 5, 5, 2)
    """

    rank = 3

    def _conv(self, x, kernel, bias=None, strides=None, padding=None, dilation=None) -> Tensor:
        return F.conv3d(x, kernel, bias, strides, padding, dilation)


__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
