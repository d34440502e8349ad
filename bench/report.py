"""Ratios against the references, and the markdown tables."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from bench.competitors import COMPETITORS, REFERENCES
from bench.workloads import spread as sample_spread

_REFERENCE_HEADERS = {"pytorch": "vs PyTorch", "numpy": "vs NumPy ref"}

LEGEND = (
    "Ratios compare each row's starred figure with the reference's in the same run: "
    "above 1 means better than the reference (faster, more throughput, less memory)."
)


NOISY_SPREAD = 1.3


def spread(workload: ModuleType, figures: dict[str, Any]) -> float | None:
    """Median over best of the samples behind the primary figure: 1.0 on a quiet machine."""
    if not workload.SAMPLE_KEY:
        return None
    return sample_spread(figures.get(f"samples_{workload.SAMPLE_KEY}") or [])


def advantage(value: Any, reference: Any, higher_is_better: bool) -> float | None:
    """How many times better ``value`` is than ``reference`` (>1 better), or None."""
    if not _positive(value) or not _positive(reference):
        return None
    return value / reference if higher_is_better else reference / value


def ratios(workload: ModuleType, results: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """``{competitor: {"vs_pytorch": r, "vs_numpy": r}}`` on the workload's primary figure.

    A workload's ``EXTRA_RATIOS`` add ``"{figure}_vs_{reference}"`` entries on other figures.
    """
    table: dict[str, dict[str, float | None]] = {}
    for key, figures in results.items():
        row = {}
        for reference in REFERENCES:
            if reference in results:
                row[f"vs_{reference}"] = advantage(
                    figures.get(workload.PRIMARY),
                    results[reference].get(workload.PRIMARY),
                    workload.HIGHER_IS_BETTER,
                )
        for extra in _extra_ratios(workload, results):
            row[f"{extra.key}_vs_{extra.reference}"] = advantage(
                figures.get(extra.key),
                results[extra.reference].get(extra.key),
                extra.higher_is_better,
            )
        table[key] = row
    return table


def _extra_ratios(workload: ModuleType, results: dict[str, dict[str, Any]]) -> list[Any]:
    """The workload's extra ratio columns whose reference is in ``results``."""
    return [r for r in getattr(workload, "EXTRA_RATIOS", ()) if r.reference in results]


def markdown(
    workload: ModuleType,
    results: dict[str, dict[str, Any]],
    labels: dict[str, str],
    subtitle: str = "",
) -> str:
    """One workload's table: a row per competitor, its figures, then the ratio columns."""
    ordered = [c.key for c in COMPETITORS if c.key in results]
    metrics = [m for m in workload.METRICS if any(m.key in results[k] for k in ordered)]
    references = [r for r in REFERENCES if r in results]
    extras = _extra_ratios(workload, results)
    computed = ratios(workload, results)
    headers = [""]
    for metric in metrics:
        star = " *" if metric.key == workload.PRIMARY else ""
        headers.append(metric.header + star)
    headers += [_REFERENCE_HEADERS[r] for r in references]
    headers += [extra.header for extra in extras]
    lines = [
        f"### {workload.TITLE}" + (f" ({subtitle})" if subtitle else ""),
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" + "---:|" * (len(headers) - 1),
    ]
    noisy = []
    partial = []
    for key in ordered:
        figures = results[key]
        label = labels.get(key, key)
        row_spread = spread(workload, figures)
        if row_spread is not None and row_spread > NOISY_SPREAD:
            noisy.append(f"{label} {100 * (row_spread - 1):.0f}%")
            label += " †"
        if "error" in figures:
            cells = [f"failed: {figures['error']}"] + [""] * (len(headers) - 2)
        else:
            cells = [_format(metric.key, figures.get(metric.key)) for metric in metrics]
            cells += [_ratio(computed[key].get(f"vs_{r}")) for r in references]
            cells += [_ratio(computed[key].get(f"{e.key}_vs_{e.reference}")) for e in extras]
        lines.append("| " + " | ".join([label, *cells]) + " |")
        # a part measured separately (``cnn``'s memory) can fail on its own
        partial += [
            f"{label}: {name.removesuffix('_error')} failed: {message}"
            for name, message in figures.items()
            if name.endswith("_error")
        ]
    if noisy:
        lines += [
            "",
            "† noisy: the median sample was above the best by " + ", ".join(noisy) + ".",
        ]
    if partial:
        lines += ["", "; ".join(partial) + "."]
    return "\n".join(lines)


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _format(key: str, value: Any) -> str:
    """A figure with as many digits as a noisy machine justifies."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    if key.endswith("fraction"):
        return f"{value * 100:.0f}%"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
