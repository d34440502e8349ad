"""The Layer base: settings in ``__init__``, weights in ``build``, maths in ``call``."""

from __future__ import annotations

import inspect
import re
from typing import Any

from axonal import constraints as constraints_module
from axonal import initializers as initializers_module
from axonal import regularizers as regularizers_module
from axonal import weight_budget
from axonal.backend import floatx, on_clear_session, standardize_dtype, xp
from axonal.layers.masking import attach_mask, mask_of, masks_in_use
from axonal.layers.symbolic import (
    Node,
    SymbolicTensor,
    is_symbolic,
    join_tensor_kwargs,
    split_tensor_kwargs,
)
from axonal.registry import register
from axonal.tensor import Tensor, Variable, as_tensor, wrap

_NAME_COUNTS: dict[str, int] = {}


def unique_name(base: str) -> str:
    """Return ``base`` the first time, then ``base_1``, ``base_2``… (Keras naming)."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Restart automatic naming (``dense``, ``dense_1``…) from scratch."""
    _NAME_COUNTS.clear()


on_clear_session(reset_names)


class _CallContext:
    """Which top-level call is running: losses from ``add_loss`` belong to one such call, and
    a new one starts when a layer is called outside any other layer's call (as in Keras)."""

    __slots__ = ("outermost", "number", "losses_added")

    def __init__(self):
        self.outermost = None
        self.number = 0
        # whether any layer ever called add_loss (fit's tuned step skips the walk until then)
        self.losses_added = False


CALLS = _CallContext()


def begin_top_level_call(layer) -> None:
    """Start a new top-level call of ``layer`` (its ``losses`` forget the previous call's);
    for callers that run a model's ``call`` without ``__call__``, such as ``fit``."""
    CALLS.number += 1
    layer.__dict__["_call_number"] = CALLS.number


def _looks_like_metric(value) -> bool:
    # duck typing: layers sit below metrics in the import order
    return (
        not isinstance(value, type)
        and callable(getattr(value, "update_state", None))
        and callable(getattr(value, "result", None))
        and callable(getattr(value, "reset_state", None))
    )


def snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``; ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class of every layer.

    Subclasses store settings in ``__init__``, create weights in ``build(input_shape)`` with
    ``add_weight``, and compute outputs in ``call(inputs, training=False)``. The first call
    builds the layer from its input's shape.

    Args:
        trainable: whether the layer's weights are updated by training.
        name: unique name (default: the class name in snake case, numbered).
        dtype: float type of the weights (default ``floatx()``).
        input_shape: shape of one sample, e.g. ``(4,)``; lets a Sequential build at once.
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        batch_input_shape / batch_size: Keras 2 spellings of the same.
    """

    # whether the input's timestep mask applies unchanged to the output (Keras's flag)
    supports_masking = False
    # an InputSpec (or a list, one per input) that calls are checked against; None: no check
    input_spec = None
    # whether build() takes the shapes of every positional tensor (an attention layer's query,
    # value and key) rather than the first one's; its symbolic output shapes come from a probe
    builds_from_all_args = False

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        input_shape: tuple | None = None,
        input_dim: int | None = None,
        batch_input_shape: tuple | None = None,
        batch_size: int | None = None,
        **kwargs,
    ):
        if kwargs:
            bad = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {bad}.")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"Layer name must be a non-empty string without '/', got {name!r}.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = standardize_dtype(dtype or floatx())
        self.built = False
        self._weights: list[Variable] = []
        self._regularized: list[tuple[Variable, Any]] = []
        self._constrained: list[tuple[Variable, Any]] = []
        self._batch_input_shape = _batch_shape(
            input_shape, input_dim, batch_input_shape, batch_size, self.name
        )
        self.input_shape_built: tuple | None = None
        self._symbolic_nodes: list = []

    # ------------------------------------------------------------ weights
    def __setattr__(self, name: str, value) -> None:
        """Track layers assigned as attributes (and lists of them), in assignment order."""
        if isinstance(value, Layer) or (
            type(value) in (list, tuple)
            and ((value and isinstance(value[0], Layer)) or (not value and name[:1] != "_"))
        ):
            tracked = self.__dict__.get("_tracked_layers")
            if tracked is None:
                tracked = {}
                object.__setattr__(self, "_tracked_layers", tracked)
            tracked[name] = value
        elif name in self.__dict__.get("_tracked_layers", ()):
            del self.__dict__["_tracked_layers"][name]
        object.__setattr__(self, name, value)

    def _sublayers(self) -> list[Layer]:
        """Layers assigned as attributes (directly or in lists), each once, in order."""
        tracked = self.__dict__.get("_tracked_layers")
        if not tracked:
            return []
        out: list[Layer] = []
        seen = {id(self)}
        for value in tracked.values():
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Layer) and id(item) not in seen:
                    seen.add(id(item))
                    out.append(item)
        return out

    def nested_layers(self) -> list[Layer]:
        """This layer and every layer inside it (models' layers, wrapped and attribute-tracked
        sublayers, at any depth), each once, parents before children.

        Example:
            >>> [layer.name for layer in model.nested_layers()]  # doctest: +SKIP
            ['sequential', 'dense', 'dense_1']
        """
        found: list[Layer] = []
        seen: set[int] = set()
        stack: list[Layer] = [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            found.append(layer)
            listed = getattr(layer, "layers", None)
            children = list(listed) if isinstance(listed, (list, tuple)) else []
            children = [c for c in children if isinstance(c, Layer)] + layer._sublayers()
            stack.extend(reversed(children))
        return found

    # ------------------------------------------------------------ weights
    def add_weight(
        self,
        name: Any = None,
        shape: Any = None,
        initializer: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        dtype: Any = None,
        constraint: Any = None,
        **kwargs,
    ) -> Variable:
        """Create a weight ``layer_name/name`` of ``shape`` and register it with the layer.

        Takes axonal's ``add_weight(name, shape, initializer)`` and Keras's keyword form
        ``add_weight(shape=..., initializer=..., name=..., trainable=..., regularizer=...)``
        (a shape given first is taken as the shape; without a name the weights are called
        ``variable``, ``variable_1``…). The initializer defaults to ``glorot_uniform``.

        Example:
            >>> self.kernel = self.add_weight("kernel", (n_in, self.units), "glorot_uniform")
            >>> self.w = self.add_weight(shape=(n_in, 4), initializer="random_normal")
        """
        ignored = {"autocast", "aggregation", "synchronization", "use_resource", "caching_device"}
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            raise TypeError(
                f"add_weight() got unexpected keyword argument(s): {', '.join(unknown)}."
            )
        if name is not None and not isinstance(name, str):
            if shape is not None:
                raise TypeError(f"add_weight() name must be a string, got {name!r}.")
            name, shape = None, name
        if shape is None:
            raise ValueError(f"Layer '{self.name}': add_weight() needs a shape, e.g. shape=(4, 3).")
        if isinstance(shape, int):
            shape = (shape,)
        if name is None:
            taken = {w.name for w in self._weights}
            name, i = "variable", 0
            while name in taken:
                i += 1
                name = f"variable_{i}"
        init = initializers_module.get(initializer or "glorot_uniform")
        dtype = standardize_dtype(dtype or self.dtype)
        shape = tuple(int(d) for d in shape)
        # a loader's budget is checked before anything is allocated
        if weight_budget.reserve(f"{self.name}/{name}", shape):
            value = xp.asarray(init(shape, dtype=dtype), dtype=dtype)
        else:
            value = xp.zeros(shape, dtype=dtype)
        variable = Variable(value, name=name, path=f"{self.name}/{name}", trainable=trainable)
        self._weights.append(variable)
        reg = regularizers_module.get(regularizer)
        if reg is not None:
            self._regularized.append((variable, reg))
        projection = constraints_module.get(constraint)
        if projection is not None:
            self._constrained.append((variable, projection))
            variable.constraint = projection
        return variable

    @property
    def weights(self) -> list[Variable]:
        """All weights, trainable first, each in creation order (Keras order)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Variable]:
        """Weights updated by training (none when the layer is frozen), sublayers' included."""
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        subs = self._sublayers()
        if not subs:
            return own
        return _unique_vars(own + [w for layer in subs for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """Weights training leaves alone (all of them when the layer is frozen)."""
        subs = self._sublayers()
        if not self.trainable:
            return _unique_vars(list(self._weights) + [w for s in subs for w in s.weights])
        own = [w for w in self._weights if not w.trainable]
        if not subs:
            return own
        return _unique_vars(own + [w for layer in subs for w in layer.non_trainable_weights])

    @property
    def trainable_variables(self) -> list[Variable]:
        """Alias of ``trainable_weights`` (Keras 3 and TensorFlow spell it so)."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        """Alias of ``non_trainable_weights``."""
        return self.non_trainable_weights

    @property
    def variables(self) -> list[Variable]:
        """Alias of ``weights``."""
        return self.weights

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays, in Keras order (Dense: kernel, bias)."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Set the weights from arrays in ``get_weights()`` order; all are checked first."""
        own = self.weights
        if len(weights) != len(own):
            listed = ", ".join(w.path for w in own) if len(own) <= 8 else f"{len(own)} arrays"
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expects {len(own)} weight arrays "
                f"({listed or 'none'}), got {len(weights)}."
            )
        arrays = []
        for variable, value in zip(own, weights, strict=True):
            value = xp.asarray(value)
            if value.shape != variable.data.shape:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' weight '{variable.path}' has shape "
                    f"{variable.data.shape}, got an array of shape {value.shape}."
                )
            arrays.append(value)
        for variable, value in zip(own, arrays, strict=True):
            variable.data[...] = value

    def count_params(self) -> int:
        """Number of scalars in all weights."""
        return sum(int(w.data.size) for w in self.weights)

    def regularized_weights(self) -> list[tuple]:
        """``(variable, regularizer)`` pairs, own and sublayers': each adds
        ``regularizer(variable)`` to the training loss."""
        own = list(self._regularized)
        return own + [pair for layer in self._sublayers() for pair in layer.regularized_weights()]

    def regularization_losses(self) -> list[Tensor]:
        """Penalties of the weight regularizers, computed on the current weights."""
        return [reg(variable) for variable, reg in self.regularized_weights()]

    def weight_constraints(self) -> list[tuple]:
        """``(variable, constraint)`` pairs, own and sublayers'; applied after each update."""
        own = list(self._constrained)
        return own + [pair for layer in self._sublayers() for pair in layer.weight_constraints()]

    def add_loss(self, loss) -> None:
        """Add a loss term computed in ``call`` (a scalar Tensor): ``compute_loss`` adds it to
        the training loss. Terms are kept until the next top-level call, as in Keras.

        Example:
            >>> class ActivityPenalty(Layer):
            ...     def call(self, x):
            ...         self.add_loss(0.01 * axonal.ops.sum(x * x))
            ...         return x
        """
        number = CALLS.number
        entries = self.__dict__.get("_added_losses")
        if entries is None or (entries and entries[0][0] != number):
            entries = []
            self.__dict__["_added_losses"] = entries
        entries.append((number, loss))
        CALLS.losses_added = True

    def added_losses(self) -> list:
        """The ``add_loss`` terms of this layer and its sublayers from its latest call."""
        # a top-level call numbers itself; terms older than its latest one are stale (a layer
        # only ever called inside others keeps the terms of the last call that added any)
        number = self.__dict__.get("_call_number", 0)
        found = []
        for layer in self.nested_layers():
            for entry_number, loss in layer.__dict__.get("_added_losses") or ():
                if entry_number >= number:
                    found.append(loss)
        return found

    @property
    def losses(self) -> list[Tensor]:
        """The weight regularizers' penalties and the ``add_loss`` terms of the latest call."""
        return self.regularization_losses() + self.added_losses()

    @property
    def metrics(self) -> list:
        """Metric objects assigned as attributes of this layer and its sublayers (an endpoint
        layer's own accuracy, say); Keras reports and resets them with the model's."""
        found = []
        for layer in self.nested_layers():
            found.extend(v for v in vars(layer).values() if _looks_like_metric(v))
        return found

    # ------------------------------------------------------------ building and calling
    def build(self, input_shape: tuple) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first, may be None)."""
        self.built = True

    def build_from_shape(self, input_shape) -> None:
        """Build once for ``input_shape`` (a list of shapes for layers with several inputs)."""
        if not self.built:
            shape = list(input_shape) if isinstance(input_shape, list) else tuple(input_shape)
            self.build(shape)
            self.built = True
            self.input_shape_built = shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Output shape for ``input_shape`` (default: unchanged)."""
        return tuple(input_shape)

    def output_shape_for(self, input_shape, dtype, kwargs: dict | None = None):
        """The output shape for inputs of ``input_shape`` and ``dtype`` (lists of them for
        several inputs): ``compute_output_shape``, or, for a user's layer that does not define
        it, the shape of what ``call`` returns on zeros, as Keras learns it symbolically."""
        cls = type(self)
        if cls.compute_output_shape is not Layer.compute_output_shape or cls.__module__.startswith(
            "axonal."
        ):
            return self.compute_output_shape(input_shape)
        single = not isinstance(input_shape, list)
        extra = kwargs or {}
        try:
            return infer_output_shape(
                lambda xs: self(xs[0] if single else xs, **extra),
                [input_shape] if single else input_shape,
                [dtype] if single else dtype,
            )
        except weight_budget.ParameterBudgetError:
            raise
        except Exception as exc:
            # the same exception, its message saying which layer and why it was run (as Keras
            # does for a failure while it traces a layer symbolically)
            exc.args = (
                f"Layer '{self.name}' ({cls.__name__}) has no compute_output_shape, and running "
                f"its call on zeros of shape {input_shape} to learn its output shape failed: "
                f"{exc}",
            )
            raise

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        """The layer's computation (default: identity)."""
        return inputs

    def infer(self, inputs):
        """Inference on an array, returning an array (call it under ``no_grad``).

        The default runs ``call``; layers on the hot path of ``predict`` override it to skip
        the Tensor wrapping.
        """
        return self(inputs, training=False).data

    def __call__(self, inputs, *args, training: bool = False, **kwargs):
        """Build on first use, then ``call``; arrays are converted to tensors of the layer dtype.

        Positional arguments after ``inputs`` (an endpoint layer's targets and sample weights,
        say) are passed to ``call`` as they are; the layer builds from ``inputs`` alone.
        """
        if CALLS.outermost is None:
            return self._top_level_call(inputs, args, training, kwargs)
        if args:
            return self._call_with_extra_args(inputs, args, training, kwargs)
        several = False
        if self.input_spec is not None:
            self._check_input_spec(inputs)
        if not isinstance(inputs, Tensor):
            if is_symbolic(inputs):
                return self._call_symbolic(inputs, kwargs)
            several = isinstance(inputs, (list, tuple, dict))
            inputs = self._converted(inputs)
        if not self.built:
            self.build_from_shape(_batch_shapes(inputs))
        out = self._call_with_training(inputs, training, kwargs)
        if masks_in_use() and not several and not isinstance(out, (list, tuple)):
            mask = mask_of(inputs)
            if mask is not None and mask_of(out) is None:
                attach_mask(out, self.compute_mask(inputs, mask))
        return out

    def _check_input_spec(self, inputs) -> None:
        from axonal.layers.input_spec import check_input_spec

        flat = list(inputs.values()) if isinstance(inputs, dict) else inputs
        flat = list(flat) if isinstance(flat, (list, tuple)) else [flat]
        check_input_spec(
            self.name,
            self.input_spec,
            [xp.asarray(x) if isinstance(x, (list, float, int)) else x for x in flat],
        )

    def _top_level_call(self, inputs, args: tuple, training, kwargs: dict):
        """A call from outside any layer's call: ``add_loss`` terms start afresh."""
        begin_top_level_call(self)
        CALLS.outermost = self
        try:
            return self(inputs, *args, training=training, **kwargs)
        finally:
            CALLS.outermost = None

    def _call_with_extra_args(self, inputs, args: tuple, training, kwargs: dict):
        """A call with positional arguments after ``inputs``: symbolic when any is symbolic."""
        if is_symbolic(inputs) or any(isinstance(a, SymbolicTensor) for a in args):
            return self._call_symbolic(inputs, kwargs, args)
        inputs = self._converted(inputs)
        args = tuple(
            self._as_input_tensor(a) if isinstance(a, (xp.ndarray, Tensor)) else a for a in args
        )
        if not self.built:
            shapes = _batch_shapes(inputs)
            if self.builds_from_all_args:
                shapes = [shapes] + [_batch_shapes(a) for a in args if isinstance(a, Tensor)]
            self.build_from_shape(shapes)
        if _takes_training(type(self)):
            return self.call(inputs, *args, training=training, **kwargs)
        return self.call(inputs, *args, **kwargs)

    def _converted(self, inputs):
        """Arrays as tensors of the layer dtype: one, a list, or a dict by name (a model's)."""
        if isinstance(inputs, dict):
            return {k: self._as_input_tensor(x) for k, x in inputs.items()}
        if isinstance(inputs, (list, tuple)):
            return [self._as_input_tensor(x) for x in inputs]
        return self._as_input_tensor(inputs)

    def _call_with_training(self, inputs, training, kwargs: dict):
        """``call``, passing ``training`` only when the subclass's ``call`` takes it."""
        if _takes_training(type(self)):
            return self.call(inputs, training=training, **kwargs)
        return self.call(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        """The timestep mask of the output: the input's if ``supports_masking``, else None."""
        return mask if self.supports_masking else None

    def _as_input_tensor(self, x) -> Tensor:
        if isinstance(x, Tensor):
            return x
        if type(x) is xp.ndarray and (x.dtype.kind != "f" or x.dtype == self.dtype):
            # already what as_tensor would make of it (the batches fit hands every step)
            return wrap(x)
        return as_tensor(x, dtype=self.dtype if _is_float(x) else None)

    def _call_symbolic(self, inputs, kwargs: dict, args: tuple = ()):
        """Record a call on symbolic tensors: build, infer the output shape, return symbols.

        Extra positional ``args`` must be symbolic tensors too (they become the node's last
        inputs); the layer builds from ``inputs`` alone.
        """
        single = isinstance(inputs, SymbolicTensor)
        flat = [inputs] if single else list(inputs)
        # tensors given by keyword (attention_mask=mask) become the node's last inputs
        kwargs, slots, keyword_tensors = split_tensor_kwargs(kwargs, f"Layer '{self.name}'")
        for i, arg in enumerate(args):
            if not isinstance(arg, SymbolicTensor):
                raise TypeError(
                    f"Layer '{self.name}' was called on symbolic tensors with positional "
                    f"argument {i + 2} a {type(arg).__name__}; in a functional model every "
                    "positional argument must be a tensor from Input(...) or a layer."
                )
        shapes = flat[0].shape if single else [t.shape for t in flat]
        if args and self.builds_from_all_args:
            self.build_from_shape([shapes] + [a.shape for a in args])
        else:
            self.build_from_shape(shapes)
        dtypes = [flat[0].dtype] if single else [t.dtype for t in flat]
        if args or (slots and not type(self).__module__.startswith("axonal.")):
            out_shape = self._extra_args_output_shape(
                flat, single, args, kwargs, slots, keyword_tensors
            )
        else:
            out_shape = self.output_shape_for(shapes, dtypes[0] if single else dtypes, kwargs)
        multiple = isinstance(out_shape, list)
        node = Node(
            self,
            flat + list(args) + keyword_tensors,
            single,
            dict(kwargs),
            len(args),
            slots,
        )
        out_shapes = out_shape if multiple else [out_shape]
        node.outputs = [
            SymbolicTensor(shape, self.dtype, self.name, node, i)
            for i, shape in enumerate(out_shapes)
        ]
        # the calls in order: a shared layer's second call is node 1 in saved configs
        self._symbolic_nodes.append(node)
        return node.outputs if multiple else node.outputs[0]

    def _extra_args_output_shape(
        self,
        flat: list,
        single: bool,
        args: tuple,
        kwargs: dict,
        slots: tuple = (),
        keyword_tensors: list | None = None,
    ):
        """Output shape of a call with extra positional (or keyword) tensors:
        ``compute_output_shape`` of ``inputs`` for axonal's layers, else what ``call`` returns
        on zeros."""
        cls = type(self)
        if not cls.builds_from_all_args and (
            cls.compute_output_shape is not Layer.compute_output_shape
            or cls.__module__.startswith("axonal.")
        ):
            return self.compute_output_shape(flat[0].shape if single else [t.shape for t in flat])
        tensors = flat + list(args) + list(keyword_tensors or [])
        count = len(flat)
        positional = count + len(args)

        def run(xs):
            first = xs[0] if single else xs[:count]
            given = join_tensor_kwargs(kwargs, slots, xs[positional:])
            return self(first, *xs[count:positional], **given)

        return infer_output_shape(run, [t.shape for t in tensors], [t.dtype for t in tensors])

    @property
    def input(self):
        """The symbolic tensor(s) this layer was last called on (Keras's ``layer.input``)."""
        node = self._latest_node("input")
        positional = node.positional
        first = positional[: len(positional) - node.extra_args]
        return first[0] if node.single else first

    @property
    def output(self):
        """The symbolic tensor(s) this layer's last symbolic call made (``layer.output``), to
        build a functional model from part of another: ``Model(m.input, layer.output)``."""
        outputs = self._latest_node("output").outputs
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def _latest_node(self, what: str):
        if not self._symbolic_nodes:
            raise ValueError(
                f"Layer '{self.name}' has never been called on a symbolic input, so it has no "
                f"{what}: call it on Input(...) or on another layer's output, or put it in a "
                "Sequential model that declares its input shape."
            )
        return self._symbolic_nodes[-1]

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Constructor arguments as JSON values (rebuild with ``from_config``)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Rebuild a layer from ``get_config()``'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _batch_shapes(inputs):
    """The build shape(s) of converted inputs: the batch axis open; a dict builds from its
    values' shapes in order."""
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if isinstance(inputs, list):
        return [(None,) + x.shape[1:] for x in inputs]
    return (None,) + inputs.shape[1:]


def _is_float(x) -> bool:
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    return kind is None or kind == "f"


def _batch_shape(input_shape, input_dim, batch_input_shape, batch_size, name) -> tuple | None:
    """The layer's declared batch input shape from Keras's several spellings, or None."""
    if batch_input_shape is not None:
        return checked_shape(batch_input_shape, name, "batch_input_shape")
    if input_shape is None and input_dim is not None:
        input_shape = (input_dim,)
    if input_shape is None:
        return None
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    return (batch_size,) + checked_shape(input_shape, name, "input_shape")


def checked_shape(shape, name: str, what: str = "input_shape") -> tuple:
    """``shape`` as a tuple of positive ints and None, or a ValueError naming the layer: a
    declared shape comes from users and from files (``true``, ``2.5`` or ``"3"`` are no axis
    lengths, though ``int()`` would take them)."""
    if not isinstance(shape, (list, tuple)):
        raise ValueError(f"Layer '{name}': {what} must be a tuple of axis lengths, got {shape!r}.")
    for d in shape:
        plain_int = isinstance(d, (int, xp.integer)) and not isinstance(d, bool)
        if d is not None and (not plain_int or d < 1):
            raise ValueError(
                f"Layer '{name}': {what} must hold positive integers or None, got {tuple(shape)}."
            )
    return tuple(None if d is None else int(d) for d in shape)


def _unique_vars(weights: list) -> list:
    seen: set[int] = set()
    out = []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


_TAKES_TRAINING: dict[type, bool] = {}


def _takes_training(cls: type) -> bool:
    """Whether ``cls.call`` accepts ``training`` (Keras layers may leave it out)."""
    known = _TAKES_TRAINING.get(cls)
    if known is None:
        try:
            params = inspect.signature(cls.call).parameters.values()
        except (TypeError, ValueError):
            params = []
        known = any(p.name == "training" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        _TAKES_TRAINING[cls] = known
    return known


def infer_output_shape(fn, shapes: list, dtypes: list):
    """Output batch shape(s) of ``fn(list of tensors)`` found by running it on zeros.

    Unknown axes (None) are tried at two sizes; an output axis that follows them is None.
    """
    from axonal.autograd import no_grad

    def run(size):
        for shape in shapes:
            weight_budget.check_probe(tuple(size if d is None else d for d in shape))
        xs = [
            as_tensor(xp.zeros([size if d is None else d for d in shape], dtype=dtype))
            for shape, dtype in zip(shapes, dtypes, strict=True)
        ]
        with no_grad(), xp.errstate(all="ignore"):
            out = fn(xs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [tuple(getattr(o, "shape", ())) for o in outs], isinstance(out, (list, tuple))

    first, several = run(2)
    second, _ = run(3)
    result = [
        tuple(None if a != b else a for a, b in zip(s1, s2, strict=True))
        for s1, s2 in zip(first, second, strict=True)
    ]
    result = [(None,) + s[1:] if s and shapes and shapes[0][:1] == (None,) else s for s in result]
    return result if several else result[0]


# the axonal.ops functions that may become graph nodes on symbolic tensors (saved by name)
OP_NAMES = frozenset(
    """abs absolute add argmax argmin argsort broadcast_to cast ceil clip concatenate cumsum
    divide dot dot_product_attention einsum elu equal erf exp expand_dims exponential flatten
    floor gelu greater greater_equal hard_sigmoid hard_silu leaky_relu less less_equal log
    log10 log1p log2 log_softmax logical_and logical_not logical_or logsumexp matmul max
    maximum mean min minimum moveaxis multiply negative norm not_equal one_hot power prod relu
    relu6 repeat reshape round selu sigmoid sign silu softmax softplus softsign sort sqrt square
    squeeze stack std subtract sum swapaxes swish take take_along_axis tanh tensordot tile
    top_k transpose tril triu var where get_item image.crop_images image.extract_patches
    image.pad_images image.resize image.rgb_to_grayscale""".split()
)

# the keras.ops.numpy functions completed for Keras 3 parity (issue 18), kept apart from the
# list above so the two grow without touching each other
OP_NAMES = OP_NAMES | frozenset(
    """allclose amax amin angle append arccos arccosh arcsin arcsinh arctan arctan2 arctanh
    argpartition array array_split bartlett bincount bitwise_and bitwise_invert
    bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor blackman cbrt
    conj conjugate copy corrcoef correlate cos cosh count_nonzero cross cumprod deg2rad diag
    diagflat diagonal diff digitize divide_no_nan dsplit dstack empty empty_like exp2 expm1
    fabs flip fliplr flipud floor_divide fmax fmin fmod gcd geomspace hamming hanning heaviside
    histogram hsplit hstack hypot i0 identity imag inner isclose isin isinf isneginf isposinf
    isreal kaiser kron lcm ldexp left_shift logaddexp logaddexp2 logspace median meshgrid
    nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian nanmin
    nanpercentile nanprod nanquantile nanstd nansum nanvar nextafter nonzero outer pad
    percentile ptp quantile rad2deg ravel real right_shift roll rot90 searchsorted select
    signbit sin sinc sinh slogdet tan trace trapezoid trunc unique unravel_index vander vdot
    view vsplit vstack""".split()
)

# keras.ops.nn / core / linalg / image additions (issue 18), on symbolic tensors as the others
OP_NAMES = OP_NAMES | frozenset(
    """adaptive_average_pool adaptive_max_pool average_pool batch_normalization celu conv
    conv_transpose ctc_decode ctc_loss depth_to_space depthwise_conv fold glu hard_shrink
    hard_swish hard_tanh layer_normalization log_sigmoid max_pool multi_hot normalize psnr
    rms_normalization separable_conv soft_shrink space_to_depth sparse_plus sparse_sigmoid
    sparsemax squareplus tanh_shrink threshold unfold binary_crossentropy
    categorical_crossentropy sparse_categorical_crossentropy cdist erfc erfinv
    extract_sequences fft fft2 ifft2 in_top_k irfft istft logdet rfft rsqrt saturate_cast scatter
    scatter_update segment_max segment_min segment_prod segment_sum slice slice_update stft
    rearrange unstack cholesky cholesky_inverse det eigh inv lstsq pinv qr solve
    solve_triangular svd
    image.affine_transform image.elastic_transform image.extract_patches_3d image.gaussian_blur
    image.hsv_to_rgb image.map_coordinates image.perspective_transform image.rgb_to_hsv
    image.scale_and_translate image.sobel_edges image.ssim""".split()
)


def _encode(value, tensors: list):
    """Replace symbolic tensors in ``value`` by ``{"__tensor__": i}``; constants to JSON."""
    if isinstance(value, SymbolicTensor):
        for i, t in enumerate(tensors):
            if t is value:
                return {"__tensor__": i}
        tensors.append(value)
        return {"__tensor__": len(tensors) - 1}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, xp.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, slice):
        # x[1:4:2] on a symbolic tensor: the slice is saved as its three bounds
        return {"__slice__": [_encode(value.start, tensors), _encode(value.stop, tensors),
                              _encode(value.step, tensors)]}  # fmt: skip
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, xp.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"An op on symbolic tensors takes tensors and constants (numbers, strings, lists, "
        f"arrays), got {type(value).__name__}."
    )


def _constant_dtype(name):
    """The dtype of a saved constant: plain numbers only (a config could name a string dtype
    of gigabytes, or an object dtype)."""
    dtype = xp.dtype(name)
    if dtype.kind not in "biufc" or dtype.itemsize > 16:
        raise ValueError(f"a constant's dtype must be a number type, got {name!r}.")
    return dtype


def _decode(value, tensors: list):
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__array__" in value:
            return xp.asarray(value["__array__"], dtype=_constant_dtype(value["dtype"]))
        if "__slice__" in value:
            bounds = [_decode(v, tensors) for v in value["__slice__"]]
            if len(bounds) != 3 or any(
                b is not None and (isinstance(b, bool) or not isinstance(b, int)) for b in bounds
            ):
                raise ValueError(f"a saved slice holds three ints or nulls, got {bounds!r}.")
            return slice(*bounds)
        if "__ellipsis__" in value:
            return Ellipsis
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    return value


def symbolic_op(op: str, args, kwargs: dict):
    """Record ``ops.<op>(*args, **kwargs)`` on symbolic tensors as a ``TensorOperation`` node."""
    tensors: list = []
    enc_args = [_encode(a, tensors) for a in args]
    enc_kwargs = {k: _encode(v, tensors) for k, v in kwargs.items()}
    layer = TensorOperation(op, enc_args, enc_kwargs)
    return layer(tensors[0] if len(tensors) == 1 else tensors)


@register("layer", "TensorOperation")
class TensorOperation(Layer):
    """A call of an ``axonal.ops`` function (or a Python operator) on symbolic tensors.

    Made automatically when ``x + y``, ``x @ w``, ``ops.relu(x)``… meet symbolic tensors in the
    functional API; replays the op on the real tensors. Its config holds the op's name and the
    constant arguments, so models with such nodes save and load.

    Args:
        op: the name of an ``axonal.ops`` function (one of ``OP_NAMES``).
        args / kwargs: the arguments, tensors written as ``{"__tensor__": i}``.
    """

    def __init__(self, op: str, args: list | None = None, kwargs: dict | None = None, **base):
        if op not in OP_NAMES:
            raise ValueError(
                f"TensorOperation: unknown op {op!r}; expected one of "
                f"{', '.join(sorted(OP_NAMES))}."
            )
        if base.get("name") is None:
            base["name"] = unique_name(op.rsplit(".", 1)[-1])
        super().__init__(**base)
        self.op = op
        self.op_args = list(args or [])
        self.op_kwargs = dict(kwargs or {})
        self._summary_type = "".join(part.capitalize() for part in op.rsplit(".", 1)[-1].split("_"))

    def call(self, inputs, training: bool = False):
        from axonal import ops  # ops sits above layers; the node replays it by name

        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        fn = ops
        for part in self.op.split("."):  # "image.resize" lives in ops.image
            fn = getattr(fn, part)
        args = [_decode(a, tensors) for a in self.op_args]
        kwargs = {k: _decode(v, tensors) for k, v in self.op_kwargs.items()}
        return fn(*args, **kwargs)

    def _call_symbolic(self, inputs, kwargs: dict):
        flat = [inputs] if isinstance(inputs, SymbolicTensor) else list(inputs)
        self._input_dtypes = [t.dtype for t in flat]
        self._output_dtypes = None
        outputs = super()._call_symbolic(inputs, kwargs)
        # the op's own result dtypes (int32 indices, booleans, a cast), seen when the shape was
        # probed, instead of the layer's float dtype: the ops after it probe with the right ones
        found = self._output_dtypes or []
        tensors = outputs if isinstance(outputs, list) else [outputs]
        if len(found) == len(tensors):
            for tensor, dtype in zip(tensors, found, strict=True):
                tensor.dtype = dtype
        return outputs

    def compute_output_shape(self, input_shape):
        shapes = [input_shape] if isinstance(input_shape, tuple) else list(input_shape)
        dtypes = getattr(self, "_input_dtypes", None) or [self.dtype] * len(shapes)

        def probe(xs):
            out = self.call(xs[0] if len(xs) == 1 else xs)
            outs = out if isinstance(out, (list, tuple)) else [out]
            self._output_dtypes = [str(getattr(o, "dtype", self.dtype)) for o in outs]
            return out

        return infer_output_shape(probe, shapes, dtypes)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"op": self.op, "args": self.op_args, "kwargs": self.op_kwargs})
        return config
