"""Training curves and attribution maps with matplotlib, an optional extra (``pip install -e
'.[plot]'`` in the checkout).

matplotlib is imported inside the functions only, so ``import axonal`` never loads it. Figures
are drawn on the Agg canvas directly (no pyplot, no display, no global figure state), which
works the same on a server, in a test and in a notebook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

__all__ = ["attributions", "history"]

_MISSING = (
    "plotting needs matplotlib, an optional extra of axonal: pip install -e '.[plot]' in the "
    "axonal checkout (or pip install matplotlib)"
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
        ImportError: matplotlib is not installed (``pip install -e '.[plot]'``).

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


def attributions(
    attributions,
    inputs=None,
    feature_names: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    top: int | None = 10,
    titles: Sequence[str] | None = None,
    max_samples: int = 16,
):
    """Draw attributions (from ``axonal.explain``): heat maps over images, bars over features.

    A batch of images, ``(samples, height, width)`` or ``(samples, height, width, channels)``,
    gives one heat map per sample (channels summed), red for positive and blue for negative
    attributions on a scale symmetric about 0, drawn over the grey input image when ``inputs``
    is given. A batch of feature vectors, ``(samples, features)`` (or one vector
    ``(features,)``), gives one horizontal bar chart per sample of its ``top`` features by
    absolute attribution, largest first.

    Args:
        attributions: the attributions, with the batch axis first (as ``explain`` returns them).
        inputs: for images, the input batch of the same shape, drawn underneath.
        feature_names: for features, one name per feature (default ``feature 0``...).
        path: when given, the figure is saved there as a PNG (atomically).
        top: for features, how many to show per sample (None: all).
        titles: one title per sample (default ``sample 0``...).
        max_samples: the most samples drawn in one figure; more is an error.

    Returns:
        The matplotlib ``Figure``, with one ``Axes`` per sample (plus colour bars for images).

    Raises:
        ImportError: matplotlib is not installed (``pip install -e '.[plot]'``).

    Example:
        >>> attr, _ = explain.integrated_gradients(model, x_test[:8])
        >>> axonal.plot.attributions(attr, x_test[:8], path="heat.png")
        >>> axonal.plot.attributions(explain.saliency(clf, rows), feature_names=names)
    """
    import numpy

    values = numpy.asarray(attributions)
    if values.dtype.kind not in "biuf" or values.ndim == 0:
        raise ValueError(
            "attributions() expects a numeric array with a batch axis, e.g. (samples, features) "
            f"or (samples, height, width[, channels]); got {values.dtype} of shape {values.shape}."
        )
    if values.ndim == 1:
        values = values[None]
    if values.ndim > 4:
        raise ValueError(
            "attributions() draws feature vectors (samples, features) or images (samples, "
            f"height, width[, channels]); got shape {values.shape}."
        )
    count = len(values)
    if count == 0 or count > max_samples:
        raise ValueError(
            f"attributions() draws 1 to max_samples={max_samples} samples per figure; got {count}: "
            "pass a slice of the batch."
        )
    if titles is not None and len(titles) != count:
        raise ValueError(f"titles must name each of the {count} samples; got {len(titles)}.")
    names = list(titles) if titles is not None else [f"sample {i}" for i in range(count)]
    image = values.ndim >= 3
    if image and feature_names is not None:
        raise ValueError("feature_names applies to feature vectors, not to images.")
    if image:
        background = None
        if inputs is not None:
            background = numpy.asarray(inputs, dtype=float)
            if background.shape != values.shape:
                raise ValueError(
                    f"inputs must have the attributions' shape {values.shape}; got "
                    f"{background.shape}."
                )
    else:
        if inputs is not None:
            raise ValueError("inputs is drawn under image attributions only; leave it out.")
        features = values.shape[1]
        if feature_names is None:
            feature_names = [f"feature {i}" for i in range(features)]
        elif len(feature_names) != features:
            raise ValueError(
                f"feature_names must name each of the {features} features; got "
                f"{len(feature_names)}."
            )
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise ValueError(f"top must be a positive integer or None; got {top!r}.")

    Figure, FigureCanvasAgg = _figure_class()
    columns = min(count, 4)
    rows = math.ceil(count / columns)
    if image:
        size = (3.2 * columns, 3.0 * rows)
    else:
        shown = features if top is None else min(top, features)
        size = (4.8 * columns, (0.9 + 0.28 * shown) * rows)
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    for index in range(count):
        axes = figure.add_subplot(rows, columns, index + 1)
        if image:
            under = None if background is None else background[index]
            _heat_map(figure, axes, values[index], under)
        else:
            _feature_bars(axes, values[index], list(feature_names), top)
        axes.set_title(names[index])
    if path is not None:
        from axonal.atomic import atomic_write

        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=100)
    return figure


def _heat_map(figure, axes, values, background) -> None:
    """One image's attributions, summed over channels, on a scale symmetric about 0."""
    heat = values.sum(axis=-1) if values.ndim == 3 else values
    limit = float(abs(heat).max()) or 1.0
    if background is not None:
        grey = background.mean(axis=-1) if background.ndim == 3 else background
        axes.imshow(grey, cmap="gray")
    mappable = axes.imshow(
        heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.6 if background is not None else 1.0
    )
    figure.colorbar(mappable, ax=axes, shrink=0.8)
    axes.set_xticks([])
    axes.set_yticks([])


def _feature_bars(axes, values, names: list, top: int | None) -> None:
    """A sample's largest attributions by magnitude as horizontal bars, largest on top."""
    order = sorted(range(len(values)), key=lambda i: -abs(float(values[i])))
    if top is not None:
        order = order[:top]
    order.reverse()  # barh draws from the bottom up
    heights = [float(values[i]) for i in order]
    colours = ["tab:red" if h >= 0 else "tab:blue" for h in heights]
    axes.barh(range(len(order)), heights, color=colours)
    axes.set_yticks(range(len(order)), [names[i] for i in order])
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("attribution")
    axes.grid(True, axis="x", alpha=0.3)
