"""predict's plan of array calls (axonal.trainers.inference_plan): the same outputs as the
general path, bit for bit; weight and layer changes seen at once; everything it does not cover
sent the general way; the same errors for bad input."""

import copy
import pickle

import numpy as np
import pytest

from axonal import activations, backend
from axonal.callbacks import Callback
from axonal.layers import Activation, BatchNormalization, Dense, Dropout, Input, Masking
from axonal.models import Sequential
from axonal.trainers import inference_plan
from axonal.trainers.inference_plan import InferencePlan

ACTIVATIONS = ["linear", "relu", "softmax", "sigmoid", "tanh", "softplus"]


def general_predict(model, x, **kwargs):
    """``model.predict`` as it runs without a plan (the path before plans existed)."""
    saved = model._predict_plan, model._predict_plan_checked
    # "looked for, none fits": predict takes the general path and builds nothing
    model._predict_plan, model._predict_plan_checked = None, True
    try:
        return model.predict(x, **kwargs)
    finally:
        model._predict_plan, model._predict_plan_checked = saved


@pytest.fixture
def plan_runs(monkeypatch):
    """Counts the calls of InferencePlan.run that gave an answer."""
    calls = []
    run = InferencePlan.run

    def counted(self, x):
        out = run(self, x)
        if out is not None:
            calls.append(len(x))
        return out

    monkeypatch.setattr(InferencePlan, "run", counted)
    return calls


def chain(hidden_activation, output_activation, dtype="float32", use_bias=True, seed=0):
    backend.set_random_seed(seed)
    model = Sequential(
        [
            Input((5,), dtype=dtype),
            Dense(7, activation=hidden_activation, use_bias=use_bias, dtype=dtype),
            Dense(6, activation="relu", dtype=dtype),
            Dense(3, activation=output_activation, use_bias=use_bias, dtype=dtype),
        ]
    )
    # non-zero biases, so that a missed bias add shows
    for layer in model.layers:
        if layer.bias is not None:
            layer.bias.assign(np.linspace(-0.5, 0.5, layer.units))
    return model


def rows(n, dtype="float32", seed=1):
    return np.random.default_rng(seed).standard_normal((n, 5)).astype(dtype)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_plan_gives_the_general_paths_bits_for_each_activation(activation, n, plan_runs):
    model = chain(activation, activation)
    x = rows(n)
    expected = general_predict(model, x, verbose=0)
    model.predict(x, verbose=0)  # builds the plan
    got = model.predict(x, verbose=0)
    assert plan_runs, "the plan did not run"
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    # one batch of all rows, and predict_on_batch, agree too
    one_batch = general_predict(model, x, batch_size=n)
    np.testing.assert_array_equal(model.predict(x, batch_size=n, verbose=0), one_batch)
    np.testing.assert_array_equal(model.predict_on_batch(x), one_batch)


@pytest.mark.parametrize("n", [1, 7, 1000])
def test_float64_models_stay_float64_and_match(n, plan_runs):
    model = chain("tanh", "softmax", dtype="float64", use_bias=False)
    x = rows(n, "float64")
    model.predict(x, verbose=0)
    got = model.predict(x, verbose=0)
    assert plan_runs
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, general_predict(model, x, verbose=0))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dropout_and_activation_layers_are_planned(activation, plan_runs):
    backend.set_random_seed(3)
    model = Sequential(
        [
            Input((5,)),
            Dense(8),
            Activation(activation),
            Dropout(0.5),
            Dense(4, activation="sigmoid"),
            Activation("softmax"),
        ]
    )
    for n in (1, 5, 40):
        x = rows(n)
        model.predict(x, verbose=0)
        np.testing.assert_array_equal(
            model.predict(x, verbose=0), general_predict(model, x, verbose=0)
        )
    assert plan_runs


def test_matches_keras_on_the_same_weights():
    keras = pytest.importorskip("keras")
    model = chain("relu", "softmax")
    reference = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(7, activation="relu"),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    reference.set_weights(model.get_weights())
    x = rows(9)
    model.predict(x, verbose=0)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_the_iris_row_is_bit_identical(plan_runs):
    """The benchmark's case: one row, relu then softmax of three."""
    backend.set_random_seed(0)
    model = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.layers[0].bias.assign([0.1, -0.2, 0.3, 0.05])
    x = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
    model.predict(x, verbose=0)
    got = model.predict(x, verbose=0)
    assert plan_runs == [1, 1]  # the first call builds the plan and runs it too
    np.testing.assert_array_equal(got, general_predict(model, x, verbose=0))
    # the result is the caller's: a later call does not overwrite it
    kept = got.copy()
    model.predict(x * 2, verbose=0)
    np.testing.assert_array_equal(got, kept)


# ------------------------------------------------------------------ changes show at once
def planned(model, x):
    """Build the plan and check it answers."""
    model.predict(x, verbose=0)
    assert model._predict_plan is not None
    return model.predict(x, verbose=0)


def test_set_weights_shows_at_once():
    model = chain("relu", "softmax")
    x = rows(1)
    before = planned(model, x)
    weights = [w * 1.5 for w in model.get_weights()]
    model.set_weights(weights)
    after = model.predict(x, verbose=0)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, general_predict(model, x, verbose=0))


def test_assigning_a_variable_and_replacing_its_array_show_at_once():
    model = chain("relu", "linear")
    x = rows(3)
    planned(model, x)
    kernel = model.layers[2].kernel
    kernel.assign(np.ones(kernel.shape))
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))
    # a new array object (as packing the weights for training makes): the plan rebuilds
    kernel.data = np.full(kernel.shape, 0.25, dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))
    model.predict(x, verbose=0)
    assert model._predict_plan is not None  # built again, on the new array
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))


def test_training_shows_at_once(plan_runs):
    model = chain("relu", "softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rows(64)
    y = np.arange(64) % 3
    one = x[:1]
    before = planned(model, one)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    # packing the weights for training gave them new arrays; the plan let the old ones go
    assert model._predict_plan is None
    after = model.predict(one, verbose=0)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, general_predict(model, one, verbose=0))
    model.train_on_batch(x[:8], y[:8])
    np.testing.assert_array_equal(
        model.predict(one, verbose=0), general_predict(model, one, verbose=0)
    )
    assert plan_runs


def test_load_weights_shows_at_once(tmp_path):
    model = chain("relu", "softmax")
    x = rows(2)
    saved = planned(model, x)
    path = tmp_path / "model.weights.npz"
    model.save_weights(path)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    assert not np.array_equal(model.predict(x, verbose=0), saved)
    model.load_weights(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), saved)


def test_changing_an_activation_shows_at_once():
    """Keras programs swap the last activation (say, for logits in Grad-CAM)."""
    model = chain("relu", "softmax")
    x = rows(1)
    probabilities = planned(model, x)
    model.layers[-1].activation = activations.linear
    logits = model.predict(x, verbose=0)
    assert not np.allclose(logits.sum(), 1.0)
    np.testing.assert_array_equal(logits, general_predict(model, x, verbose=0))
    # an activation the plan does not cover: the general path, with the same answer
    model.layers[-1].activation = lambda t: t * 2.0
    np.testing.assert_array_equal(model.predict(x, verbose=0), logits * 2.0)
    assert not np.array_equal(logits, probabilities)


def test_a_layer_losing_its_bias_or_getting_new_variables_shows_at_once():
    model = chain("relu", "softmax")
    x = rows(2)
    planned(model, x)
    model.layers[1].bias = None
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))
    planned(model, x)
    layer = model.layers[2]
    layer.kernel = layer.add_weight("kernel_2", layer.kernel.shape, "ones")
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))


def test_adding_and_popping_layers_shows_at_once():
    model = chain("relu", "linear")
    x = rows(4)
    planned(model, x)
    model.add(Dense(2, activation="softmax"))
    assert model.predict(x, verbose=0).shape == (4, 2)
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))
    model.pop()
    assert model.predict(x, verbose=0).shape == (4, 3)
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))


def test_freezing_layers_changes_nothing():
    model = chain("relu", "softmax")
    x = rows(5)
    before = planned(model, x)
    model.trainable = False
    model.layers[0].trainable = False
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)


def test_copies_and_pickles_predict_with_their_own_weights():
    model = chain("relu", "softmax")
    x = rows(2)
    original = planned(model, x)
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(copied.predict(x, verbose=0), original)
        copied.set_weights([w * 0.5 for w in copied.get_weights()])
        np.testing.assert_array_equal(
            copied.predict(x, verbose=0), general_predict(copied, x, verbose=0)
        )
        assert not np.array_equal(copied.predict(x, verbose=0), original)
        np.testing.assert_array_equal(model.predict(x, verbose=0), original)


# ------------------------------------------------------------------ what falls back
class ScaledDense(Dense):
    def infer(self, inputs):
        return super().infer(inputs) * 2.0


class OwnStep(Sequential):
    def predict_step(self, data):
        return super().predict_step(data) + 1.0


class OwnInfer(Sequential):
    def infer(self, inputs):
        return super().infer(inputs) - 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sequential([Input((5,)), Dense(4), BatchNormalization(), Dense(3)]),
        lambda: Sequential([Input((5,)), ScaledDense(3)]),
        lambda: Sequential([Input((5,)), Dense(3, activation="gelu")]),
        lambda: Sequential([Input((5,)), Activation("relu"), Dense(3)]),
        lambda: Sequential([Input((5,)), Dropout(0.1)]),
        lambda: OwnStep([Input((5,)), Dense(3)]),
        lambda: OwnInfer([Input((5,)), Dense(3)]),
        lambda: Sequential([Input((2, 5)), Dense(3)]),
    ],
    ids=[
        "batchnorm",
        "dense-subclass",
        "gelu",
        "activation-first",
        "no-dense",
        "predict-step",
        "own-infer",
        "rank-3",
    ],
)
def test_models_the_plan_does_not_cover_get_none(make):
    model = make()
    x = rows(6) if model.input_shape == (None, 5) else rows(12).reshape(6, 2, 5)
    expected = general_predict(model, x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    assert model._predict_plan is None


def test_subclass_and_own_step_answers_are_theirs():
    base = [Input((5,)), Dense(3)]
    x = rows(2)
    step = OwnStep(list(base))
    plain = Sequential([Input((5,)), Dense(3)])
    plain.set_weights(step.get_weights())
    np.testing.assert_allclose(step.predict(x, verbose=0), plain.predict(x, verbose=0) + 1.0)
    np.testing.assert_allclose(step.predict(x, verbose=0), plain.predict(x, verbose=0) + 1.0)


def test_masks_in_use_take_the_general_path(plan_runs):
    model = chain("relu", "softmax")
    x = rows(2)
    planned(model, x)
    plan_runs.clear()
    masked = Masking(mask_value=0.0)(np.zeros((2, 3, 4), dtype=np.float32))
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))
    assert plan_runs == []
    del masked


def test_other_inputs_and_arguments_take_the_general_path(plan_runs):
    model = chain("relu", "softmax")
    x = rows(3)
    expected = planned(model, x)
    plan_runs.clear()
    # float64 rows for a float32 model: cast as before, float32 out
    got = model.predict(x.astype(np.float64), verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(model.predict([x], verbose=0), expected)

    seen = []

    class Spy(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(batch)

    np.testing.assert_array_equal(model.predict(x, verbose=0, callbacks=[Spy()]), expected)
    assert seen == [0]
    np.testing.assert_array_equal(model.predict(x, verbose=0, steps=1), expected)

    def batches():
        yield x

    np.testing.assert_array_equal(model.predict(batches(), verbose=0), expected)


# ------------------------------------------------------------------ the same errors
def error_of(call):
    with pytest.raises(Exception) as caught:
        call()
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize(
    "x, kwargs",
    [
        (np.array([[1.0, np.nan, 0.0, 0.0, 0.0]], dtype=np.float32), {}),
        (np.array([[1.0, 0.0, 0.0, 0.0, -np.inf]] * 20, dtype=np.float32), {}),
        (np.zeros((1, 4), dtype=np.float32), {}),
        (np.zeros((1, 6), dtype=np.float32), {}),
        (np.zeros((1, 5), dtype=np.float32), {"batch_size": 0}),
        (np.zeros((1, 5), dtype=np.float32), {"batch_size": -3}),
        (np.zeros((1, 5), dtype=np.float32), {"batch_size": 1.5}),
        (np.zeros((1, 5), dtype=np.float32), {"batch_size": True}),
        (np.zeros((1, 5), dtype=np.float32), {"verbose": 3}),
        (np.zeros((1, 5), dtype=np.float32), {"verbose": "loud"}),
        (np.zeros((1, 5), dtype=np.float32), {"verbose": -1}),
    ],
    ids=[
        "nan",
        "inf-many",
        "too-few-features",
        "too-many-features",
        "batch-size-0",
        "batch-size-negative",
        "batch-size-float",
        "batch-size-bool",
        "verbose-3",
        "verbose-word",
        "verbose-negative",
    ],
)
def test_bad_input_raises_the_general_paths_error(x, kwargs):
    model = chain("relu", "softmax")
    planned(model, rows(1))
    expected = error_of(lambda: general_predict(model, x, **kwargs))
    assert error_of(lambda: model.predict(x, **kwargs)) == expected
    assert model._predict_plan is not None  # a refused call leaves the plan as it was


def test_no_rows_give_what_the_general_path_gives():
    model = chain("relu", "softmax")
    planned(model, rows(1))
    x = np.zeros((0, 5), dtype=np.float32)
    got = model.predict(x, verbose=0)
    expected = general_predict(model, x, verbose=0)
    assert got.shape == expected.shape and got.dtype == expected.dtype


def test_an_overflowing_sum_of_finite_values_is_accepted():
    """The cheap finite check sums the row; a sum that overflows takes the exact check."""
    model = chain("relu", "softmax", dtype="float64")
    planned(model, rows(1, "float64"))
    x = np.full((1, 5), 1e308)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))


def test_build_plan_refuses_what_it_cannot_run():
    assert inference_plan.build_plan([], "float32", (None, 5)) is None
    assert inference_plan.build_plan([Dense(3)], "float32", (None, 5)) is None  # not built
    layer = Dense(3)
    layer.build((None, 5))
    assert inference_plan.build_plan([layer], "float32", (None, None)) is None
    assert inference_plan.build_plan([layer], "int32", (None, 5)) is None
    assert inference_plan.build_plan([layer], "float64", (None, 5)) is None  # kernel float32
    assert inference_plan.build_plan([layer], "float32", (None, 4)) is None  # width
    plan = inference_plan.build_plan([layer], "float32", (None, 5))
    assert plan.sample_shape == (5,) and plan.dtype == np.float32
