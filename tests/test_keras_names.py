"""Names Keras programs reach for in their first lines: top-level classes, layer and
initializer aliases, keras.backend.clear_session, keras.datasets after `import keras`."""

import subprocess
import sys

import numpy as np
import pytest

import axonal
from axonal import initializers, layers


def test_top_level_base_classes_and_modules():
    assert axonal.Layer is layers.Layer
    assert axonal.Loss is axonal.losses.Loss
    assert axonal.Metric is axonal.metrics.Metric
    assert axonal.Optimizer is axonal.optimizers.Optimizer
    assert axonal.datasets.mnist.load_data is not None
    assert axonal.random.normal is not None


@pytest.mark.parametrize(
    "alias, name",
    [
        ("MaxPool1D", "MaxPooling1D"),
        ("MaxPool2D", "MaxPooling2D"),
        ("AvgPool1D", "AveragePooling1D"),
        ("AvgPool2D", "AveragePooling2D"),
        ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
        ("GlobalAvgPool2D", "GlobalAveragePooling2D"),
        ("GlobalMaxPool1D", "GlobalMaxPooling1D"),
        ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
        ("Convolution1D", "Conv1D"),
        ("Convolution2D", "Conv2D"),
        ("Convolution2DTranspose", "Conv2DTranspose"),
        ("SeparableConvolution2D", "SeparableConv2D"),
    ],
)
def test_layer_aliases_are_the_same_classes(alias, name):
    assert getattr(layers, alias) is getattr(layers, name)


def test_lower_case_initializers_are_the_classes():
    first = initializers.he_normal(seed=3)((4, 5))
    np.testing.assert_array_equal(first, initializers.HeNormal(seed=3)((4, 5)))
    assert initializers.zeros is initializers.Zeros
    assert isinstance(initializers.glorot_uniform(), initializers.GlorotUniform)


def test_clear_session_restarts_layer_names_from_the_backend():
    layers.Dense(2)
    axonal.backend.clear_session()
    assert layers.Dense(2).name == "dense"
    axonal.utils.clear_session()
    assert layers.Dense(2).name == "dense"


def test_a_keras_program_using_these_names_runs_under_run_keras(tmp_path):
    script = tmp_path / "names.py"
    script.write_text(
        "import keras\n"
        "import numpy as np\n"
        "keras.backend.clear_session()\n"
        "class Noise(keras.Layer):\n"
        "    def call(self, x):\n"
        "        return x + keras.random.normal(x.shape, seed=1)\n"
        "model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Convolution2D(2, 3),\n"
        "    keras.layers.MaxPool2D(), keras.layers.GlobalAvgPool2D(), Noise(),\n"
        "    keras.layers.Dense(1, kernel_initializer=keras.initializers.he_normal(seed=0))])\n"
        "assert isinstance(keras.optimizers.Adam(), keras.Optimizer)\n"
        "print('shape', model.predict(np.ones((2, 8, 8, 1)), verbose=0).shape)\n"
    )
    # a fresh process: run-keras refuses to start where real Keras is already imported
    done = subprocess.run(
        [sys.executable, "-m", "axonal.keras_compat", str(script)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "shape (2, 1)" in done.stdout
