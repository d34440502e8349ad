"""axonal.utils.check_gradients: it passes correct backwards, catches wrong ones (custom
Functions and layers with a deliberately wrong gradient), and leaves the model as it was."""

from __future__ import annotations

import numpy as np
import pytest

from axonal.autograd import Function
from axonal.gradcheck import GradientReport
from axonal.layers import (
    LSTM,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    Layer,
    MaxPooling2D,
)
from axonal.models import Sequential
from axonal.tensor import apply
from axonal.utils import check_gradients, clear_session, set_random_seed


@pytest.fixture(autouse=True)
def fresh_state():
    clear_session()
    set_random_seed(0)
    yield
    clear_session()


class Cube(Function):
    """x ** 3, with the right gradient 3 x^2."""

    def forward(self, a):
        self.a = a
        return a * a * a

    def backward(self, grad):
        return (grad * 3 * self.a * self.a,)


class WrongCube(Cube):
    """x ** 3 whose backward forgets the factor 3: the bug check_gradients must catch."""

    def backward(self, grad):
        return (grad * self.a * self.a,)


class ScaledCube(Layer):
    """``cube(x) * w``, one weight per feature, with a chosen cube primitive."""

    def __init__(self, primitive=Cube, **kwargs):
        super().__init__(**kwargs)
        self.primitive = primitive

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "ones")

    def call(self, inputs, training=False):
        return apply(self.primitive, inputs) * self.w


class WrongWeightGradient(Function):
    """``a * w`` whose gradient for ``w`` is off by a sign."""

    def forward(self, a, w):
        self.a, self.w = a, w
        return a * w

    def backward(self, grad):
        return grad * self.w, -(grad * self.a).sum(axis=0)


class BadScale(Layer):
    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "random_normal")

    def call(self, inputs, training=False):
        return apply(WrongWeightGradient, inputs, self.w)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape).astype("float32")


# ---------------------------------------------------------------- catching bugs


def test_a_wrong_custom_backward_gets_a_large_error_and_a_correct_one_passes():
    x = _x(4, 3)
    good = check_gradients(ScaledCube(Cube), x)
    assert isinstance(good, GradientReport)
    assert good.passed
    assert set(good.errors) == {"scaled_cube/w", "input"}
    assert max(good.errors.values()) < 1e-6
    good.assert_ok()

    bad = check_gradients(ScaledCube(WrongCube), x)
    assert not bad.passed
    # the input's gradient is a third of what it should be: relative error 2/3
    assert bad.errors["input"] == pytest.approx(2 / 3, rel=1e-6)
    assert bad.errors["scaled_cube_1/w"] < 1e-6  # the weight's own gradient is right
    assert [check.name for check in bad.failed] == ["input"]
    with pytest.raises(AssertionError, match="differ from central differences for input"):
        bad.assert_ok()
    assert "FAIL" in str(bad)


def test_a_wrong_weight_gradient_inside_a_model_is_named():
    model = Sequential([Input((3,)), Dense(4, activation="tanh"), BadScale(), Dense(2)])
    report = check_gradients(model, _x(5, 3))
    assert not report.passed
    assert report.worst.name == "bad_scale/w"
    assert report.errors["bad_scale/w"] == pytest.approx(2.0, rel=1e-3)  # -g against g
    assert report.errors["dense/kernel"] < 1e-6 and report.errors["dense_1/kernel"] < 1e-6


def test_plain_functions_of_tensors():
    a, b = _x(3, 4).astype("float64"), _x(3, 4, seed=1).astype("float64")

    def fn(s, t):
        return (s * t).sum(axis=1, keepdims=True) + apply(Cube, s)

    report = check_gradients(fn, [a, b])
    assert report.passed and set(report.errors) == {"input[0]", "input[1]"}
    report = check_gradients(lambda s: apply(WrongCube, s), a)
    assert not report.passed and report.errors["x"] == pytest.approx(2 / 3, rel=1e-6)


# ---------------------------------------------------------------- the library's own layers


def test_the_library_layers_pass():
    cnn = Sequential(
        [
            Input((6, 6, 2)),
            Conv2D(3, 3, padding="same", activation="tanh"),
            BatchNormalization(),
            MaxPooling2D(2),
            Flatten(),
            Dense(4, activation="softmax"),
        ]
    )
    report = check_gradients(cnn, _x(3, 6, 6, 2))
    assert report.passed, report
    assert [c.name for c in report.checks] == [
        "conv2d/kernel",
        "conv2d/bias",
        "batch_normalization/gamma",
        "batch_normalization/beta",
        "dense/kernel",
        "dense/bias",
        "input",
    ]
    recurrent = Sequential([Input((4, 3)), LSTM(3), Dense(2)])
    assert check_gradients(recurrent, _x(2, 4, 3)).passed


def test_the_compiled_loss_is_checked_when_y_is_given():
    model = Sequential([Input((4,)), Dense(5, activation="tanh"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _x(6, 4), np.array([0, 1, 2, 0, 1, 2])
    report = check_gradients(model, x, y)
    assert report.passed, report
    assert report.loss == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)
    with pytest.raises(ValueError, match="compile the model"):
        check_gradients(Sequential([Input((4,)), Dense(2)]), x, y)


def test_big_weights_are_sampled_and_float32_runs_too():
    model = Sequential([Input((30,)), Dense(20, activation="tanh"), Dense(2)])
    report = check_gradients(model, _x(3, 30), max_entries=7, check_inputs=False)
    assert {c.name: c.checked for c in report.checks} == {
        "dense/kernel": 7,
        "dense/bias": 7,
        "dense_1/kernel": 7,
        "dense_1/bias": 2,
    }
    everything = check_gradients(model, _x(3, 30), max_entries=None, check_inputs=False)
    assert everything.checks[0].checked == 600
    assert check_gradients(model, _x(3, 30), dtype="float32").passed


# ---------------------------------------------------------------- the model is left alone


def test_the_model_is_left_exactly_as_it_was():
    model = Sequential(
        [Input((4,)), Dense(6), BatchNormalization(), Dropout(0.3), Dense(2, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = _x(8, 4)
    model.fit(x, np.arange(8) % 2, epochs=1, verbose=0)  # packs the weights into one buffer
    arrays = [v.data for v in model.weights]
    values = [v.data.copy() for v in model.weights]
    grads = [v.grad for v in model.weights]
    buffers = [v.grad_buffer for v in model.weights]
    for training in (False, True):
        # in training mode batch normalization updates its moving statistics: on the copy only
        check_gradients(model, x, training=training, max_entries=5)
    for v, array, value, grad, buffer in zip(
        model.weights, arrays, values, grads, buffers, strict=True
    ):
        assert v.data is array and v.data.dtype == np.float32
        np.testing.assert_array_equal(v.data, value)
        assert v.grad is grad and v.grad_buffer is buffer
    assert all(layer.dtype == "float32" for layer in model.layers) and model.dtype == "float32"

    class Broken(Layer):
        def call(self, inputs, training=False):
            raise RuntimeError("boom")

    layer = Dense(3)
    layer.build((None, 4))
    kernel = layer.kernel.data
    with pytest.raises(RuntimeError, match="boom"):
        check_gradients(Sequential([layer, Broken()]), x)
    assert layer.kernel.data is kernel and layer.dtype == "float32"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "options, message",
    [
        ({"eps": 0}, "eps must be a positive"),
        ({"eps": -1e-6}, "eps must be a positive"),
        ({"rtol": float("nan")}, "rtol must be a positive"),
        ({"dtype": "int32"}, "dtype must be 'float64' or 'float32'"),
        ({"max_entries": 0}, "max_entries must be a positive integer or None"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        check_gradients(Dense(2), _x(2, 3), **options)


def test_bad_subjects():
    with pytest.raises(TypeError, match="takes a Model, a Layer or a function"):
        check_gradients(42, _x(2, 3))
    with pytest.raises(ValueError, match="a function has no loss"):
        check_gradients(lambda t: t, _x(2, 3), np.zeros(2))
    with pytest.raises(TypeError, match="must return a Tensor"):
        check_gradients(lambda t: t.data, _x(2, 3))
    with pytest.raises(ValueError, match="does not depend on any trainable weight"):
        check_gradients(lambda t: t, np.zeros((2, 3), dtype="int64"))
    with pytest.raises(ValueError, match="expects samples of shape"):
        check_gradients(Sequential([Input((3,)), Dense(2)]), _x(2, 4))
