"""Training curves: axonal.plot.history and History.plot (matplotlib is an optional extra)."""

import builtins
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import axonal.plot
from axonal.callbacks import History

SRC = Path(__file__).resolve().parents[1] / "src"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _history(epochs=5, validation=True, metrics=("accuracy",)) -> History:
    """A History as fit leaves it, without training anything."""
    history = History()
    history.on_train_begin()
    for epoch in range(epochs):
        logs = {"loss": 1.0 / (epoch + 1)}
        for name in metrics:
            logs[name] = 0.5 + epoch / (2 * epochs)
        if validation:
            logs.update({"val_" + k: v * 1.1 for k, v in list(logs.items())})
        history.on_epoch_end(epoch, logs)
    return history


def _lines(axes) -> dict:
    return {line.get_label(): line for line in axes.get_lines()}


# ---------------------------------------------------------------- drawing


def test_one_subplot_per_quantity_with_training_and_validation_lines():
    pytest.importorskip("matplotlib")
    history = _history(epochs=6)
    figure = axonal.plot.history(history)
    assert [axes.get_title() for axes in figure.axes] == ["loss", "accuracy"]
    for axes, name in zip(figure.axes, ["loss", "accuracy"], strict=True):
        lines = _lines(axes)
        assert sorted(lines) == ["training", "validation"]
        np.testing.assert_array_equal(lines["training"].get_xdata(), [1, 2, 3, 4, 5, 6])
        np.testing.assert_allclose(lines["training"].get_ydata(), history.history[name])
        np.testing.assert_allclose(lines["validation"].get_ydata(), history.history["val_" + name])
        assert axes.get_xlabel() == "epoch"
        assert axes.get_ylabel() == name
        assert axes.get_legend() is not None


def test_without_validation_each_subplot_has_one_line():
    pytest.importorskip("matplotlib")
    figure = axonal.plot.history(_history(validation=False, metrics=("mae", "mse")))
    assert [axes.get_title() for axes in figure.axes] == ["loss", "mae", "mse"]
    assert all(list(_lines(axes)) == ["training"] for axes in figure.axes)


def test_many_metrics_wrap_onto_rows():
    pytest.importorskip("matplotlib")
    figure = axonal.plot.history(_history(metrics=("a", "b", "c", "d")))
    assert len(figure.axes) == 5
    geometry = {axes.get_subplotspec().get_geometry()[:2] for axes in figure.axes}
    assert geometry == {(2, 3)}


def test_metrics_argument_selects_quantities():
    pytest.importorskip("matplotlib")
    figure = axonal.plot.history(_history(), metrics=["val_loss"])
    assert [axes.get_title() for axes in figure.axes] == ["loss"]
    with pytest.raises(ValueError, match="no quantity 'auc'.*available: loss, accuracy"):
        axonal.plot.history(_history(), metrics=["auc"])


def test_a_plain_history_dict_and_a_single_epoch():
    pytest.importorskip("matplotlib")
    figure = axonal.plot.history({"loss": [0.3]})
    line = figure.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [1]
    assert line.get_marker() == "o"  # a single point must be visible


def test_epoch_numbers_follow_initial_epoch():
    pytest.importorskip("matplotlib")
    history = History()
    history.on_train_begin()
    for epoch in (3, 4):
        history.on_epoch_end(epoch, {"loss": 0.1})
    figure = axonal.plot.history(history)
    assert list(figure.axes[0].get_lines()[0].get_xdata()) == [4, 5]


def test_empty_history_is_refused():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no epochs to plot"):
        axonal.plot.history(History())
    with pytest.raises(TypeError, match="expects a History"):
        axonal.plot.history([0.1, 0.2])


# ---------------------------------------------------------------- saving


def test_png_is_written_and_non_empty(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    axonal.plot.history(_history(), path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5000
    assert os.listdir(tmp_path) == ["curves.png"]  # no temporary file left behind


def test_history_plot_delegates(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "h.png"
    figure = _history().plot(str(path))
    assert len(figure.axes) == 2
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert len(_history().plot(metrics=["loss"]).axes) == 1


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    path = tmp_path / "curves.png"
    path.write_bytes(b"old")

    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        axonal.plot.history(_history(), path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["curves.png"]


def test_plot_after_real_training(tmp_path):
    pytest.importorskip("matplotlib")
    from axonal.layers import Dense, Input
    from axonal.models import Sequential

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    figure = history.plot(tmp_path / "fit.png")
    assert [axes.get_title() for axes in figure.axes] == ["loss", "accuracy"]
    assert (tmp_path / "fit.png").stat().st_size > 0


# ---------------------------------------------------------------- the optional dependency


def test_import_axonal_and_axonal_plot_do_not_import_matplotlib():
    code = "import sys, axonal, axonal.plot, axonal.callbacks; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
    )
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_gives_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[plot\]'"):
        axonal.plot.history(_history())
    with pytest.raises(ImportError, match="matplotlib"):
        _history().plot()
