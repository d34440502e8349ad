"""Scaling curves (issue 21): training throughput against model and batch size, drawn as plots.

Four curves, each a sweep of one size with the rest fixed, every point its own compiled model
(built with the competitors' ``build`` and ``build_cnn``, Adam, sparse cross-entropy):

- **MLP width**: ``width → width → width → 10`` (two ReLU hidden layers), batch 128, for each
  width in ``curves_mlp_widths``;
- **MLP batch size**: the same MLP at width ``curves_mlp_width``, for each batch size in
  ``curves_mlp_batches``;
- **CNN image size**: Conv2D(c, 3, same, relu) → MaxPooling2D(2) → Conv2D(2c, 3, same, relu)
  → MaxPooling2D(2) → Flatten → Dense(10, softmax) on ``(s, s, 3)`` images, c =
  ``curves_cnn_width``, for each s in ``curves_cnn_sizes``;
- **CNN channels**: the same CNN at s = ``curves_cnn_size``, for each c in
  ``curves_cnn_channels``.

Each point trains on about ``curves_flop_budget`` FLOPs of random data (at least one batch),
so a point costs about the same at every size. A sample times every point once; a point's
figure is its best sample. The MLP points are also given as a fraction of NumPy's float32 GEMM
peak that the runner measures in the same run (``mlp.GemmPeak``), the most a GEMM-bound
training step could reach. The runner then draws ``curves_mlp.png`` and ``curves_cnn.png``
next to the JSON results with matplotlib (``plot``); without matplotlib it says so and skips
the plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, best

TITLE = "scaling curves: MLP width and batch size, CNN image size and channels (training)"
METRICS = (
    Metric("mlp_widest_gflops", "MLP, widest: GFLOP/s"),
    Metric("mlp_widest_fraction", "MLP, widest: of GEMM peak"),
    Metric("mlp_batch1_rows_per_s", "MLP, batch 1: rows/s"),
    Metric("cnn_largest_images_per_s", "CNN, largest images: images/s"),
)
PRIMARY = "mlp_widest_gflops"
HIGHER_IS_BETTER = True
SAMPLE_KEY = "total_s"
CLASSES = 10
MLP_BATCH = 128
CNN_BATCH = 32
# the curves and, for each, the x axis's label
CURVES = {
    "mlp_width": "MLP width (units per hidden layer)",
    "mlp_batch": "batch size",
    "cnn_size": "image height and width (pixels)",
    "cnn_channels": "channels of the first convolution",
}


def mlp_sizes(width: int) -> tuple[int, ...]:
    """The MLP's layer widths, input to output."""
    return (width, width, width, CLASSES)


def cnn_layers(channels: int) -> tuple[tuple[Any, ...], ...]:
    """The CNN's layers in ``bench.workloads.cnn``'s form (the softmax Dense is added last)."""
    return (
        ("conv", channels, 3, "same"),
        ("pool", 2),
        ("conv", 2 * channels, 3, "same"),
        ("pool", 2),
        ("flatten",),
    )


def points(settings: Settings) -> list[dict[str, Any]]:
    """Every point of every curve: its curve, x value, model kind and sizes, batch size."""
    found = []
    for width in settings.curves_mlp_widths:
        found.append(
            {"curve": "mlp_width", "x": width, "sizes": mlp_sizes(width), "batch": MLP_BATCH}
        )
    for batch in settings.curves_mlp_batches:
        sizes = mlp_sizes(settings.curves_mlp_width)
        found.append({"curve": "mlp_batch", "x": batch, "sizes": sizes, "batch": batch})
    for size in settings.curves_cnn_sizes:
        channels = settings.curves_cnn_width
        point = {"curve": "cnn_size", "x": size, "image": size, "channels": channels}
        found.append({**point, "batch": CNN_BATCH})
    for channels in settings.curves_cnn_channels:
        size = settings.curves_cnn_size
        found.append(
            {
                "curve": "cnn_channels",
                "x": channels,
                "image": size,
                "channels": channels,
                "batch": CNN_BATCH,
            }
        )
    for point in found:
        point["key"] = f"{point['curve']}_{point['x']}"
        point["flops_per_row"] = flops_per_row(point)
        rows = round(settings.curves_flop_budget / point["flops_per_row"] / point["batch"])
        point["rows"] = max(1, rows) * point["batch"]
    return found


def flops_per_row(point: dict[str, Any]) -> int:
    """Training FLOPs of one row (6 per multiply-add: 2 forward, 4 backward)."""
    from bench.workloads import cnn

    if "sizes" in point:
        sizes = point["sizes"]
        return 6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    shape = (point["image"], point["image"], 3)
    return cnn.flops_per_image(shape, cnn_layers(point["channels"]), CLASSES)


class Session:
    """One compiled model and its random data per point, each warmed up on one batch."""

    def __init__(self, impl: ModuleType, settings: Settings):
        rng = numpy.random.default_rng(settings.seed)
        self.impl = impl
        self.runs = []
        for point in points(settings):
            rows = point["rows"]
            y = impl.native(rng.integers(0, CLASSES, size=rows, dtype=numpy.int64))
            if "sizes" in point:
                x = rng.standard_normal((rows, point["sizes"][0]), dtype=numpy.float32)
                model = impl.build(point["sizes"], settings.seed)
                x = impl.native(x)
            else:
                shape = (point["image"], point["image"], 3)
                x = rng.random((rows, *shape), dtype=numpy.float32)
                layers = cnn_layers(point["channels"])
                model = impl.build_cnn(shape, layers, CLASSES, settings.seed)
                x = impl.native_images(x)
            batch = point["batch"]
            impl.fit(model, x[:batch], y[:batch], 1, batch)
            self.runs.append((point["key"], model, x, y, batch))

    def sample(self) -> dict[str, float]:
        """One timed epoch at every point, and their total."""
        taken = {}
        for key, model, x, y, batch in self.runs:
            taken[key] = timed(lambda m=model, x=x, y=y, b=batch: self.impl.fit(m, x, y, 1, b))
        taken["total_s"] = sum(taken.values())
        return taken


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Rows/s and GFLOP/s per point (best sample each), and the table's summary figures."""
    found = {}
    for point in points(settings):
        seconds = best(samples, point["key"])
        rows_per_s = point["rows"] / seconds
        found[point["key"]] = {
            "curve": point["curve"],
            "x": point["x"],
            "rows_per_s": rows_per_s,
            "gflops": rows_per_s * point["flops_per_row"] / 1e9,
        }
    widest = max(settings.curves_mlp_widths)
    largest = max(settings.curves_cnn_sizes)
    summary = {
        "points": found,
        "mlp_widest_gflops": found[f"mlp_width_{widest}"]["gflops"],
        "cnn_largest_images_per_s": found[f"cnn_size_{largest}"]["rows_per_s"],
        "samples_total_s": [round(sample["total_s"], 6) for sample in samples],
    }
    smallest = min(settings.curves_mlp_batches)
    if smallest == 1:
        summary["mlp_batch1_rows_per_s"] = found["mlp_batch_1"]["rows_per_s"]
    return summary


def add_gemm_fractions(results: dict[str, dict[str, Any]], gemm_gflops: float) -> None:
    """Give every MLP point, and the widest-MLP summary, its fraction of the GEMM peak."""
    for figures in results.values():
        for point in figures.get("points", {}).values():
            if point["curve"].startswith("mlp"):
                point["gemm_fraction"] = point["gflops"] / gemm_gflops
        if "mlp_widest_gflops" in figures:
            figures["mlp_widest_fraction"] = figures["mlp_widest_gflops"] / gemm_gflops


def plot(
    results: dict[str, dict[str, Any]],
    labels: dict[str, str],
    gemm_gflops: float | None,
    directory: Path,
) -> list[Path]:
    """Draw ``curves_mlp.png`` (GEMM-peak fraction) and ``curves_cnn.png`` (images/s).

    Returns the files written; raises ImportError without matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    written = []
    panels = {
        "curves_mlp.png": (("mlp_width", "mlp_batch"), "gemm_fraction", "fraction of GEMM peak"),
        "curves_cnn.png": (("cnn_size", "cnn_channels"), "rows_per_s", "images/s"),
    }
    for name, (curves, figure_key, y_label) in panels.items():
        figure, axes = plt.subplots(1, len(curves), figsize=(10, 4), constrained_layout=True)
        for axis, curve in zip(axes, curves, strict=True):
            for key, figures in results.items():
                found = [p for p in figures.get("points", {}).values() if p["curve"] == curve]
                found = [p for p in found if figure_key in p]
                if not found:
                    continue
                found.sort(key=lambda p: p["x"])
                axis.plot(
                    [p["x"] for p in found],
                    [p[figure_key] for p in found],
                    marker="o",
                    label=labels.get(key, key),
                )
            # both axes logarithmic: the sizes double, and the figures span decades
            axis.set_xscale("log", base=2)
            axis.set_yscale("log")
            xs = sorted(
                {
                    p["x"]
                    for f in results.values()
                    for p in f.get("points", {}).values()
                    if p["curve"] == curve
                }
            )
            axis.set_xticks(xs, [str(x) for x in xs])
            axis.set_xlabel(CURVES[curve])
            axis.set_ylabel(y_label)
            axis.grid(True, which="both", alpha=0.3)
            axis.legend()
        if figure_key == "gemm_fraction" and gemm_gflops:
            figure.suptitle(f"MLP training throughput; NumPy GEMM peak {gemm_gflops:.0f} GFLOP/s")
        else:
            figure.suptitle("CNN training throughput")
        path = Path(directory) / name
        figure.savefig(path, dpi=80)
        plt.close(figure)
        written.append(path)
    return written
