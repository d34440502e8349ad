"""Drawings of a model's layer graph: ``plot_model`` and ``model_to_dot`` (``keras.utils``).

The graph is read through the public surface only (``model.layers``, ``model.graph``'s nodes
and their symbolic inputs and outputs), by duck typing, so this module imports no models or
layers. With pydot and Graphviz installed the picture is Graphviz's, as in Keras; without them
``plot_model`` still works: ``.svg`` is written here by hand, ``.png``/``.pdf``/``.jpg`` are
drawn with matplotlib (the ``plot`` extra), ``.dot`` is always the Graphviz source. The same
description gives TensorBoard its Keras-style graph (``keras_model_json``).

Example:
    >>> plot_model(model, "model.svg", show_shapes=True)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from html import escape  # light, unlike xml.sax (urllib, email); quotes escaped too

# ------------------------------------------------------------------ the description


@dataclass
class _Node:
    key: str  # unique across the whole (expanded) drawing: the layer path
    name: str
    class_name: str
    input_shapes: list = field(default_factory=list)
    output_shapes: list = field(default_factory=list)
    dtype: str | None = None
    activation: str | None = None
    trainable: bool | None = None
    inner: _Graph | None = None  # an expanded nested model
    label: list = field(default_factory=list)  # the drawn lines, set before layout


@dataclass
class _Graph:
    name: str
    class_name: str
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)  # (source key, target key), inside this graph
    inputs: list = field(default_factory=list)  # keys of the entry nodes
    outputs: list = field(default_factory=list)  # keys of the exit nodes
    sequential: bool = False


def _is_sequential(model) -> bool:
    # by class name along the MRO: this module may not import models (DESIGN.md)
    return any(cls.__name__ == "Sequential" for cls in type(model).__mro__)


def _is_model(layer) -> bool:
    """A nested Sequential or functional model (drawn expanded with ``expand_nested``)."""
    if not (isinstance(getattr(layer, "layers", None), list) and hasattr(layer, "graph")):
        return False
    return layer.graph is not None or _is_sequential(layer)


def _activation_name(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", None) or type(activation).__name__


def _layer_node(layer, prefix: str, expand: bool) -> _Node:
    node = _Node(
        key=prefix + layer.name,
        name=layer.name,
        class_name=type(layer).__name__,
        dtype=getattr(layer, "dtype", None),
        activation=_activation_name(layer),
        trainable=getattr(layer, "trainable", None),
    )
    if expand and _is_model(layer):
        node.inner = describe(layer, expand_nested=True, prefix=prefix + layer.name + "/")
    return node


def describe(model, expand_nested: bool = False, prefix: str = "") -> _Graph:
    """The layers of ``model`` as nodes and edges (shared layers once, fed by every caller)."""
    graph = getattr(model, "graph", None)
    described = _Graph(name=model.name, class_name=type(model).__name__)
    if graph is None and _is_sequential(model):
        _describe_sequential(model, described, expand_nested, prefix)
        return described
    if graph is None:
        # a subclassed model's call is Python code, not a graph: one box, as Keras draws it
        node = _Node(prefix + model.name, model.name, type(model).__name__)
        node.trainable = getattr(model, "trainable", None)
        described.nodes = [node]
        described.inputs = described.outputs = [node.key]
        return described
    nodes: dict[str, _Node] = {}
    for tensor in graph.inputs:
        key = prefix + tensor.name
        nodes[key] = _Node(
            key=key,
            name=tensor.name,
            class_name="InputLayer",
            input_shapes=[tuple(tensor.shape)],
            output_shapes=[tuple(tensor.shape)],
            dtype=str(tensor.dtype),
        )
        described.inputs.append(key)
    for call in graph.nodes:
        layer = call.layer
        if getattr(layer, "metadata_only", False):
            continue
        key = prefix + layer.name
        if key not in nodes:
            nodes[key] = _layer_node(layer, prefix, expand_nested)
            nodes[key].input_shapes = [tuple(t.shape) for t in call.inputs]
            nodes[key].output_shapes = [tuple(t.shape) for t in call.outputs]
        for tensor in call.inputs:
            edge = (_producer(tensor, prefix), key)
            if edge not in described.edges:
                described.edges.append(edge)
    described.nodes = list(nodes.values())
    described.outputs = [_producer(t, prefix) for t in graph.outputs]
    return described


def _producer(tensor, prefix: str) -> str:
    """The node key that makes ``tensor``: its layer, or the Input it is."""
    node = tensor.node
    while node is not None and getattr(node.layer, "metadata_only", False):
        # a metadata-only identity is not drawn: look through it to what feeds it
        tensor = node.inputs[0]
        node = tensor.node
    return prefix + (tensor.name if node is None else node.layer.name)


def _describe_sequential(model, described: _Graph, expand: bool, prefix: str) -> None:
    described.sequential = True
    shape = getattr(model, "input_shape", None)
    previous = None
    if shape is not None:
        key = prefix + "input_layer"
        described.nodes.append(
            _Node(key, "input_layer", "InputLayer", [tuple(shape)], [tuple(shape)], model.dtype)
        )
        previous = key
    for layer in model.layers:
        if getattr(layer, "metadata_only", False):
            continue
        node = _layer_node(layer, prefix, expand)
        if shape is not None:
            node.input_shapes = [tuple(shape)]
            try:
                shape = tuple(layer.output_shape_for(shape, model.dtype))
            except Exception:
                shape = None  # a shape the layer cannot infer statically: shown as '?'
            node.output_shapes = [shape] if shape is not None else []
        described.nodes.append(node)
        if previous is not None:
            described.edges.append((previous, node.key))
        previous = node.key
    if described.nodes:
        described.inputs = [described.nodes[0].key]
        described.outputs = [described.nodes[-1].key]


def _flatten(graph: _Graph) -> tuple[list, list, list]:
    """Leaf nodes, edges between leaves (into and out of expanded models rewired to their
    entry and exit nodes), and clusters ``(name, class, [leaf keys])`` for expanded models."""
    leaves: list[_Node] = []
    edges: list[tuple[str, str]] = []
    clusters: list[tuple[str, str, list]] = []
    entries: dict[str, list] = {}
    exits: dict[str, list] = {}
    for node in graph.nodes:
        if node.inner is None:
            leaves.append(node)
            continue
        inner_leaves, inner_edges, inner_clusters = _flatten(node.inner)
        leaves.extend(inner_leaves)
        edges.extend(inner_edges)
        clusters.append((node.name, node.class_name, [leaf.key for leaf in inner_leaves]))
        clusters.extend(inner_clusters)
        entries[node.key] = _resolve(node.inner, node.inner.inputs, "inputs")
        exits[node.key] = _resolve(node.inner, node.inner.outputs, "outputs")
    for source, target in graph.edges:
        for start in exits.get(source, [source]):
            for end in entries.get(target, [target]):
                edges.append((start, end))
    return leaves, edges, clusters


def _resolve(graph: _Graph, keys: list, side: str) -> list:
    out = []
    by_key = {node.key: node for node in graph.nodes}
    for key in keys:
        node = by_key.get(key)
        if node is not None and node.inner is not None:
            out.extend(_resolve(node.inner, getattr(node.inner, side), side))
        else:
            out.append(key)
    return out


# ------------------------------------------------------------------ labels


def _shape_text(shapes: list) -> str:
    if not shapes:
        return "?"
    texts = [str(tuple(shape)).replace(",)", ")") for shape in shapes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _label_lines(node: _Node, options: dict) -> list[str]:
    if options["show_layer_names"]:
        lines = [f"{node.name} ({node.class_name})"]
    else:
        lines = [node.class_name]
    if options["show_layer_activations"] and node.activation:
        lines.append(f"Activation: {node.activation}")
    if options["show_shapes"]:
        lines.append(f"Input shape: {_shape_text(node.input_shapes)}")
        lines.append(f"Output shape: {_shape_text(node.output_shapes)}")
    if options["show_dtype"] and node.dtype:
        lines.append(f"Output dtype: {node.dtype}")
    if options["show_trainable"] and node.trainable is not None:
        lines.append(f"Trainable: {node.trainable}")
    return lines


def _options(model, unknown: dict, **kwargs) -> dict:
    if unknown:
        raise ValueError(f"plot_model got unrecognized keyword arguments: {sorted(unknown)}.")
    if not getattr(model, "built", True):
        raise ValueError(
            f"Model '{model.name}' has not been built yet, so it has no layer graph to draw: "
            "call build(input_shape), give it an Input, or call it on a batch first."
        )
    if kwargs["rankdir"] not in ("TB", "LR"):
        raise ValueError(
            f"plot_model rankdir must be 'TB' or 'LR'; received {kwargs['rankdir']!r}."
        )
    return kwargs


# ------------------------------------------------------------------ Graphviz (dot)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_quote(text: str) -> str:
    return '"' + _dot_escape(text) + '"'


def _dot_source(graph: _Graph, options: dict) -> str:
    leaves, edges, clusters = _flatten(graph)
    lines = [
        f"digraph {_dot_quote(graph.name)} {{",
        f"  rankdir={options['rankdir']};",
        "  concentrate=true;",
        f"  splines={options['splines']};",
        f"  dpi={int(options['dpi'])};",
        '  node [shape=box, fontname="Helvetica", fontsize=12];',
    ]
    in_cluster = {key for _, _, keys in clusters for key in keys}
    # escaped line by line, then joined with Graphviz's own line break
    labels = {}
    for leaf in leaves:
        labels[leaf.key] = "\\n".join(_dot_escape(line) for line in _label_lines(leaf, options))
    for leaf in leaves:
        if leaf.key not in in_cluster:
            lines.append(f'  {_dot_quote(leaf.key)} [label="{labels[leaf.key]}"];')
    # innermost clusters list their own leaves; an outer one lists the leaves left to it
    claimed: set[str] = set()
    for index, (name, class_name, keys) in reversed(list(enumerate(clusters))):
        own = [key for key in keys if key not in claimed]
        claimed.update(keys)
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={_dot_quote(f'{name} ({class_name})')}; style=dashed;")
        for key in own:
            lines.append(f'    {_dot_quote(key)} [label="{labels[key]}"];')
        lines.append("  }")
    for source, target in edges:
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _pydot():
    try:
        import pydot
    except ImportError:
        return None
    return pydot


def _graphviz_works(pydot) -> bool:
    # pydot imports without Graphviz; only running `dot` tells (Keras checks the same way)
    try:
        pydot.Dot.create(pydot.Dot())
    except Exception:
        return False
    return True


def model_to_dot(
    model,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    subgraph: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs,
):
    """The model's layer graph as a ``pydot.Dot`` (needs pydot, as Keras's does).

    Args: as ``plot_model``; ``subgraph`` is accepted for Keras compatibility (the result is
    always a whole graph).

    Returns:
        A ``pydot.Dot``; ``.to_string()`` is the Graphviz source.

    Raises:
        ImportError: pydot is not installed (``plot_model`` works without it).
    """
    pydot = _pydot()
    if pydot is None:
        raise ImportError(
            "model_to_dot needs pydot (`pip install pydot`, and Graphviz for images); "
            "plot_model(model, 'model.svg') draws without either."
        )
    options = _options(
        model,
        kwargs,
        splines=splines,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    source = _dot_source(describe(model, expand_nested), options)
    return pydot.graph_from_dot_data(source)[0]


# ------------------------------------------------------------------ layout (no Graphviz)

_CHAR_W = 7.0  # px per character at the 12 px font used below
_LINE_H = 16.0
_PAD = 10.0
_GAP_RANK = 50.0
_GAP_NODE = 30.0


def _layout(leaves: list, edges: list, rankdir: str) -> dict:
    """Boxes ``key -> (x, y, width, height)``: each node one rank below the longest path to
    it, nodes of a rank side by side in the order they were found."""
    order = [leaf.key for leaf in leaves]
    incoming: dict[str, list] = {key: [] for key in order}
    for source, target in edges:
        if source in incoming and target in incoming:
            incoming[target].append(source)
    rank: dict[str, int] = {}

    def rank_of(key: str, seen: frozenset = frozenset()) -> int:
        if key not in rank:
            parents = [p for p in incoming[key] if p not in seen]
            rank[key] = 1 + max((rank_of(p, seen | {key}) for p in parents), default=-1)
        return rank[key]

    for key in order:
        rank_of(key)
    sizes = {}
    for leaf in leaves:
        lines = leaf.label
        width = max(len(line) for line in lines) * _CHAR_W + 2 * _PAD
        height = len(lines) * _LINE_H + _PAD
        sizes[leaf.key] = (width, height)
    rows: dict[int, list] = {}
    for key in order:
        rows.setdefault(rank[key], []).append(key)
    boxes = {}
    along = 0.0  # position along the rank direction
    for level in sorted(rows):
        keys = rows[level]
        if rankdir == "TB":
            thickness = max(sizes[k][1] for k in keys)
            across = 0.0
            for key in keys:
                width, height = sizes[key]
                boxes[key] = [across, along, width, height]
                across += width + _GAP_NODE
        else:
            thickness = max(sizes[k][0] for k in keys)
            across = 0.0
            for key in keys:
                width, height = sizes[key]
                boxes[key] = [along, across, width, height]
                across += height + _GAP_NODE
        along += thickness + _GAP_RANK
    # centre each rank across the widest one
    extent = {}
    for level, keys in rows.items():
        last = boxes[keys[-1]]
        extent[level] = last[0] + last[2] if rankdir == "TB" else last[1] + last[3]
    widest = max(extent.values(), default=0.0)
    for level, keys in rows.items():
        shift = (widest - extent[level]) / 2
        for key in keys:
            boxes[key][0 if rankdir == "TB" else 1] += shift
    margin = 20.0
    return {k: (x + margin, y + margin, w, h) for k, (x, y, w, h) in boxes.items()}


def _prepare(model, options: dict, expand_nested: bool):
    leaves, edges, clusters = _flatten(describe(model, expand_nested))
    for leaf in leaves:
        leaf.label = _label_lines(leaf, options)
    boxes = _layout(leaves, edges, options["rankdir"])
    frames = []
    for name, class_name, keys in clusters:
        inside = [boxes[k] for k in keys if k in boxes]
        if inside:
            left = min(b[0] for b in inside) - 8
            top = min(b[1] for b in inside) - 8
            right = max(b[0] + b[2] for b in inside) + 8
            bottom = max(b[1] + b[3] for b in inside) + 8
            frames.append((f"{name} ({class_name})", (left, top, right - left, bottom - top)))
    width = max((b[0] + b[2] for b in boxes.values()), default=0.0) + 20
    height = max((b[1] + b[3] for b in boxes.values()), default=0.0) + 20
    return leaves, edges, frames, boxes, (width, height)


def _anchors(source: tuple, target: tuple, rankdir: str) -> tuple:
    sx, sy, sw, sh = source
    tx, ty, tw, th = target
    if rankdir == "TB":
        return (sx + sw / 2, sy + sh), (tx + tw / 2, ty)
    return (sx + sw, sy + sh / 2), (tx, ty + th / 2)


def _svg(model, options: dict, expand_nested: bool) -> str:
    leaves, edges, frames, boxes, (width, height) = _prepare(model, options, expand_nested)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>',
        f"<title>{escape(model.name)}</title>",
    ]
    for label, (x, y, w, h) in frames:
        out.append(
            f'<g class="cluster"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            'fill="none" stroke="#888" stroke-dasharray="4 3"/>'
            f'<text x="{x + 4:.1f}" y="{y - 3:.1f}" fill="#555">{escape(label)}</text></g>'
        )
    for source, target in edges:
        if source not in boxes or target not in boxes:
            continue
        (x1, y1), (x2, y2) = _anchors(boxes[source], boxes[target], options["rankdir"])
        out.append(
            f'<line class="edge" data-source="{escape(source)}" data-target="{escape(target)}" '
            f'x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#333" '
            'marker-end="url(#arrow)"/>'
        )
    for leaf in leaves:
        x, y, w, h = boxes[leaf.key]
        out.append(f'<g class="node" id="{escape(leaf.key)}">')
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" '
            'fill="#f4f4f4" stroke="#333"/>'
        )
        for index, line in enumerate(leaf.label):
            baseline = y + _PAD / 2 + _LINE_H * (index + 1) - 4
            weight = ' font-weight="bold"' if index == 0 else ""
            out.append(
                f'<text x="{x + w / 2:.1f}" y="{baseline:.1f}" text-anchor="middle"{weight}>'
                f"{escape(line)}</text>"
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _matplotlib_file(model, to_file: str, options: dict, expand_nested: bool) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, Rectangle

    leaves, edges, frames, boxes, (width, height) = _prepare(model, options, expand_nested)
    points_per_px = 0.75  # the layout is in CSS px; matplotlib draws in points (1/72 in)
    figure = Figure(figsize=(width / 96, height / 96))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)  # y grows downwards, as in the SVG
    axes.axis("off")
    font = 12 * points_per_px
    for label, (x, y, w, h) in frames:
        axes.add_patch(Rectangle((x, y), w, h, fill=False, linestyle="--", edgecolor="#888"))
        axes.text(x + 4, y - 3, label, fontsize=font, color="#555")
    for source, target in edges:
        if source in boxes and target in boxes:
            start, end = _anchors(boxes[source], boxes[target], options["rankdir"])
            axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10))
    for leaf in leaves:
        x, y, w, h = boxes[leaf.key]
        axes.add_patch(Rectangle((x, y), w, h, facecolor="#f4f4f4", edgecolor="#333"))
        for index, line in enumerate(leaf.label):
            axes.text(
                x + w / 2,
                y + _PAD / 2 + _LINE_H * (index + 0.5),
                line,
                ha="center",
                va="center",
                fontsize=font,
                fontweight="bold" if index == 0 else "normal",
            )
    figure.savefig(to_file, dpi=options["dpi"] * 96 / 200 if options["dpi"] else 96)


def plot_model(
    model,
    to_file: str = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs,
) -> None:
    """Draw the model's layer graph into ``to_file``; the format is the file's extension.

    Graphviz (through pydot) draws it when both are installed, as in Keras. Without them:
    ``.svg`` is written directly, ``.png``/``.pdf``/``.jpg`` are drawn with matplotlib, and
    ``.dot`` (the Graphviz source) needs nothing. Shared layers are drawn once with an edge from
    every caller; ``expand_nested`` draws a nested model's layers inside a dashed frame.

    Args:
        model: a Sequential or functional model (a subclassed model shows its tracked layers).
        to_file: the output file; ``.png`` (default), ``.svg``, ``.pdf``, ``.jpg``, ``.dot``.
        show_shapes: show input and output shapes.
        show_dtype: show each layer's dtype.
        show_layer_names: label boxes ``name (Class)`` (else just the class).
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        expand_nested: draw nested models' layers.
        dpi: the image's resolution (Graphviz's dpi; 200 is drawn at about 2x).
        show_layer_activations: show the activation of layers that have one.
        show_trainable: show whether each layer is trainable.
        splines: how Graphviz draws edges (``"ortho"``, ``"curved"``, ``"line"``...); the
            drawings made without Graphviz use straight lines.

    Raises:
        ImportError: a raster or PDF file without Graphviz and without matplotlib.
    """
    options = _options(
        model,
        kwargs,
        splines=splines,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if extension == "dot":
        with open(to_file, "w", encoding="utf-8") as handle:
            handle.write(_dot_source(describe(model, expand_nested), options))
        return None
    pydot = _pydot()
    if pydot is not None and _graphviz_works(pydot):
        source = _dot_source(describe(model, expand_nested), options)
        pydot.graph_from_dot_data(source)[0].write(to_file, format=extension)
        return None
    if extension == "svg":
        with open(to_file, "w", encoding="utf-8") as handle:
            handle.write(_svg(model, options, expand_nested))
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            f"plot_model to a .{extension} file needs Graphviz (pip install pydot, plus the "
            "Graphviz programs) or matplotlib (pip install matplotlib); .svg and .dot "
            "files need neither."
        ) from None
    _matplotlib_file(model, to_file, options, expand_nested)
    return None


# ------------------------------------------------------------------ TensorBoard's graph


def _keras_history(key: str) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [key, 0, 0]}}


def _keras_config(graph: _Graph) -> dict:
    layers = []
    for node in graph.nodes:
        config: dict = {"name": node.name}
        if isinstance(node.dtype, str):
            config["dtype"] = node.dtype
        entry = {"class_name": node.class_name, "name": node.name, "config": config}
        if node.inner is not None:
            inner = _keras_config(node.inner)
            config.update(inner["config"])
            entry["class_name"] = inner["class_name"]
        if not graph.sequential:
            # keys are 'outer/inner/name': the config names layers at their own level
            names = [s.rsplit("/", 1)[-1] for s, t in graph.edges if t == node.key]
            entry["inbound_nodes"] = (
                [{"args": [_keras_history(n) for n in names], "kwargs": {}}] if names else []
            )
        layers.append(entry)
    config = {"name": graph.name, "layers": layers}
    if not graph.sequential:
        last = {node.key: node.name for node in graph.nodes}
        config["input_layers"] = [[last[k], 0, 0] for k in graph.inputs]
        config["output_layers"] = [[last[k], 0, 0] for k in graph.outputs]
    return {"class_name": "Sequential" if graph.sequential else "Functional", "config": config}


def keras_model_json(model) -> str | None:
    """The model's layer graph as the JSON Keras's ``to_json`` gives TensorBoard's graph plugin
    (class names, layer names, dtypes, inbound nodes), or None when it cannot be described."""
    if getattr(model, "graph", None) is None and not _is_sequential(model):
        return None  # a subclassed model has no layer graph (Keras writes none either)
    try:
        import json

        return json.dumps(_keras_config(describe(model, expand_nested=True)))
    except (AttributeError, TypeError, ValueError):
        return None
