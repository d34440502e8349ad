"""The layer graph behind a functional ``Model(inputs, outputs)``: discovery, replay, config."""

from __future__ import annotations

from axonal.layers.base import Layer
from axonal.layers.core import InputLayer
from axonal.layers.symbolic import Node, SymbolicTensor, join_tensor_kwargs
from axonal.models.fusion import fusable, fused_nodes
from axonal.registry import deserialize, serialize


def flatten_structure(value, what: str) -> tuple[list, list | None, bool]:
    """``(items, dict keys or None, single)`` for a tensor, a list/tuple or a dict of them."""
    if isinstance(value, dict):
        keys = list(value)
        return [value[k] for k in keys], keys, False
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"A model needs at least one {what}.")
        return list(value), None, False
    return [value], None, True


class Graph:
    """The nodes between ``inputs`` and ``outputs`` in an order that can be replayed.

    Raises:
        TypeError: an input or output is not a symbolic tensor.
        ValueError: an output depends on an ``Input`` that is not among ``inputs``.
    """

    def __init__(self, inputs: list, outputs: list):
        for t in inputs + outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    "Model(inputs, outputs) takes symbolic tensors (from Input(...) and layer "
                    f"calls), got {type(t).__name__}."
                )
        for t in inputs:
            if t.node is not None:
                raise ValueError(
                    f"Model inputs must come from Input(...); '{t.name}' is a layer's output."
                )
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = self._ordered_nodes()
        self.layers = _unique_layers(node.layer for node in self.nodes)
        # BatchNormalization nodes whose output only a plain ReLU node reads: run as one op
        # while training (models.fusion)
        self.relu_after = fused_nodes(self.nodes, self.outputs)

    def _ordered_nodes(self) -> list[Node]:
        input_ids = {id(t) for t in self.inputs}
        order: list[Node] = []
        seen: set[int] = set()
        # iterative post-order over nodes: a node after every node that feeds it
        stack = [(t, False) for t in reversed(self.outputs)]
        while stack:
            tensor, expanded = stack.pop()
            if id(tensor) in input_ids:
                continue
            node = tensor.node
            if node is None:
                known = ", ".join(t.name for t in self.inputs)
                raise ValueError(
                    f"An output depends on Input '{tensor.name}', which is not among the "
                    f"model's inputs ({known})."
                )
            if id(node) in seen:
                continue
            if expanded:
                seen.add(id(node))
                order.append(node)
                continue
            stack.append((tensor, True))
            stack.extend((t, False) for t in reversed(node.inputs) if id(t) not in input_ids)
        return order

    def run(self, values: list, training: bool) -> list:
        """Replay the graph on concrete ``values`` (one per input); returns the outputs."""
        env = {id(t): v for t, v in zip(self.inputs, values, strict=True)}
        done: set[int] = set()
        for node in self.nodes:
            if id(node) in done:
                continue
            values = [env[id(t)] for t in node.inputs]
            relu = self.relu_after.get(id(node)) if training else None
            # checked again: a layer's attributes may have changed since the graph was built
            if relu is not None and fusable(node.layer, relu.layer):
                out = node.layer.call_then_relu(values[0])
                if out is not None:
                    # the normalization's own output is never made: only this ReLU read it
                    env[id(relu.outputs[0])] = out
                    done.add(id(relu))
                    continue
            out = node.layer(*node.call_args(values), training=training, **node.call_kwargs(values))
            outs = out if isinstance(out, (list, tuple)) else [out]
            for symbol, value in zip(node.outputs, outs, strict=True):
                env[id(symbol)] = value
        return [env[id(t)] for t in self.outputs]

    def inbound(self, node: Node) -> list[str]:
        """``layer[node][tensor]`` labels of what feeds ``node`` (for summaries and configs)."""
        return [_tensor_label(t) for t in node.inputs]

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        """JSON description: every layer once, every call as an inbound-node entry."""
        layer_entries = []
        for t in self.inputs:
            layer_entries.append(
                {
                    "class_name": "InputLayer",
                    "name": t.name,
                    "config": {
                        "batch_input_shape": list(t.shape),
                        "dtype": t.dtype,
                        "name": t.name,
                    },
                    "inbound_nodes": [],
                }
            )
        calls: dict[int, list] = {}
        for node in self.nodes:
            call = {
                "args": [_tensor_ref(t) for t in node.positional],
                "single": node.single,
                "kwargs": node.kwargs,
            }
            if node.extra_args:
                call["extra_args"] = node.extra_args
            if node.tensor_kwargs:
                # {key: ref} for a tensor, {key: [ref or None, ...]} for a list of them
                given = [_tensor_ref(t) for t in node.inputs[len(node.positional) :]]
                call["tensor_kwargs"] = join_tensor_kwargs({}, node.tensor_kwargs, given)
            calls.setdefault(id(node.layer), []).append(call)
        for layer in self.layers:
            entry = serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = calls[id(layer)]
            layer_entries.append(entry)
        return {
            "layers": layer_entries,
            "input_layers": [_tensor_ref(t) for t in self.inputs],
            "output_layers": [_tensor_ref(t) for t in self.outputs],
        }

    @staticmethod
    def from_config(config: dict, custom_objects: dict | None = None) -> tuple[list, list]:
        """Rebuild the symbolic inputs and outputs described by ``get_config``."""
        from axonal.layers.core import Input

        produced: dict[tuple, SymbolicTensor] = {}
        call_counts: dict[str, int] = {}
        pending = []
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                cfg = entry["config"]
                symbol = Input(
                    tuple(cfg["batch_input_shape"][1:]), dtype=cfg.get("dtype"), name=entry["name"]
                )
                produced[(entry["name"], 0, 0)] = symbol
            else:
                layer = deserialize(
                    "layer",
                    {"class_name": entry["class_name"], "config": entry["config"]},
                    custom_objects,
                )
                pending.extend((layer, call) for call in entry["inbound_nodes"])
        # replay the calls in an order where every argument already exists
        while pending:
            progressed = False
            for item in list(pending):
                layer, call = item
                refs = [tuple(ref) for ref in call["args"]]
                keyword_refs = _keyword_refs(call.get("tensor_kwargs") or {}, layer.name)
                if all(ref in produced for ref in [*refs, *_flat_refs(keyword_refs)]):
                    args = [produced[ref] for ref in refs]
                    extra = call.get("extra_args", 0)
                    if type(extra) is not int or not 0 <= extra < len(args):
                        raise ValueError(
                            f"A call of layer {layer.name!r} has extra_args={extra!r}; it must "
                            f"be a whole number below its {len(args)} arguments."
                        )
                    first = args[: len(args) - extra]
                    out = layer(
                        first[0] if call["single"] else first,
                        *args[len(args) - extra :],
                        **call.get("kwargs", {}),
                        **{
                            key: produced[ref]
                            if isinstance(ref, tuple)
                            else [None if r is None else produced[r] for r in ref]
                            for key, ref in keyword_refs.items()
                        },
                    )
                    index = call_counts.get(layer.name, 0)
                    call_counts[layer.name] = index + 1
                    outs = out if isinstance(out, list) else [out]
                    for i, symbol in enumerate(outs):
                        produced[(layer.name, index, i)] = symbol
                    pending.remove(item)
                    progressed = True
            if not progressed:
                raise ValueError("The model config has calls whose inputs are never produced.")
        inputs = [produced[tuple(ref)] for ref in config["input_layers"]]
        outputs = [produced[tuple(ref)] for ref in config["output_layers"]]
        return inputs, outputs


def _is_ref(value) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) for v in value[1:])
    )


def _keyword_refs(saved: dict, layer_name: str) -> dict:
    """A call's ``tensor_kwargs`` config: ``{key: ref tuple}`` or ``{key: [ref tuple or
    None, ...]}``."""
    out = {}
    for key, value in saved.items():
        if _is_ref(value):
            out[key] = tuple(value)
        elif isinstance(value, list) and all(v is None or _is_ref(v) for v in value):
            out[key] = [None if v is None else tuple(v) for v in value]
        else:
            raise ValueError(
                f"A call of layer {layer_name!r} has tensor keyword argument {key}={value!r}; "
                "it must be a [layer, node, index] reference or a list of them."
            )
    return out


def _flat_refs(keyword_refs: dict) -> list:
    refs = []
    for ref in keyword_refs.values():
        refs.extend([ref] if isinstance(ref, tuple) else [r for r in ref if r is not None])
    return refs


def _node_index(tensor: SymbolicTensor) -> int:
    """Which call of its layer produced ``tensor`` (0 for the first)."""
    node = tensor.node
    if node is None:
        return 0
    return getattr(node.layer, "_symbolic_nodes", [node]).index(node)


def _tensor_ref(tensor: SymbolicTensor) -> list:
    return [
        tensor.name if tensor.node is None else tensor.node.layer.name,
        _node_index(tensor),
        tensor.index,
    ]


def _tensor_label(tensor: SymbolicTensor) -> str:
    name, node, index = _tensor_ref(tensor)
    return f"{name}[{node}][{index}]"


def _unique_layers(layers) -> list[Layer]:
    seen: set[int] = set()
    out = []
    for layer in layers:
        if id(layer) not in seen and not isinstance(layer, InputLayer):
            seen.add(id(layer))
            out.append(layer)
    return out
