"""``clone_model``: the same architecture with fresh weights, as Keras's ``clone_model``."""

from __future__ import annotations

from collections.abc import Callable

from axonal.layers.base import Layer
from axonal.layers.core import Input
from axonal.models.model import Model
from axonal.models.sequential import Sequential


def _fresh_copy(layer: Layer) -> Layer:
    """A new layer of the same class and config (new, unbuilt weights)."""
    return type(layer).from_config(layer.get_config())


def clone_model(
    model: Model,
    input_tensors=None,
    clone_function: Callable[[Layer], Layer] | None = None,
) -> Model:
    """A new model with ``model``'s architecture and newly initialized weights.

    Weights are not copied (``clone.set_weights(model.get_weights())`` does that), and the
    clone is not compiled, as in Keras.

    Args:
        model: a ``Sequential`` or functional ``Model``; a subclassed model is rebuilt from
            ``get_config()`` and needs one.
        input_tensors: for a functional model, symbolic tensors (``Input(...)``) to call the
            cloned layers on instead of new inputs, in the model's input order.
        clone_function: makes each layer's replacement (default: a fresh copy from its config);
            ``lambda layer: layer`` shares layers instead.

    Example:
        >>> clone = axonal.models.clone_model(model)
        >>> clone.set_weights(model.get_weights())
    """
    clone = clone_function or _fresh_copy
    if isinstance(model, Sequential):
        if input_tensors is not None:
            raise ValueError("clone_model(input_tensors=...) takes a functional model.")
        layers: list = []
        if model.input_shape is not None:
            layers.append(Input(tuple(model.input_shape[1:]), dtype=model.dtype))
        layers += [clone(layer) for layer in model.layers]
        return Sequential(layers, name=model.name)
    graph = model._graph
    if graph is None:
        if input_tensors is not None or clone_function is not None:
            raise ValueError(
                "clone_model of a subclassed model rebuilds it from get_config(); "
                "input_tensors and clone_function apply to Sequential and functional models."
            )
        try:
            config = model.get_config()
            return type(model).from_config(config)
        except (NotImplementedError, TypeError) as error:
            raise ValueError(
                f"clone_model cannot rebuild the subclassed model '{model.name}' "
                f"({type(model).__name__}): define get_config() and from_config() as Keras "
                f"requires ({error})."
            ) from error
    if input_tensors is None:
        new_inputs = [Input(tuple(t.shape[1:]), dtype=t.dtype, name=t.name) for t in graph.inputs]
    else:
        new_inputs = (
            list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        )
        if len(new_inputs) != len(graph.inputs):
            raise ValueError(
                f"clone_model got {len(new_inputs)} input_tensors for a model of "
                f"{len(graph.inputs)} inputs."
            )
    produced = {id(old): new for old, new in zip(graph.inputs, new_inputs, strict=True)}
    replacements: dict[int, Layer] = {}
    for node in graph.nodes:
        layer = replacements.get(id(node.layer))
        if layer is None:
            layer = replacements[id(node.layer)] = clone(node.layer)
        values = [produced[id(t)] for t in node.inputs]
        out = layer(*node.call_args(values), **node.call_kwargs(values))
        outs = out if isinstance(out, (list, tuple)) else [out]
        for old, new in zip(node.outputs, outs, strict=True):
            produced[id(old)] = new
    outputs = [produced[id(t)] for t in graph.outputs]
    keys = model._input_keys
    inputs = dict(zip(keys, new_inputs, strict=True)) if keys else new_inputs
    return Model(
        inputs[0] if model._single_input and not keys else inputs,
        outputs[0] if model._single_output else outputs,
        name=model.name,
    )


__all__ = ["clone_model"]
