"""callbacks.TensorBoard: event files TensorBoard reads, written without TensorFlow."""

import glob
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import axonal
from axonal.callbacks import TensorBoard
from axonal.summary_events import EventFileWriter, crc32c, masked_crc32c, read_events


def _model():
    axonal.utils.clear_session()  # layer names from 'dense' again, whatever ran before
    axonal.utils.set_random_seed(0)
    model = axonal.Sequential(
        [
            axonal.layers.Input((3,)),
            axonal.layers.Dense(4, activation="relu"),
            axonal.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        axonal.optimizers.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return x, y


def _events(run_dir):
    files = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    return [e for e in read_events(files[0]) if "tag" in e]


def test_crc32c_matches_the_published_check_value():
    # RFC 3720 B.4: CRC-32C of "123456789" is 0xE3069283; of 32 zero bytes 0x8A9136AA
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_record_framing_and_a_corrupted_byte_is_caught(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.scalar("x", 1.5, step=3)
    writer.close()
    (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    blob = open(path, "rb").read()
    (length,) = struct.unpack("<Q", blob[:8])
    assert struct.unpack("<I", blob[8:12])[0] == masked_crc32c(blob[:8])
    assert struct.unpack("<I", blob[12 + length : 16 + length])[0] == masked_crc32c(
        blob[12 : 12 + length]
    )
    events = read_events(path)
    assert events[0] == {"file_version": "brain.Event:2"}
    assert events[1]["tag"] == "x" and events[1]["step"] == 3 and events[1]["value"] == 1.5
    broken = bytearray(blob)
    broken[-6] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(broken))
    with pytest.raises(ValueError, match="CRC"):
        read_events(path)


def test_epoch_scalars_learning_rate_and_validation_runs_with_keras_tags(tmp_path):
    model = _model()
    x, y = _data()
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=8,
        validation_data=(x, y),
        verbose=0,
        callbacks=[TensorBoard(tmp_path, write_graph=False)],
    )
    train = _events(tmp_path / "train")
    validation = _events(tmp_path / "validation")
    for tag, key in (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy")):
        got = [(e["step"], e["value"]) for e in train if e["tag"] == tag]
        assert [s for s, _ in got] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in got], history.history[key], rtol=1e-6)
        got = [e["value"] for e in validation if e["tag"] == tag]
        np.testing.assert_allclose(got, history.history["val_" + key], rtol=1e-6)
    rates = [e["value"] for e in train if e["tag"] == "epoch_learning_rate"]
    np.testing.assert_allclose(rates, [0.05] * 3, rtol=1e-6)
    assert all(e["plugin"] == "scalars" for e in train + validation)
    # as Keras: each validation pass also logs against the optimizer's step count
    steps = [e["step"] for e in validation if e["tag"] == "evaluation_loss_vs_iterations"]
    assert steps == [2, 4, 6]
    assert not any(e["tag"].startswith("batch_") for e in train)


def test_batch_scalars_every_update_freq_batches(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(
        x,
        y,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[TensorBoard(tmp_path, update_freq=3, write_graph=False)],
    )
    train = _events(tmp_path / "train")
    # 4 batches an epoch, counted across epochs from 1: batches 3 and 6 are logged
    assert [e["step"] for e in train if e["tag"] == "batch_loss"] == [3, 6]
    assert [e["step"] for e in train if e["tag"] == "batch_accuracy"] == [3, 6]


def test_histograms_images_and_the_keras_graph(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[TensorBoard(tmp_path, histogram_freq=1, write_images=True)],
    )
    train = _events(tmp_path / "train")
    kernel = model.layers[0].get_weights()[0]
    last = [e for e in train if e["tag"] == "dense/kernel/histogram"][-1]
    assert last["plugin"] == "histograms" and last["step"] == 1
    buckets = last["value"]
    assert buckets.shape == (30, 3)
    assert buckets[:, 2].sum() == kernel.size
    np.testing.assert_allclose([buckets[0, 0], buckets[-1, 1]], [kernel.min(), kernel.max()])
    image = [e for e in train if e["tag"] == "dense/kernel/image"][-1]
    assert image["plugin"] == "images"
    width, height, png = image["value"]
    assert (int(width), int(height)) == (4, 3) and png.startswith(b"\x89PNG")
    (graph,) = [e for e in train if e["tag"] == "keras"]
    assert graph["plugin"] == "graph_keras_model"
    config = json.loads(graph["value"][0])
    assert config["class_name"] == "Sequential"
    assert [layer["config"]["name"] for layer in config["config"]["layers"]][1:] == [
        "dense",
        "dense_1",
    ]


def test_profiling_and_embeddings_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="profile_batch"):
        TensorBoard(tmp_path, profile_batch=2)
    with pytest.raises(ValueError, match="embeddings_freq"):
        TensorBoard(tmp_path, embeddings_freq=1)
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(tmp_path, update_freq="sometimes")


def test_tensorboards_own_reader_agrees(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    model = _model()
    x, y = _data()
    history = model.fit(
        x, y, epochs=2, verbose=0, callbacks=[TensorBoard(tmp_path, histogram_freq=1)]
    )
    reader = accumulator.EventAccumulator(str(tmp_path / "train"))
    reader.Reload()
    assert reader.SummaryMetadata("epoch_loss").plugin_data.plugin_name == "scalars"
    got = [
        (
            e.step,
            float(
                e.tensor_proto.float_val[0]
                if e.tensor_proto.float_val
                else np.frombuffer(e.tensor_proto.tensor_content, "<f4")[0]
            ),
        )
        for e in reader.Tensors("epoch_loss")
    ]
    assert [s for s, _ in got] == [0, 1]
    np.testing.assert_allclose([v for _, v in got], history.history["loss"], rtol=1e-6)
    histogram = reader.Tensors("dense/kernel/histogram")[-1].tensor_proto
    rows = np.frombuffer(histogram.tensor_content, "<f8").reshape(-1, 3)
    assert rows[:, 2].sum() == 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_real_tensorboard_server_serves_the_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    model = _model()
    x, y = _data()
    history = model.fit(
        x,
        y,
        epochs=2,
        validation_data=(x, y),
        verbose=0,
        callbacks=[TensorBoard(tmp_path / "logs")],
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(tmp_path / "logs"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=false",
            "--reload_interval=1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars"
    try:
        rows = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(rows) < 2:
            for run in ("train", "validation"):
                try:
                    with urllib.request.urlopen(f"{base}?run={run}&tag=epoch_loss") as reply:
                        rows[run] = json.loads(reply.read())
                except OSError:
                    time.sleep(0.5)  # not up yet, or the run not loaded yet
        assert set(rows) == {"train", "validation"}
        # each row is [wall_time, step, value]
        assert [row[1] for row in rows["train"]] == [0, 1]
        np.testing.assert_allclose([r[2] for r in rows["train"]], history.history["loss"])
        np.testing.assert_allclose(
            [r[2] for r in rows["validation"]], history.history["val_loss"], rtol=1e-6
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_module_needs_no_tensorflow():
    code = (
        "import sys, axonal.summary_events, axonal.callbacks; "
        "assert 'tensorflow' not in sys.modules and 'google.protobuf' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_graph_plugin_reads_a_functional_model_with_a_nested_one():
    keras_util = pytest.importorskip("tensorboard.plugins.graph.keras_util")
    from axonal.model_plot import keras_model_json

    axonal.utils.clear_session()
    a = axonal.layers.Input((3,), name="a")
    b = axonal.layers.Input((2,), name="b")
    joined = axonal.layers.Concatenate()([axonal.layers.Dense(4)(a), axonal.layers.Dense(4)(b)])
    inner = axonal.Sequential([axonal.layers.Input((8,)), axonal.layers.Dense(2)], name="inner")
    model = axonal.Model([a, b], [axonal.layers.Dense(1, name="o1")(joined), inner(joined)])
    graph = keras_util.keras_model_to_graph_def(json.loads(keras_model_json(model)))
    inputs = {node.name: list(node.input) for node in graph.node}
    name = model.name
    assert inputs[f"{name}/concatenate"] == [f"{name}/dense", f"{name}/dense_1"]
    assert inputs[f"{name}/o1"] == [f"{name}/concatenate"]
    assert inputs[f"{name}/inner/input_layer"] == [f"{name}/concatenate"]
    assert inputs[f"{name}/inner/dense_2"] == [f"{name}/inner/input_layer"]
