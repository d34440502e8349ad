"""CSV reading: ``axonal train --data``'s reader against ``pandas.read_csv`` on one table.

The runner writes a table of ``csv_rows`` rows (an id, six float columns, a text column of three
categories and an integer label: about 65 MB at full size) to a temporary folder, then reads it
in fresh interpreters, the readers taking turns round after round:

- ``axonal``: ``axonal.cli_table.read_table``, as the command line calls it (pandas' C tokenizer
  underneath when pandas is installed, plus axonal's checks and per-column conversion);
- ``axonal, NumPy only``: the same call with pandas hidden (the chunked NumPy reader);
- ``pandas``: ``pandas.read_csv`` with its defaults.

Each process imports what it needs (pandas included for the first and last) before the clock
starts; the figure is the read alone, best of the rounds. Peak memory is ``ru_maxrss`` at the
end less ``ru_maxrss`` after the imports: what the read added, as a multiple of the file's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import REPO, subprocess_env
from bench.settings import Settings
from bench.workloads import Metric

TITLE = "CSV reading: a fresh process reads one table"
METRICS = (
    Metric("file_mb", "file (MB)"),
    Metric("read_s", "axonal (s)"),
    Metric("pandas_s", "pandas (s)"),
    Metric("vs_pandas", "axonal / pandas time"),
    Metric("numpy_read_s", "axonal NumPy-only (s)"),
    Metric("peak_over_file", "axonal peak / file"),
    Metric("pandas_peak_over_file", "pandas peak / file"),
    Metric("numpy_peak_over_file", "NumPy-only peak / file"),
)
PRIMARY = "read_s"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "read_s"

# one process, one read; prints {"seconds", "peak_mb"} as JSON
_PROGRAM = """
import json, resource, sys, time
reader, path = sys.argv[1], sys.argv[2]
if reader == "numpy":
    sys.modules["pandas"] = None  # import pandas fails: axonal takes its NumPy path
else:
    import pandas
if reader != "pandas":
    from axonal import cli_table
import numpy
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if reader == "pandas":
    table = pandas.read_csv(path)
    rows = len(table)
else:
    table = cli_table.read_table(path, progress=False)
    rows = table.rows
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "rows": rows}))
"""


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    """The benchmark table: id, six floats, a text column of three categories, a label."""
    import numpy

    rng = numpy.random.default_rng(seed)
    colors = numpy.array(["red", "green", "blue"])
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id,a,b,c,d,e,f,color,label\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            values = rng.normal(size=(n, 6))
            ids = numpy.arange(start, start + n)
            color = colors[rng.integers(0, 3, size=n)]
            label = rng.integers(0, 3, size=n)
            handle.writelines(
                f"{i},{v[0]:.6f},{v[1]:.6f},{v[2]:.6f},{v[3]:.6f},{v[4]:.6f},{v[5]:.6f},{c},{y}\n"
                for i, v, c, y in zip(ids, values, color, label, strict=True)
            )


def _read(reader: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, reader, str(path)],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:]
        raise RuntimeError(f"csv reader {reader} exited {done.returncode}: {' '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    settings: Settings, competitors: list[str], log: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
    """The axonal row: its read time and peak against pandas' (when installed)."""
    if "axonal" not in competitors:
        return {}
    import importlib.util

    have_pandas = importlib.util.find_spec("pandas") is not None
    readers = ["axonal", "numpy"] + (["pandas"] if have_pandas else [])
    with tempfile.TemporaryDirectory(prefix="axonal-bench-csv-") as folder:
        path = Path(folder) / "table.csv"
        log(f"csv: writing {settings.csv_rows:,} rows")
        write_table(path, settings.csv_rows, settings.seed)
        size_mb = os.path.getsize(path) / 1e6
        samples: dict[str, list[dict[str, float]]] = {reader: [] for reader in readers}
        for index in range(settings.repeat):
            log(f"csv: round {index + 1} of {settings.repeat}")
            for reader in readers:
                samples[reader].append(_read(reader, path))
    best = {r: min(s["seconds"] for s in taken) for r, taken in samples.items()}
    peak = {r: min(s["peak_mb"] for s in taken) for r, taken in samples.items()}
    row: dict[str, Any] = {
        "file_mb": size_mb,
        "read_s": best["axonal"],
        "numpy_read_s": best["numpy"],
        # a tiny file can add nothing measurable to the peak: floor at one page
        "peak_over_file": max(peak["axonal"], 0.004) / size_mb,
        "numpy_peak_over_file": max(peak["numpy"], 0.004) / size_mb,
        "samples_read_s": [round(s["seconds"], 6) for s in samples["axonal"]],
    }
    if have_pandas:
        row["pandas_s"] = best["pandas"]
        row["vs_pandas"] = best["axonal"] / best["pandas"]
        row["pandas_peak_over_file"] = max(peak["pandas"], 0.004) / size_mb
    return {"axonal": row}
