"""utils.plot_model / model_to_dot: the layer graph drawn with or without Graphviz."""

import builtins
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import axonal
from axonal import model_plot
from axonal.utils import model_to_dot, plot_model

SVG = "{http://www.w3.org/2000/svg}"


def _functional():
    """Two inputs, a shared Dense, two outputs, a nested Sequential."""
    axonal.utils.clear_session()
    a = axonal.layers.Input((3,), name="in_a")
    b = axonal.layers.Input((3,), name="in_b")
    shared = axonal.layers.Dense(4, activation="relu", name="shared")
    joined = axonal.layers.Concatenate(name="join")([shared(a), shared(b)])
    inner = axonal.Sequential(
        [axonal.layers.Input((8,)), axonal.layers.Dense(5, name="inner_dense")], name="inner"
    )
    out_1 = axonal.layers.Dense(1, name="out_1")(joined)
    out_2 = inner(joined)
    return axonal.Model([a, b], [out_1, out_2], name="two_heads")


def _no_graphviz(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "pydot":
            raise ImportError("no pydot here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def _svg_graph(path):
    root = ET.parse(path).getroot()
    nodes = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    texts = {key: [t.text for t in g.iter(f"{SVG}text")] for key, g in nodes.items()}
    edges = {
        (line.get("data-source"), line.get("data-target"))
        for line in root.iter(f"{SVG}line")
        if line.get("class") == "edge"
    }
    return texts, edges


def test_svg_without_graphviz_has_every_layer_and_edge(tmp_path, monkeypatch):
    _no_graphviz(monkeypatch)
    model = _functional()
    plot_model(model, tmp_path / "m.svg")
    texts, edges = _svg_graph(tmp_path / "m.svg")
    assert texts["shared"][0] == "shared (Dense)"
    assert set(texts) == {"in_a", "in_b", "shared", "join", "out_1", "inner"}
    # the shared layer is drawn once, fed by both inputs; the nested model is one box
    assert edges == {
        ("in_a", "shared"),
        ("in_b", "shared"),
        ("shared", "join"),
        ("join", "out_1"),
        ("join", "inner"),
    }


def test_expand_nested_draws_the_inner_layers_inside_a_frame(tmp_path, monkeypatch):
    _no_graphviz(monkeypatch)
    plot_model(_functional(), tmp_path / "m.svg", expand_nested=True, rankdir="LR")
    texts, edges = _svg_graph(tmp_path / "m.svg")
    assert "inner/inner_dense" in texts and "inner" not in texts
    assert ("join", "inner/input_layer") in edges
    assert ("inner/input_layer", "inner/inner_dense") in edges
    root = ET.parse(tmp_path / "m.svg").getroot()
    frames = [g for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"]
    assert [t.text for f in frames for t in f.iter(f"{SVG}text")] == ["inner (Sequential)"]


def test_shapes_dtypes_activations_and_trainable_in_the_labels(tmp_path, monkeypatch):
    _no_graphviz(monkeypatch)
    plot_model(
        _functional(),
        tmp_path / "m.svg",
        show_shapes=True,
        show_dtype=True,
        show_layer_activations=True,
        show_trainable=True,
    )
    texts, _ = _svg_graph(tmp_path / "m.svg")
    assert texts["shared"] == [
        "shared (Dense)",
        "Activation: relu",
        "Input shape: (None, 3)",
        "Output shape: (None, 4)",
        "Output dtype: float32",
        "Trainable: True",
    ]
    assert "Input shape: [(None, 4), (None, 4)]" in texts["join"]
    plot_model(_functional(), tmp_path / "plain.svg", show_layer_names=False)
    texts, _ = _svg_graph(tmp_path / "plain.svg")
    assert texts["join"] == ["Concatenate"]


def test_a_sequential_model_is_a_chain_with_shapes(tmp_path, monkeypatch):
    _no_graphviz(monkeypatch)
    axonal.utils.clear_session()
    model = axonal.Sequential(
        [axonal.layers.Input((6,)), axonal.layers.Dense(4), axonal.layers.Dense(2)]
    )
    plot_model(model, tmp_path / "s.svg", show_shapes=True)
    texts, edges = _svg_graph(tmp_path / "s.svg")
    assert edges == {("input_layer", "dense"), ("dense", "dense_1")}
    assert "Output shape: (None, 2)" in texts["dense_1"]


def test_png_and_pdf_through_matplotlib(tmp_path, monkeypatch):
    image = pytest.importorskip("matplotlib.image")
    _no_graphviz(monkeypatch)
    plot_model(_functional(), tmp_path / "m.png", show_shapes=True, expand_nested=True)
    pixels = image.imread(tmp_path / "m.png")
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
    # not a blank page: dark strokes (boxes, text, arrows) are there
    assert (pixels[..., :3].mean(axis=-1) < 0.5).mean() > 0.005
    plot_model(_functional(), tmp_path / "m.pdf")
    assert (tmp_path / "m.pdf").read_bytes().startswith(b"%PDF")


def test_dot_source_needs_nothing(tmp_path, monkeypatch):
    _no_graphviz(monkeypatch)
    plot_model(_functional(), tmp_path / "m.dot", rankdir="LR", expand_nested=True)
    text = (tmp_path / "m.dot").read_text()
    assert "rankdir=LR;" in text
    assert '"in_a" -> "shared";' in text and '"join" -> "inner/input_layer";' in text
    assert "subgraph cluster_0" in text
    with pytest.raises(ImportError, match="pydot"):
        model_to_dot(_functional())


def test_model_to_dot_with_pydot():
    pydot = pytest.importorskip("pydot")
    dot = model_to_dot(_functional(), show_shapes=True)
    assert isinstance(dot, pydot.Dot)
    names = {node.get_name().strip('"') for node in dot.get_nodes()}
    assert {"in_a", "in_b", "shared", "join", "out_1", "inner"} <= names
    assert len(dot.get_edges()) == 5


def test_with_graphviz_the_file_is_graphvizs(tmp_path):
    pydot = pytest.importorskip("pydot")
    if not model_plot._graphviz_works(pydot):
        pytest.skip("the Graphviz programs are not installed")
    plot_model(_functional(), tmp_path / "m.svg")
    texts = " ".join(t.text or "" for t in ET.parse(tmp_path / "m.svg").getroot().iter())
    for name in ("in_a", "in_b", "shared", "join", "out_1", "inner"):
        assert name in texts


def test_bad_rankdir_is_refused(tmp_path):
    with pytest.raises(ValueError, match="rankdir"):
        plot_model(_functional(), tmp_path / "m.svg", rankdir="BT")


def test_without_graphviz_or_matplotlib_a_png_says_what_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name in ("pydot", "matplotlib"):
            raise ImportError(f"no {name}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="Graphviz.*matplotlib"):
        plot_model(_functional(), tmp_path / "m.png")
    plot_model(_functional(), tmp_path / "m.svg")  # still works
    assert np.isfinite(len((tmp_path / "m.svg").read_text()))


class _Subclassed(axonal.Model):
    def __init__(self):
        super().__init__(name="custom")
        self.hidden = axonal.layers.Dense(3)

    def call(self, inputs):
        return self.hidden(inputs)


def test_a_subclassed_model_is_one_box_as_in_keras(tmp_path, monkeypatch):
    _no_graphviz(monkeypatch)
    model = _Subclassed()
    model(np.zeros((1, 2), "float32"))
    plot_model(model, tmp_path / "m.svg")
    texts, edges = _svg_graph(tmp_path / "m.svg")
    assert texts == {"custom": ["custom (_Subclassed)"]} and not edges
    assert model_plot.keras_model_json(model) is None


def test_unbuilt_models_and_unknown_arguments_are_refused(tmp_path):
    unbuilt = axonal.Sequential([axonal.layers.Dense(2)])
    with pytest.raises(ValueError, match="not been built"):
        plot_model(unbuilt, tmp_path / "m.svg")
    with pytest.raises(ValueError, match="layer_range"):
        plot_model(_functional(), tmp_path / "m.svg", layer_range=["a", "b"])
