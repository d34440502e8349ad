"""Keras programs run unchanged through ``axonal run-keras`` / ``axonal.keras_compat.run``."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import axonal
import axonal.schedules
from axonal import keras_compat

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"

TRAIN = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    from keras import layers, ops
    from keras.layers import Dense
    from keras.optimizers.schedules import ExponentialDecay
    from tensorflow import keras as tf_keras
    import tensorflow.keras.optimizers as optimizers

    assert tf_keras is keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")


    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, inputs):
            return inputs * self.w


    inputs = keras.Input(shape=(4,))
    h = Dense(8, activation="relu")(Scale()(inputs))
    h += layers.Dense(8)(h)
    h = ops.relu(h)
    outputs = Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=int(sys.argv[1]), batch_size=16, verbose=0)
    print("EPOCHS", len(history.history["loss"]))
    """
)


def _write(tmp_path, text, name="script.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _clean():
    return not [n for n in sys.modules if n in ("keras", "tensorflow") or n.startswith("keras.")]


@pytest.fixture(autouse=True)
def _real_keras_hidden(monkeypatch):
    """run-keras in this process needs 'keras' and 'tensorflow' unimported: hide any real ones
    an earlier test module loaded (other tests compare with real Keras), restored afterwards."""
    for name in [n for n in sys.modules if keras_compat._is_ours(n)]:
        monkeypatch.delitem(sys.modules, name)


def test_run_keras_cli_subprocess(tmp_path):
    script = _write(tmp_path, TRAIN)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    for command in (["-m", "axonal", "run-keras"], ["-m", "axonal.keras_compat"]):
        out = subprocess.run(
            [sys.executable, *command, str(script), "2"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "EPOCHS 2" in out.stdout


def test_run_in_process_restores_modules_and_argv(tmp_path, capsys):
    script = _write(tmp_path, TRAIN)
    argv = list(sys.argv)
    meta_path = list(sys.meta_path)
    result = keras_compat.run(script, ["1"])
    assert "EPOCHS 1" in capsys.readouterr().out
    assert result["model"].count_params() > 0
    assert sys.argv == argv and sys.meta_path == meta_path
    assert _clean()
    # aliasing leaves axonal's own modules as they were
    assert axonal.layers.__spec__.name == "axonal.layers"
    assert axonal.schedules.__spec__.name == "axonal.schedules"
    assert not hasattr(axonal.schedules, "__path__")


def test_tensorflow_calls_fail_clearly(tmp_path):
    script = _write(tmp_path, "import tensorflow as tf\ntf.random.set_seed(1)\n")
    with pytest.raises(NotImplementedError, match="tensorflow.random.set_seed is not supported"):
        keras_compat.run(script, [])
    assert _clean()


def test_missing_keras_module_is_a_clear_import_error(tmp_path):
    # a Keras submodule axonal lacks is named as a missing Keras feature
    script = _write(tmp_path, "import keras.distribution\n")
    with pytest.raises(ImportError, match="keras.distribution is a Keras feature that axonal"):
        keras_compat.run(script, [])
    assert _clean()
    # a name Keras does not have either keeps the plain import error
    script = _write(tmp_path, "import keras.no_such_module\n")
    with pytest.raises(ImportError, match="keras.no_such_module is not available"):
        keras_compat.run(script, [])
    assert _clean()


IMDB_STYLE = textwrap.dedent(
    """
    import numpy as np
    import keras
    from keras import layers

    rng = np.random.default_rng(0)
    # generated "reviews": token ids, padded; the label is whether token 7 appears
    lengths = rng.integers(3, 20, size=256)
    sequences = [list(rng.integers(1, 20, size=n)) for n in lengths]
    y = np.array([int(7 in s) for s in sequences])
    x = keras.preprocessing.sequence.pad_sequences(sequences, maxlen=20, padding="post")

    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        layers.Embedding(20, 16, mask_zero=True),
        layers.Bidirectional(layers.LSTM(8)),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=12, batch_size=32, validation_split=0.2, verbose=0)
    print("ACCURACY", history.history["accuracy"][-1])
    """
)

CONV1D_CHECKPOINT = textwrap.dedent(
    """
    import numpy as np
    import keras
    from keras import layers

    rng = np.random.default_rng(1)
    # time series: a sine wave or noise, 32 steps, one channel
    t = np.linspace(0, 4 * np.pi, 32)
    y = rng.integers(0, 2, size=200)
    x = np.where(y[:, None] == 1, np.sin(t)[None, :], 0.0) + 0.3 * rng.normal(size=(200, 32))
    x = x[..., None].astype("float32")

    model = keras.Sequential([
        keras.Input(shape=(32, 1)),
        layers.Conv1D(16, 5, activation="relu"),
        layers.GlobalMaxPooling1D(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    checkpoint = keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True)
    model.fit(x, y, epochs=30, validation_split=0.25, callbacks=[checkpoint], verbose=0)
    restored = keras.models.load_model("best.keras")
    loss, accuracy = restored.evaluate(x, y, verbose=0)
    print("RESTORED", accuracy)
    """
)


@pytest.mark.parametrize(
    ("script", "marker", "floor"),
    [(IMDB_STYLE, "ACCURACY", 0.7), (CONV1D_CHECKPOINT, "RESTORED", 0.8)],
    ids=["embedding-bidirectional-lstm", "conv1d-checkpoint-keras-file"],
)
def test_keras_programs_run_through_run_keras(tmp_path, script, marker, floor):
    path = _write(tmp_path, script)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "run-keras", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith(marker))
    assert float(line.split()[1]) >= floor, result.stdout


TF_DATA_FIT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(64, seed=0)
        .batch(16)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = model.fit(dataset, epochs=8, verbose=0)
    print("LOSS", history.history["loss"][0], history.history["loss"][-1])
    """
)

GRADIENT_TAPE_LOOP = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256, seed=0).batch(32)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    loss_fn = keras.losses.MeanSquaredError()
    epoch_losses = []
    for epoch in range(10):
        losses = []
        for x_batch, y_batch in dataset:
            with tf.GradientTape() as tape:
                loss = loss_fn(y_batch, model(x_batch, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            losses.append(float(loss))
        epoch_losses.append(np.mean(losses))
    print("LOSS", epoch_losses[0], epoch_losses[-1])
    """
)


@pytest.mark.parametrize(
    "script",
    [TF_DATA_FIT, GRADIENT_TAPE_LOOP],
    ids=["fit-tf-data-dataset", "gradient-tape-loop"],
)
def test_tf_data_and_gradient_tape_train_through_run_keras(tmp_path, script):
    path = _write(tmp_path, script)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    result = subprocess.run(
        [sys.executable, "-m", "axonal", "run-keras", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("LOSS"))
    first, last = (float(value) for value in line.split()[1:])
    assert last < 0.5 * first, result.stdout


def test_tf_names_resolve_to_axonal_whichever_way_imported(tmp_path):
    script = _write(
        tmp_path,
        textwrap.dedent(
            """
            import tensorflow as tf
            import tensorflow.data
            from tensorflow import data
            from tensorflow.data import AUTOTUNE, Dataset
            from tensorflow.data.experimental import AUTOTUNE as EXPERIMENTAL_AUTOTUNE

            # read while the run lasts: afterwards tf.keras no longer resolves
            utils = tf.keras.utils
            """
        ),
    )
    names = keras_compat.run(script, [])
    tf = names["tf"]
    assert tf.data is names["data"] is names["tensorflow"].data
    assert tf.data.Dataset is names["Dataset"] is axonal.data.Dataset
    assert tf.data.AUTOTUNE == names["AUTOTUNE"] == axonal.data.AUTOTUNE
    assert tf.data.experimental.AUTOTUNE == names["EXPERIMENTAL_AUTOTUNE"] == axonal.data.AUTOTUNE
    assert tf.GradientTape is axonal.GradientTape
    assert names["utils"].PyDataset is axonal.data.PyDataset
    assert names["utils"].Sequence is axonal.data.Sequence
    assert not [n for n in sys.modules if keras_compat._is_ours(n)]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("tf.constant([1.0])", "tensorflow.constant"),
        ("tf.data.TFRecordDataset('x.tfrecord')", "tensorflow.data.TFRecordDataset"),
        ("tf.data.experimental.sample_from_datasets([])", "tensorflow.data.experimental.sample"),
        ("from tensorflow.data import TextLineDataset\nTextLineDataset('x')", "TextLineDataset"),
        ("import tensorflow.image", "tensorflow.image"),
    ],
)
def test_other_tensorflow_names_still_fail_by_name(tmp_path, call, name):
    script = _write(tmp_path, f"import tensorflow as tf\n{call}\n")
    with pytest.raises(NotImplementedError, match=f"{name}.* is not supported"):
        keras_compat.run(script, [])
    assert not [n for n in sys.modules if keras_compat._is_ours(n)]
