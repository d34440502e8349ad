"""The optional compiled optimizer update (axonal.kernels): NumPy's numbers, and its switch."""

import subprocess
import sys
import types

import numpy as np
import pytest

from axonal import kernels
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.optimizers import Adam, AdamW
from axonal.utils import set_random_seed

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


class _Var:
    def __init__(self, data, path):
        self.data, self.path = data, path


def _awkward_gradients(shape, dtype, seed):
    """Gradients with NaN, infinities, subnormals, zeros and a wide range of magnitudes."""
    rng = np.random.default_rng(seed)
    grad = (rng.standard_normal(shape) * 10.0 ** rng.integers(-30, 8, size=shape)).astype(dtype)
    flat = grad.reshape(-1)
    tiny = np.finfo(dtype).smallest_subnormal
    flat[:7] = [np.nan, np.inf, -np.inf, tiny, -tiny, 0.0, -0.0]
    return grad


def _run(jit_compile, optimizer_factory, dtype, shape, steps=4):
    optimizer = optimizer_factory()
    optimizer.jit_compile = jit_compile
    variable = _Var(np.linspace(-2.0, 2.0, int(np.prod(shape)), dtype=dtype).reshape(shape), "k")
    with np.errstate(all="ignore"):
        for step in range(steps):
            optimizer.apply_gradients([(_awkward_gradients(shape, dtype, step), variable)])
    return variable.data, optimizer.get_state()


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "factory",
    [
        lambda: Adam(learning_rate=0.01),
        lambda: Adam(learning_rate=0.01, amsgrad=True, epsilon=0.0),
        lambda: AdamW(learning_rate=0.01, weight_decay=0.1, beta_1=0.5, beta_2=0.75),
    ],
    ids=["adam", "amsgrad-eps0", "adamw"],
)
def test_compiled_adam_is_bit_identical_to_numpy(factory, dtype):
    shape = (3, 5000)
    expected_data, expected_state = _run(False, factory, dtype, shape)
    data, state = _run(True, factory, dtype, shape)
    assert data.dtype == dtype
    np.testing.assert_array_equal(data, expected_data)
    assert sorted(state) == sorted(expected_state)
    for key, value in expected_state.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
        assert np.asarray(state[key]).dtype == np.asarray(value).dtype


@needs_numba
def test_auto_compiles_only_from_the_size_threshold(monkeypatch):
    calls = []
    compiled = kernels._load()
    spy = types.SimpleNamespace(
        adam=lambda *arrays_and_scalars: calls.append(arrays_and_scalars[0].size)
    )
    monkeypatch.setattr(kernels._LOOPS, "_compiled", spy)
    small = _Var(np.zeros(kernels.AUTO_MIN_SIZE - 1, np.float32), "small")
    large = _Var(np.zeros(kernels.AUTO_MIN_SIZE, np.float32), "large")
    optimizer = Adam()
    optimizer.apply_gradients([(np.ones_like(small.data), small)])
    optimizer.apply_gradients([(np.ones_like(large.data), large)])
    assert calls == [kernels.AUTO_MIN_SIZE]
    assert compiled  # the real kernels were loaded before the spy replaced them


@needs_numba
def test_compiled_path_skips_arrays_it_cannot_take():
    data = np.zeros((8, 8), np.float32)
    strided = np.zeros((8, 16), np.float32)[:, ::2]
    slots = [np.zeros_like(data) for _ in range(2)]
    coefficients = (0.1, 0.001, 0.01, 1e-7)
    assert not kernels.adam(True, data, strided, *slots, None, coefficients)
    assert not kernels.adam(True, data, data.astype(np.float64), *slots, None, coefficients)
    assert not kernels.adam(True, data.astype(np.float16), data, *slots, None, coefficients)
    assert not kernels.adam(False, data, data, *slots, None, coefficients)
    assert np.all(slots[0] == 0)  # nothing was touched
    assert kernels.adam(True, data, np.ones_like(data), *slots, None, coefficients)
    assert np.all(slots[0] != 0)


def _trained_weights(jit_compile):
    set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    y = rng.integers(0, 4, size=64)
    model = Sequential([Dense(256, input_dim=300, activation="relu"), Dense(4, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model.get_weights(), history.history["loss"]


@needs_numba
def test_fit_with_and_without_compiled_update_gives_the_same_model():
    weights, losses = _trained_weights(True)
    expected_weights, expected_losses = _trained_weights(False)
    assert losses == expected_losses
    for got, expected in zip(weights, expected_weights, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_compile_checks_jit_compile():
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="jit_compile must be 'auto', True or False, got 'yes'"):
        model.compile(optimizer="adam", loss="mse", jit_compile="yes")
    assert not model.compiled
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    assert model.jit_compile is False and model.optimizer.jit_compile is False


def test_jit_compile_true_without_numba_warns_and_trains_on_numpy(monkeypatch):
    monkeypatch.setattr(kernels._LOOPS, "_compiled", False)
    set_random_seed(0)
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.warns(UserWarning, match=r"pip install -e '\.\[fast\]'"):
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
    before = model.get_weights()[0].copy()
    x = np.ones((4, 3), np.float32)
    model.fit(x, np.zeros((4, 2), np.float32), verbose=0)
    assert not np.array_equal(model.get_weights()[0], before)


def test_dp_optimizer_forwards_jit_compile():
    from axonal.privacy import DPOptimizer

    inner = Adam()
    wrapped = DPOptimizer(inner, l2_norm_clip=1.0, noise_multiplier=1.0)
    wrapped.jit_compile = False
    assert inner.jit_compile is False


def _modules_after(code):
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code + "\nprint('numba' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_small_models_and_jit_compile_false_never_import_numba():
    small = (
        "import numpy as np\n"
        "from axonal.layers import Dense\nfrom axonal.models import Sequential\n"
        "m = Sequential([Dense(4, input_dim=4, activation='relu'), Dense(3, 'softmax')])\n"
        "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "m.fit(np.ones((20, 4), 'float32'), np.zeros(20, int), epochs=2, verbose=0)\n"
    )
    assert _modules_after(small) == "False"
    large_without = (
        "import numpy as np\n"
        "from axonal.layers import Dense\nfrom axonal.models import Sequential\n"
        "m = Sequential([Dense(300, input_dim=300)])\n"
        "m.compile(optimizer='adam', loss='mse', jit_compile=False)\n"
        "m.fit(np.ones((8, 300), 'float32'), np.ones((8, 300), 'float32'), verbose=0)\n"
    )
    assert _modules_after(large_without) == "False"


def test_prepare_reports_availability(monkeypatch):
    assert kernels.prepare("float64") is kernels.available()
    monkeypatch.setattr(kernels._LOOPS, "_compiled", False)
    assert kernels.prepare("float32") is False
