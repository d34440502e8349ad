"""Training curves with matplotlib, an optional extra (``pip install axonal[plot]``).

matplotlib is imported inside the functions only, so ``import axonal`` never loads it. Figures
are drawn on the Agg canvas directly (no pyplot, no display, no global figure state), which
works the same on a server, in a test and in a notebook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

__all__ = ["history"]

_MISSING = (
    "plotting needs matplotlib, an optional extra of axonal: pip install axonal[plot] "
    "(or pip install matplotlib)"
)


def _figure_class():
    """matplotlib's Figure, with an Agg canvas factory; a clear ImportError when it is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(_MISSING) from error
    return Figure, FigureCanvasAgg


def _logs_and_epochs(source) -> tuple[dict, list[int]]:
    """The ``{name: [value per epoch]}`` dict and 1-based epoch numbers of a History or dict."""
    logs = getattr(source, "history", source)
    if not isinstance(logs, dict):
        raise TypeError(
            "history() expects a History (what fit returns) or its .history dict, got "
            f"{type(source).__name__}."
        )
    lengths = {len(values) for values in logs.values()}
    if not logs or lengths == {0}:
        raise ValueError("history() got no epochs to plot: train for at least one epoch first.")
    n = max(lengths)
    epochs = list(getattr(source, "epoch", None) or [])
    # Keras prints "Epoch 1/N" for epoch index 0; the plot uses the same numbering
    numbers = [e + 1 for e in epochs] if len(epochs) == n else list(range(1, n + 1))
    return logs, numbers


def _quantities(logs: dict, metrics: Sequence[str] | None) -> list[str]:
    """The quantities to draw, each with its ``val_`` twin on the same axes."""
    available = []
    for name in logs:
        base = name[4:] if name.startswith("val_") else name
        if base not in available:
            available.append(base)
    if metrics is None:
        return available
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen = []
    for name in metrics:
        base = name[4:] if name.startswith("val_") else name
        if base not in available:
            raise ValueError(
                f"history() has no quantity {name!r} to plot; available: {', '.join(available)}."
            )
        if base not in chosen:
            chosen.append(base)
    if not chosen:
        raise ValueError("history() got an empty metrics list; name at least one quantity.")
    return chosen


def history(history, path: str | os.PathLike | None = None, metrics: Sequence[str] | None = None):
    """Draw the loss and each metric per epoch, training and validation, one subplot each.

    Args:
        history: the ``History`` returned by ``fit`` (or its ``.history`` dict).
        path: when given, the figure is saved there as a PNG (written to a temporary file in
            the same folder, then renamed over ``path``, so a crash never leaves half a file).
        metrics: the quantities to draw, e.g. ``["loss"]`` (default: all of them); each is
            drawn with its ``val_`` twin when there is one.

    Returns:
        The matplotlib ``Figure``, with one ``Axes`` per quantity.

    Raises:
        ImportError: matplotlib is not installed (``pip install axonal[plot]``).

    Example:
        >>> h = model.fit(x, y, epochs=20, validation_split=0.2, verbose=0)
        >>> axonal.plot.history(h, "curves.png")
    """
    Figure, FigureCanvasAgg = _figure_class()
    logs, epochs = _logs_and_epochs(history)
    names = _quantities(logs, metrics)

    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.8 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    # markers make a short run (or a single epoch) visible; a long one reads better as a line
    marker = "o" if len(epochs) <= 30 else None
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        for key, label, style in ((name, "training", "-"), ("val_" + name, "validation", "--")):
            values = logs.get(key)
            if values:
                xs = epochs[: len(values)]
                axes.plot(xs, [float(v) for v in values], style, marker=marker, ms=3, label=label)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(True, alpha=0.3)
        axes.legend()
    if path is not None:
        from axonal.atomic import atomic_write

        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=100)
    return figure
