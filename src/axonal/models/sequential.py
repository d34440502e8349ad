"""Sequential: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from axonal.layers.base import Layer, checked_shape
from axonal.layers.core import Input, InputLayer
from axonal.layers.symbolic import SymbolicTensor, shape_str
from axonal.models.fusion import fusable
from axonal.models.model import Model
from axonal.registry import register
from axonal.tensor import Tensor


@register("layer", "Sequential")
class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an ``Input(...)`` first declares the input shape).
        name: model name (default ``sequential``, numbered).

    Example:
        >>> model = Sequential()
        >>> model.add(Dense(4, input_dim=4, activation="relu"))
        >>> model.add(Dense(3, activation="softmax"))
    """

    def __init__(
        self, layers: list | None = None, name: str | None = None, trainable: bool = True, **kwargs
    ):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._layers: list[Layer] = []
        self._layer_names: dict[str, Layer] = {}
        self._declared_input: tuple | None = None
        # the last layer's output shape once every layer is built for the declared input, so
        # add() builds only the new layer (a model of n layers is built in O(n), not O(n^2))
        self._built_output_shape: tuple | None = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers in order (an input declaration is not a layer here, as in Keras)."""
        return list(self._layers)

    @property
    def dtype_policy(self) -> str:
        """The float type of the model's weights."""
        return self.dtype

    def add(self, layer) -> None:
        """Append a layer (or an ``Input``/``InputLayer``, which sets the input shape)."""
        if isinstance(layer, SymbolicTensor):
            self._set_declared_input(layer.shape, layer.dtype)
            return
        if isinstance(layer, InputLayer):
            self._set_declared_input(layer._batch_input_shape, layer.dtype)
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a Layer, got {type(layer).__name__}: {layer!r}."
            )
        existing = self._layer_names.get(layer.name)
        if existing is layer:
            raise ValueError(f"Layer '{layer.name}' is already in model '{self.name}'.")
        if existing is not None:
            raise ValueError(
                f"Model '{self.name}' already has a layer named '{layer.name}'; names must be "
                "unique within a model."
            )
        if not self._layers and self._declared_input is None and layer._batch_input_shape:
            self._declared_input = layer._batch_input_shape
            self.dtype = layer.dtype
        if not self._layers:
            self.dtype = layer.dtype
        self._layers.append(layer)
        self._layer_names[layer.name] = layer
        self._structure_changed()
        if self._declared_input is None:
            return
        if self._built_output_shape is not None and len(self._layers) > 1:
            layer.build_from_shape(self._built_output_shape)
            self._built_output_shape = layer.output_shape_for(self._built_output_shape, self.dtype)
            self.built = True
        else:
            self._build_layers(self._declared_input)

    def _set_declared_input(self, shape: tuple, dtype: str) -> None:
        if self._layers:
            raise ValueError("An Input must come first in a Sequential model.")
        self._declared_input = tuple(shape)
        self._built_output_shape = None
        self.dtype = dtype

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise IndexError(f"Model '{self.name}' has no layers to pop.")
        self._structure_changed()
        self._built_output_shape = None
        layer = self._layers.pop()
        del self._layer_names[layer.name]
        return layer

    @property
    def inputs(self) -> list:
        """The symbolic input, once the input shape is known (``[]`` before)."""
        graph = self._symbolic_graph()
        return [] if graph is None else [graph[0]]

    @property
    def outputs(self) -> list:
        """The symbolic output, once the input shape is known (``[]`` before)."""
        graph = self._symbolic_graph()
        return [] if graph is None else [graph[1]]

    def _symbolic_graph(self) -> tuple | None:
        """``(input, output)`` symbols of the layers called in order on ``Input(shape)``,
        made once per set of layers, so ``layer.output`` of each layer is defined."""
        shape = self.input_shape
        if shape is None or not self._layers:
            return None
        key = (tuple(shape), tuple(id(layer) for layer in self._layers))
        cached = self.__dict__.get("_symbolic")
        if cached is not None and cached[0] == key:
            return cached[1]
        inputs = Input(tuple(shape[1:]), dtype=self.dtype)
        x = inputs
        for layer in self._layers:
            x = layer(x)
        self.__dict__["_symbolic"] = (key, (inputs, x))
        return inputs, x

    @property
    def input_shape(self) -> tuple | None:
        """Batch input shape, e.g. ``(None, 4)``, once declared or built."""
        if self._declared_input is not None:
            return self._declared_input
        if self._layers and self._layers[0].input_shape_built is not None:
            return self._layers[0].input_shape_built
        return None

    @property
    def output_shape(self) -> tuple | None:
        """Batch output shape once the input shape is known."""
        shape = self.input_shape
        return None if shape is None else self.compute_output_shape(shape)

    def build(self, input_shape: tuple | None = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first)."""
        if input_shape is None:
            input_shape = self.input_shape
        if input_shape is None:
            raise ValueError(
                f"Model '{self.name}' cannot be built without an input shape: pass "
                "input_shape to the first layer, add an Input, or call build(input_shape)."
            )
        if self._declared_input is None:
            self._declared_input = tuple(input_shape)
        self._build_layers(tuple(input_shape))

    def build_from_shape(self, input_shape: tuple) -> None:
        self.build(tuple(input_shape))

    def _build_layers(self, input_shape: tuple) -> None:
        shape = input_shape
        for layer in self._layers:
            layer.build_from_shape(shape)
            shape = layer.output_shape_for(shape, self.dtype)
        self.built = bool(self._layers)
        self.input_shape_built = input_shape
        if input_shape == self._declared_input:
            self._built_output_shape = shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.output_shape_for(shape, self.dtype)
        return shape

    def call(self, inputs, training: bool = False) -> Tensor:
        if not self._layers:
            raise ValueError(f"Model '{self.name}' has no layers: add some before using it.")
        x = inputs
        layers = self._layers
        index = 0
        while index < len(layers):
            layer = layers[index]
            # BatchNormalization then a plain ReLU: one op while training (models.fusion)
            if training and index + 1 < len(layers) and fusable(layer, layers[index + 1]):
                out = layer.call_then_relu(x)
                if out is not None:
                    x = out
                    index += 2
                    continue
            x = layer(x, training=training)
            index += 1
        return x

    def _layer_chain(self) -> list | None:
        """The layers in order: a Sequential's forward pass is exactly their calls (unless a
        subclass changes how the model is called)."""
        cls = type(self)
        if (
            cls.call is not Sequential.call
            or cls.compute_outputs is not Model.compute_outputs
            or cls._call_with_training is not Layer._call_with_training
        ):
            return None
        return list(self._layers)

    def infer(self, inputs):
        x = inputs
        for layer in self._layers:
            x = layer.infer(x)
        return x

    def _inference_chain(self) -> list | None:
        # a subclass that redefines infer (or call) computes something else than its layers
        # in a row
        cls = type(self)
        if cls.infer is not Sequential.infer or cls.call is not Sequential.call:
            return None
        return list(self._layers)

    def _summary_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        shape = self.input_shape
        for layer in self._layers:
            shape = None if shape is None else layer.output_shape_for(shape, self.dtype)
            if getattr(layer, "metadata_only", False):
                continue  # an identity that carries metadata (ColumnNames): not a step to show
            out = "?" if shape is None else shape_str(shape)
            count = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append((f"{layer.name} ({type(layer).__name__})", out, count))
        return rows

    def get_config(self) -> dict:
        from axonal.registry import serialize

        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype,
            "layers": [serialize(layer) for layer in self._layers],
        }
        if self._declared_input is not None:
            config["batch_input_shape"] = list(self._declared_input)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Sequential:
        from axonal.registry import deserialize

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        shape = config.get("batch_input_shape")
        if shape is not None:
            model._declared_input = checked_shape(shape, model.name, "batch_input_shape")
        for layer_config in config.get("layers", []):
            model.add(deserialize("layer", layer_config, custom_objects))
        return model

    def __repr__(self) -> str:
        shape = self.input_shape
        return (
            f"<Sequential name={self.name}, layers={len(self._layers)}, "
            f"input_shape={shape_str(shape) if shape else None}>"
        )
