"""The benchmark suite runs end to end in quick mode; it asserts nothing about speed.

Competitors that are not installed (PyTorch, Keras, scikit-learn) are skipped by the suite itself,
and so is the digits_cnn workload without scikit-learn, so these tests pass with NumPy alone.
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = (
    "iris",
    "mlp",
    "predict",
    "startup",
    "memory",
    "cnn",
    "digits_cnn",
    "explain_ig",
    "dp",
    "load",
    "csv",
)
HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None
# the figures each workload reports for axonal
AXONAL_FIGURES = {
    "iris": ("fit_s", "step_us"),
    "mlp": ("samples_per_s", "gflops", "gemm_fraction"),
    "predict": ("latency_us", "rows_per_s", "rows_per_s_one_batch"),
    # (the differences over NumPy are a few ms now, within the noise of a quick run: not > 0)
    "startup": ("import_ms", "train_process_ms", "cold_import_ms"),
    "memory": ("peak_delta_mb", "peak_mb"),
    "cnn": ("images_per_s", "step_ms", "gflops", "peak_delta_mb", "peak_mb"),
    "digits_cnn": ("fit_s", "images_per_s", "step_ms", "test_accuracy"),
    "explain_ig": ("ig_ms", "images_per_s"),
    "load": ("load_ms", "load_us_per_layer", "large_load_s", "large_from_json_s"),
    "csv": ("file_mb", "read_s", "numpy_read_s", "peak_over_file", "numpy_peak_over_file"),
    "dp": (
        "mlp_plain_ms",
        "mlp_dp_ms",
        "mlp_dp_ratio",
        "cnn_plain_ms",
        "cnn_dp_ms",
        "cnn_dp_ratio",
    ),
}


@pytest.fixture
def bench_main():
    """``bench.runner.main``, importable from a bare checkout (the repo root on sys.path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.runner import main

    return main


def _check_document(document):
    assert document["quick"] is True
    assert set(document["workloads"]) == set(WORKLOADS)
    assert document["machine"]["cpu"]
    assert document["machine"]["versions"]["numpy"]
    digits = document["workloads"]["digits_cnn"]
    if HAVE_SKLEARN:
        assert "skipped" not in digits
    else:
        assert "sklearn" in digits["skipped"] and digits["results"] == {}
    for workload, keys in AXONAL_FIGURES.items():
        if workload == "digits_cnn" and not HAVE_SKLEARN:
            continue
        axonal = document["workloads"][workload]["results"]["axonal"]
        assert "error" not in axonal, (workload, axonal)
        for key in keys:
            value = axonal[key]
            assert isinstance(value, (int, float)) and value > 0, (workload, key, value)
    startup = document["workloads"]["startup"]["results"]["axonal"]
    for key in ("over_numpy_ms", "cold_over_numpy_ms"):
        assert math.isfinite(startup[key]), (key, startup[key])
    for workload in WORKLOADS:
        for competitor, figures in document["workloads"][workload]["results"].items():
            assert "error" not in figures, (workload, competitor, figures)


def test_quick_run_of_axonal_and_the_numpy_reference(bench_main, tmp_path, capsys):
    output = tmp_path / "results.json"
    status = bench_main(["--quick", "--competitors", "axonal,numpy", "--output", str(output)])
    assert status == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    _check_document(document)
    iris_ratios = document["workloads"]["iris"]["ratios"]["axonal"]
    assert iris_ratios["vs_numpy"] > 0
    # no NumPy reference for the CNNs, so no NumPy ratio either
    assert "numpy" not in document["workloads"]["cnn"]["results"]
    table = capsys.readouterr().out
    assert "| axonal" in table and "NumPy reference" in table
    assert "### LeNet CNN" in table


def test_digits_cnn_is_skipped_cleanly_without_sklearn(bench_main, tmp_path, monkeypatch, capsys):
    import bench.competitors as competitors

    real = competitors.installed
    monkeypatch.setattr(competitors, "installed", lambda name: name != "sklearn" and real(name))
    output = tmp_path / "results.json"
    argv = ["--quick", "--only", "digits_cnn", "--competitors", "axonal", "--output", str(output)]
    assert bench_main(argv) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    entry = document["workloads"]["digits_cnn"]
    assert entry["skipped"] == "sklearn not installed"
    assert entry["results"] == {}
    assert "Not run: workload digits_cnn (sklearn not installed)" in capsys.readouterr().out


def test_a_missing_competitor_is_skipped_cleanly(bench_main, tmp_path, monkeypatch, capsys):
    import bench.competitors as competitors

    real = competitors.installed
    monkeypatch.setattr(competitors, "installed", lambda name: name != "torch" and real(name))
    output = tmp_path / "results.json"
    argv = ["--quick", "--only", "iris", "--competitors", "axonal,pytorch", "--output", str(output)]
    assert bench_main(argv) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["competitors"]["pytorch"]["available"] is False
    assert "torch" in document["competitors"]["pytorch"]["reason"]
    assert set(document["workloads"]["iris"]["results"]) == {"axonal"}
    assert "Not run: PyTorch" in capsys.readouterr().out


TRANSFORMER_FIGURES = ("samples_per_s", "step_ms", "tokens_per_s", "gflops")


def test_transformer_runs_only_when_named(bench_main, tmp_path, capsys):
    from bench.settings import FULL
    from bench.workloads import ALL, OPT_IN, transformer

    assert "transformer" in OPT_IN and "transformer" not in ALL
    output = tmp_path / "results.json"
    argv = ["--quick", "--only", "transformer", "--competitors", "axonal", "--output", str(output)]
    assert bench_main(argv) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    assert set(document["workloads"]) == {"transformer"}
    entry = document["workloads"]["transformer"]
    assert entry["primary"] == "samples_per_s" and entry["higher_is_better"] is True
    axonal = entry["results"]["axonal"]
    assert "error" not in axonal, axonal
    for key in TRANSFORMER_FIGURES:
        assert isinstance(axonal[key], (int, float)) and axonal[key] > 0, (key, axonal[key])
    assert len(axonal["samples_fit_s"]) == 2
    table = capsys.readouterr().out
    assert "### transformer encoder block on token ids" in table
    assert "sequence 16, 2 steps; best of 2" in table
    # issue 18's sizes at full scale
    model = transformer.spec(FULL)
    assert (model.sequence, model.model_dim, model.heads, model.key_dim) == (128, 128, 4, 32)
    assert FULL.transformer_batch_size == 32
    # embedding 1000x128, 4 projections, feed-forward 128-256-128, output 128x2: multiply-adds
    assert (
        transformer.multiply_adds(model)
        == 128 * (4 * 128 * 128 + 2 * 128 * 256) + (2 * 128 * 128 * 128) + 128 * 2
    )


@pytest.mark.slow
def test_transformer_quick_with_every_installed_competitor(bench_main, tmp_path):
    output = tmp_path / "results.json"
    assert bench_main(["--quick", "--only", "transformer", "--output", str(output)]) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    results = document["workloads"]["transformer"]["results"]
    expected = {"axonal"}
    if importlib.util.find_spec("torch") is not None:
        expected |= {"pytorch", "pytorch_1t"}
    if document["competitors"].get("keras", {}).get("available"):
        expected.add("keras")
    assert set(results) == expected
    for key, figures in results.items():
        assert "error" not in figures, (key, figures)
        assert figures["samples_per_s"] > 0


def test_conv1d_bilstm_and_curves_run_only_when_named_and_draw_the_plots(
    bench_main, tmp_path, capsys
):
    from bench.settings import FULL
    from bench.workloads import ALL, OPT_IN, bilstm_imdb, conv1d_ts, curves

    named = ("conv1d_ts", "bilstm_imdb", "curves")
    assert set(named) <= set(OPT_IN) and not set(named) & set(ALL)
    output = tmp_path / "results.json"
    argv = ["--quick", "--competitors", "axonal", "--output", str(output)]
    for name in named:
        argv += ["--only", name]
    assert bench_main(argv) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    assert set(document["workloads"]) == set(named)
    for name in ("conv1d_ts", "bilstm_imdb"):
        axonal = document["workloads"][name]["results"]["axonal"]
        assert "error" not in axonal, axonal
        for key in ("samples_per_s", "step_ms", "gflops"):
            assert isinstance(axonal[key], (int, float)) and axonal[key] > 0, (name, key)
        assert len(axonal["samples_fit_s"]) == 2
    entry = document["workloads"]["curves"]
    axonal = entry["results"]["axonal"]
    assert "error" not in axonal, axonal
    assert {point["curve"] for point in axonal["points"].values()} == set(curves.CURVES)
    for point in axonal["points"].values():
        assert point["rows_per_s"] > 0 and point["gflops"] > 0
        if point["curve"].startswith("mlp"):
            assert (
                0
                < point["gemm_fraction"]
                == pytest.approx(point["gflops"] / document["gemm_peak"]["gflops"])
            )
    if importlib.util.find_spec("matplotlib") is not None:
        assert entry["plots"] == ["curves_mlp.png", "curves_cnn.png"]
        for name in entry["plots"]:
            assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert "### Conv1D time-series classifier (FordA-shaped)" in table
    assert "### Bidirectional-LSTM classifier (IMDB-shaped)" in table
    assert "### scaling curves" in table
    # issue 21's sizes at full scale
    model = conv1d_ts.spec(FULL)
    assert (FULL.conv1d_rows, model.steps, model.filters, model.kernel_size) == (3600, 500, 64, 3)
    assert conv1d_ts.multiply_adds(model) == 500 * 3 * (1 * 64 + 2 * 64 * 64) + 64 * 2
    lstm = bilstm_imdb.spec(FULL)
    assert (lstm.vocabulary, lstm.embedding_dim, lstm.sequence, lstm.units) == (20000, 128, 200, 64)
    assert bilstm_imdb.multiply_adds(lstm) == 2 * 200 * (4 * 64 * 192 + 4 * 64 * 192) + 128
    assert FULL.conv1d_batch_size == FULL.bilstm_batch_size == 32
    assert (min(FULL.curves_mlp_widths), max(FULL.curves_mlp_widths)) == (64, 4096)
    assert (min(FULL.curves_mlp_batches), max(FULL.curves_mlp_batches)) == (1, 1024)
    assert (min(FULL.curves_cnn_sizes), max(FULL.curves_cnn_sizes)) == (28, 128)


STREAM_FIGURES = (
    "peak_delta_mb",
    "gb_per_s",
    "rows_per_s",
    "baseline_mb",
    "peak_mb",
    "peak_anon_mb",
    "peak_file_mb",
    "fit_s",
)


def test_stream_runs_only_when_named_and_deletes_its_file(
    bench_main, tmp_path, monkeypatch, capsys
):
    import tempfile

    # the data file goes to a directory of the test's own, to check it is deleted afterwards
    data_root = tmp_path / "tmp"
    data_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(data_root))
    output = tmp_path / "results.json"
    argv = ["--quick", "--only", "stream", "--competitors", "axonal", "--output", str(output)]
    assert bench_main(argv) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    assert set(document["workloads"]) == {"stream"}
    entry = document["workloads"]["stream"]
    assert entry["primary"] == "peak_delta_mb" and entry["higher_is_better"] is False
    axonal = entry["results"]["axonal"]
    assert "error" not in axonal, axonal
    for key in STREAM_FIGURES:
        assert isinstance(axonal[key], (int, float)) and axonal[key] > 0, (key, axonal[key])
    assert axonal["rows"] == 65_536
    assert axonal["peak_mb"] == pytest.approx(axonal["baseline_mb"] + axonal["peak_delta_mb"])
    assert list(data_root.iterdir()) == []
    table = capsys.readouterr().out
    assert "### stream: one epoch from a memory-mapped float32 file" in table
    assert "| peak − baseline (MiB) * | GB/s | rows/s |" in table
    assert "peak RssAnon (MiB) | peak RssFile (MiB)" in table


def test_stream_fails_clearly_without_twice_its_size_free(
    bench_main, tmp_path, monkeypatch, capsys
):
    import shutil
    import tempfile
    from collections import namedtuple

    from bench.settings import FULL
    from bench.workloads import stream

    data_root = tmp_path / "tmp"
    data_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(data_root))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 1 << 40, 1 << 20))
    output = tmp_path / "results.json"
    argv = ["--quick", "--only", "stream", "--competitors", "axonal", "--output", str(output)]
    assert bench_main(argv) == 1
    document = json.loads(output.read_text(encoding="utf-8"))
    error = document["workloads"]["stream"]["results"]["axonal"]["error"]
    assert "stream needs" in error and "free" in error and "TMPDIR" in error
    assert list(data_root.iterdir()) == []
    assert "failed: stream needs" in capsys.readouterr().out
    # the full size: 10 GiB of features, and the labels on top
    assert stream.rows(FULL) == 10 * 2**20
    assert stream.data_bytes(FULL) == 10 * 2**20 * (256 * 4 + 8)


@pytest.mark.slow
def test_python_m_bench_quick_with_every_installed_competitor(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(output.read_text(encoding="utf-8"))
    _check_document(document)
    assert "## axonal benchmarks" in done.stdout
