"""``python -m bench``: run the workloads, print markdown tables, write ``bench/results.json``.

The main process orchestrates, and itself times only NumPy's GEMM peak and the start-up
commands. Every competitor trains in a worker process of its own (``bench.worker``), so
PyTorch's and Keras's imports and thread pools never share a process with axonal's or NumPy's
figures. The workers are started and warmed up first; then the runner takes one sample of each
workload from each worker per round, so noise on the shared machine is spread over everyone.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import REPO, subprocess_env
from bench import machine as machine_info
from bench.competitors import (
    COMPETITORS,
    Competitor,
    keras_backend,
    missing,
    unavailable_reason,
    worker_env_extra,
)
from bench.report import LEGEND, markdown, ratios, spread
from bench.settings import Settings, choose
from bench.workloads import (
    ALL,
    IN_WORKER,
    OPT_IN,
    bilstm_imdb,
    cnn,
    conv1d_ts,
    curves,
    digits_cnn,
    iris,
    load,
    mlp,
    stream,
    transformer,
)

DEFAULT_OUTPUT = REPO / "bench" / "results.json"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark axonal against PyTorch, Keras, scikit-learn and a plain-NumPy loop "
            "(those installed), print markdown tables and write a JSON file of every figure."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few repeats, to check the suite works (figures mean little)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=ALL + OPT_IN,
        metavar="WORKLOAD",
        help=f"run only this workload (repeatable): {', '.join(ALL)}; and, only when named, "
        f"{', '.join(OPT_IN)}",
    )
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=None,
        help="timed samples per in-process measurement, best reported (default 5; quick 2)",
    )
    parser.add_argument(
        "--competitors",
        default=None,
        help="comma-separated subset: " + ", ".join(c.key for c in COMPETITORS),
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the JSON results (default: bench/results.json)",
    )
    return parser


_STARTED = time.perf_counter()
# idle time before each sample: OpenBLAS and OpenMP threads busy-wait for a few tens of
# milliseconds after their last job, which would otherwise land on the next worker's sample
_SETTLE_S = 0.1


def _log(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the run began."""
    print(f"[{time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class WorkerError(RuntimeError):
    """A worker failed to start, died, timed out or could not take a sample."""


class _Worker:
    """A ``bench.worker`` process serving one competitor's samples over pipes."""

    def __init__(self, competitor: Competitor, workloads: list[str], settings: Settings):
        self.competitor = competitor
        self.workloads = list(workloads)
        self.timeout = 300 if settings.quick else 1800
        self.stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        command = [
            sys.executable,
            "-m",
            "bench.worker",
            "--competitor",
            competitor.key,
            "--workloads",
            ",".join(workloads),
            "--settings",
            json.dumps(settings.as_dict()),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=subprocess_env(**worker_env_extra(competitor)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
        )
        # a thread turns the reply pipe into a queue, so every read can have a timeout
        self.replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        ready = self._receive()
        if not ready.get("ready"):
            raise WorkerError(ready.get("error", "the worker did not start"))
        self.version = ready.get("version")
        self.errors: dict[str, str] = ready.get("errors", {})

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put(None)

    def _receive(self) -> dict[str, Any]:
        try:
            line = self.replies.get(timeout=self.timeout)
        except queue.Empty:
            self.process.kill()
            raise WorkerError(f"no answer within {self.timeout} s") from None
        if line is None:
            self.process.wait()
            raise WorkerError(f"worker exited {self.process.returncode}: {self.stderr_tail()}")
        return json.loads(line)

    def sample(self, workload: str) -> dict[str, float]:
        """One timed sample of ``workload``."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"sample": workload}) + "\n")
            self.process.stdin.flush()
        except OSError as error:
            raise WorkerError(f"worker gone: {error}; {self.stderr_tail()}") from None
        answer = self._receive()
        if "error" in answer:
            raise WorkerError(answer["error"])
        return answer["sample"]

    def stderr_tail(self, lines: int = 1) -> str:
        """The last lines the worker wrote to stderr (a traceback's last line names the error)."""
        self.stderr.flush()
        self.stderr.seek(0)
        text = self.stderr.read().strip().splitlines()
        return " | ".join(text[-lines:]) if text else "no output"

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"quit": True}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def _sample_in_rounds(
    runnable: list[Competitor],
    workloads: list[str],
    settings: Settings,
    gemm: mlp.GemmPeak | None,
    competitors: dict[str, dict[str, Any]],
    results: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Start and warm up a worker per competitor, then sample them in rounds.

    Each of ``settings.repeat`` rounds takes one sample of each workload from each worker, in
    an order rotated every round. Returns the samples; failures go into ``results``.
    """
    workers: dict[str, _Worker] = {}
    samples: dict[str, dict[str, list[dict[str, float]]]] = {name: {} for name in workloads}
    try:
        for competitor in runnable:
            wanted = [name for name in workloads if name in competitor.workloads]
            if not wanted:
                continue
            _log(f"{competitor.label}: start and warm up ({', '.join(wanted)})")
            try:
                worker = _Worker(competitor, wanted, settings)
            except WorkerError as error:
                for name in wanted:
                    results[name][competitor.key] = {"error": str(error)}
                continue
            workers[competitor.key] = worker
            competitors[competitor.key]["version"] = worker.version
            for name in wanted:
                if name in worker.errors:
                    results[name][competitor.key] = {"error": worker.errors[name]}
                else:
                    samples[name][competitor.key] = []
        for index in range(settings.repeat):
            _log(f"round {index + 1} of {settings.repeat}")
            if gemm is not None:
                gemm.sample()
            for name in workloads:
                keys = list(samples[name])
                # rotate, so no competitor always runs right after the same other one
                keys = keys[index % len(keys) :] + keys[: index % len(keys)] if keys else keys
                for key in keys:
                    if key in results[name]:
                        continue
                    # let the last sampler's BLAS and OpenMP threads stop spinning first
                    time.sleep(_SETTLE_S)
                    try:
                        samples[name][key].append(workers[key].sample(name))
                    except WorkerError as error:
                        results[name][key] = {"error": str(error)}
    finally:
        for worker in workers.values():
            worker.close()
    return samples


def _label(competitor: Competitor) -> str:
    backend = keras_backend() if competitor.key == "keras" else None
    if backend:
        return f"{competitor.label} ({backend})"
    return competitor.label


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the tables; write the JSON. Returns 0, or 1 if any row failed.

    Example:
        >>> main(["--quick", "--only", "iris"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    settings = choose(args.quick, args.repeat)
    selected = [name for name in ALL if args.only is None or name in args.only]
    selected += [name for name in OPT_IN if args.only is not None and name in args.only]
    wanted = None if args.competitors is None else set(args.competitors.split(","))
    known = {c.key for c in COMPETITORS}
    if wanted is not None and not wanted <= known:
        unknown = ", ".join(sorted(wanted - known))
        print(f"python -m bench: unknown competitor(s): {unknown}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    competitors, runnable = _competitors(wanted)
    info = machine_info.describe()
    _log(f"machine: {machine_info.summary_line(info)}")
    skipped = _skipped_workloads(selected)

    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in selected}
    in_worker = [name for name in selected if name in IN_WORKER and name not in skipped]
    gemm = mlp.GemmPeak(settings) if "mlp" in selected or "curves" in selected else None
    samples = _sample_in_rounds(runnable, in_worker, settings, gemm, competitors, results)
    for name, by_competitor in samples.items():
        workload = importlib.import_module(f"bench.workloads.{name}")
        for key, taken in by_competitor.items():
            if key not in results[name] and taken:
                results[name][key] = workload.summarize(taken, settings)
    if "memory" in selected:
        results["memory"] = _fresh_worker_each(runnable, "memory", settings)
    if "cnn" in selected:
        _merge_memory(results["cnn"], _fresh_worker_each(runnable, "cnn_memory", settings))
    if "startup" in selected:
        from bench.workloads import startup

        try:
            results["startup"] = startup.measure(settings, [c.key for c in runnable], log=_log)
        except RuntimeError as error:
            results["startup"] = {"axonal": {"error": str(error)}}
    if "csv" in selected:
        from bench.workloads import csv as csv_workload

        try:
            keys = [c.key for c in runnable]
            results["csv"] = csv_workload.measure(settings, keys, log=_log)
        except RuntimeError as error:
            results["csv"] = {"axonal": {"error": str(error)}}
    if "distributed" in selected and "distributed" not in skipped:
        from bench.workloads import distributed

        try:
            keys = [c.key for c in runnable]
            results["distributed"] = distributed.measure(settings, keys, log=_log)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            results["distributed"] = {"axonal": {"error": str(error)}}
    if "stream" in selected:
        results["stream"] = _stream(runnable, settings)
    gemm_summary = gemm.summary() if gemm is not None else None
    if gemm_summary is not None and "mlp" in results:
        for figures in results["mlp"].values():
            if "gflops" in figures:
                figures["gemm_fraction"] = figures["gflops"] / gemm_summary["gflops"]

    if gemm_summary is not None and "curves" in results:
        curves.add_gemm_fractions(results["curves"], gemm_summary["gflops"])

    document: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "quick": settings.quick,
        "settings": settings.as_dict(),
        "machine": info,
        "competitors": competitors,
        "gemm_peak": gemm_summary,
        "workloads": {},
    }
    for name in selected:
        workload = importlib.import_module(f"bench.workloads.{name}")
        figures = results[name]
        document["workloads"][name] = {
            "title": workload.TITLE,
            "primary": workload.PRIMARY,
            "higher_is_better": workload.HIGHER_IS_BETTER,
            "results": figures,
            "ratios": ratios(workload, figures),
            "spread": {key: spread(workload, row) for key, row in figures.items()},
        }
        if name in skipped:
            document["workloads"][name]["skipped"] = skipped[name]
    document["elapsed_s"] = round(time.perf_counter() - started, 1)
    document["machine"]["load_average_at_end"] = machine_info.load_average()

    print(_tables(document, settings))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if "curves" in selected and "curves" not in skipped:
        _plot_curves(document, args.output.parent)
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    _log(f"wrote {args.output}")
    failed = any(
        key == "error" or key.endswith("_error")
        for entry in results.values()
        for row in entry.values()
        for key in row
    )
    return 1 if failed else 0


def _plot_curves(document: dict[str, Any], directory: Path) -> None:
    """Draw the ``curves`` plots next to the JSON results; say so when matplotlib is absent."""
    labels = {key: entry["label"] for key, entry in document["competitors"].items()}
    gemm = document["gemm_peak"]
    results = {
        key: figures
        for key, figures in document["workloads"]["curves"]["results"].items()
        if "error" not in figures
    }
    try:
        written = curves.plot(results, labels, gemm["gflops"] if gemm else None, directory)
    except ImportError:
        _log("curves: matplotlib is not installed, no plots drawn")
        return
    document["workloads"]["curves"]["plots"] = [path.name for path in written]
    for path in written:
        _log(f"wrote {path}")


def _skipped_workloads(selected: list[str]) -> dict[str, str]:
    """``{workload: reason}`` for the selected workloads whose own requirements are missing."""
    skipped = {}
    for name in selected:
        workload = importlib.import_module(f"bench.workloads.{name}")
        absent = missing(getattr(workload, "REQUIRES", ()))
        if absent:
            skipped[name] = f"{', '.join(absent)} not installed"
            _log(f"skipping workload {name}: {skipped[name]}")
    return skipped


def _competitors(
    wanted: set[str] | None,
) -> tuple[dict[str, dict[str, Any]], list[Competitor]]:
    """Each wanted competitor's entry for the JSON file, and those that can run here."""
    entries: dict[str, dict[str, Any]] = {}
    runnable: list[Competitor] = []
    for competitor in COMPETITORS:
        if wanted is not None and competitor.key not in wanted:
            continue
        reason = unavailable_reason(competitor)
        entries[competitor.key] = {
            "label": _label(competitor),
            "available": reason is None,
            "reason": reason,
            "version": None,
        }
        if reason is None:
            runnable.append(competitor)
        else:
            _log(f"skipping {competitor.label}: {reason}")
    return entries, runnable


def _fresh_worker_each(
    runnable: list[Competitor], name: str, settings: Settings
) -> dict[str, dict[str, Any]]:
    """A peak-memory workload (``memory``, ``cnn_memory``): a fresh worker per competitor.

    The peak RSS only ever grows, so each competitor's one sample needs a process of its own.
    """
    workload = importlib.import_module(f"bench.workloads.{name}")
    results: dict[str, dict[str, Any]] = {}
    for competitor in runnable:
        if name not in competitor.workloads:
            continue
        _log(f"{competitor.label}: {name} (fresh process)")
        try:
            worker = _Worker(competitor, [name], settings)
        except WorkerError as error:
            results[competitor.key] = {"error": str(error)}
            continue
        try:
            if name in worker.errors:
                raise WorkerError(worker.errors[name])
            results[competitor.key] = workload.summarize([worker.sample(name)], settings)
        except WorkerError as error:
            results[competitor.key] = {"error": str(error)}
        finally:
            worker.close()
    return results


def _stream(runnable: list[Competitor], settings: Settings) -> dict[str, dict[str, Any]]:
    """``stream``: write its data once, a fresh worker per competitor, delete the data."""
    try:
        with stream.data(settings, log=_log) as directory:
            return _fresh_worker_each(
                runnable, "stream", replace(settings, stream_dir=str(directory))
            )
    except (OSError, RuntimeError) as error:
        return {c.key: {"error": str(error)} for c in runnable if "stream" in c.workloads}


def _merge_memory(rows: dict[str, dict[str, Any]], memory: dict[str, dict[str, Any]]) -> None:
    """Add ``cnn_memory``'s figures to the ``cnn`` rows; its failures as ``memory_error``."""
    for key, figures in memory.items():
        row = rows.setdefault(key, {})
        if "error" in figures:
            row["memory_error"] = figures["error"]
        else:
            row.update(figures)


def _tables(document: dict[str, Any], settings: Settings) -> str:
    """The markdown report: machine line, legend, one table per workload, who was not run."""
    info = document["machine"]
    gemm = document["gemm_peak"]
    heading = "## axonal benchmarks"
    if settings.quick:
        heading += " (quick: tiny sizes, figures mean little)"
    machine_line = f"Machine: {machine_info.summary_line(info)}. {document['timestamp']}."
    if gemm is not None:
        machine_line += f" NumPy float32 GEMM peak (n={gemm['n']}): {gemm['gflops']:.0f} GFLOP/s."
    sections = [heading, "", machine_line, "", LEGEND]
    labels = {key: entry["label"] for key, entry in document["competitors"].items()}
    for name, entry in document["workloads"].items():
        if entry["results"]:
            workload = importlib.import_module(f"bench.workloads.{name}")
            table = markdown(workload, entry["results"], labels, _subtitle(name, settings))
            sections += ["", table]
    skipped = [
        f"{entry['label']} ({entry['reason']})"
        for entry in document["competitors"].values()
        if entry["reason"]
    ]
    skipped += [
        f"workload {name} ({entry['skipped']})"
        for name, entry in document["workloads"].items()
        if entry.get("skipped")
    ]
    if skipped:
        sections += ["", "Not run: " + "; ".join(skipped) + "."]
    return "\n".join(sections)


def _subtitle(name: str, settings: Settings) -> str:
    """The sizes a table was measured at."""
    if name == "iris":
        steps = iris.steps(settings)
        return f"{settings.iris_epochs} epochs, {steps:,} steps; best of {settings.repeat}"
    if name == "mlp":
        return (
            f"{settings.mlp_rows:,} rows × {settings.mlp_epochs} epochs; best of {settings.repeat}"
        )
    if name == "predict":
        return f"{settings.predict_rows:,} rows for throughput; best of {settings.repeat}"
    if name == "distributed":
        return (
            f"{settings.mlp_rows:,} rows × {settings.mlp_epochs} epochs; 1 BLAS thread per rank; "
            f"best of {settings.repeat}"
        )
    if name == "startup":
        return f"best of {settings.import_repeat} (torch, keras: {settings.heavy_import_repeat})"
    if name == "memory":
        return f"{settings.memory_rows:,} rows, 1 epoch"
    if name == "csv":
        return (
            f"{settings.csv_rows:,} rows × 9 columns, one of text; fresh process, imports done "
            f"before the clock; best of {settings.repeat}"
        )
    if name == "stream":
        return (
            f"{settings.stream_gib:g} GiB of features, {stream.rows(settings):,} rows, "
            f"{stream.data_bytes(settings) / 1e9:.2f} GB with labels, 1 epoch, one sample; fresh "
            "process, file pages dropped from the page cache first"
        )
    if name == "cnn":
        return (
            f"{settings.cnn_images:,} images × {settings.cnn_epochs} epoch"
            f"{'s' if settings.cnn_epochs != 1 else ''}, {cnn.steps(settings):,} steps; "
            f"best of {settings.repeat}; memory: {settings.cnn_memory_images:,} images, 1 epoch, "
            "fresh process"
        )
    if name == "digits_cnn":
        return (
            f"{digits_cnn.train_rows(settings):,} training images × {settings.digits_epochs} "
            f"epoch{'s' if settings.digits_epochs != 1 else ''}, "
            f"{digits_cnn.steps(settings):,} steps; best of {settings.repeat}; "
            "test accuracy: median"
        )
    if name == "transformer":
        return (
            f"{settings.transformer_rows:,} rows × {settings.transformer_epochs} epoch"
            f"{'s' if settings.transformer_epochs != 1 else ''}, sequence "
            f"{settings.transformer_sequence}, {transformer.steps(settings):,} steps; "
            f"best of {settings.repeat}"
        )
    if name == "conv1d_ts":
        return (
            f"{settings.conv1d_rows:,} series of {settings.conv1d_steps} steps × "
            f"{settings.conv1d_epochs} epoch{'s' if settings.conv1d_epochs != 1 else ''}, "
            f"{conv1d_ts.steps(settings):,} steps; best of {settings.repeat}"
        )
    if name == "bilstm_imdb":
        return (
            f"{settings.bilstm_rows:,} rows of {settings.bilstm_sequence} tokens × "
            f"{settings.bilstm_epochs} epoch{'s' if settings.bilstm_epochs != 1 else ''}, "
            f"{bilstm_imdb.steps(settings):,} steps; best of {settings.repeat}"
        )
    if name == "curves":
        return (
            f"about {settings.curves_flop_budget:.0e} FLOPs per point; best of {settings.repeat}; "
            "every point in the JSON file and the plots"
        )
    if name == "load":
        return (
            f"shared N = {settings.load_layers:,} ({load.layer_count(settings.load_layers):,} "
            f"layers), large N = {settings.load_layers_large:,} "
            f"({load.layer_count(settings.load_layers_large):,} layers, axonal only); "
            f"best of {settings.repeat}"
        )
    return ""
