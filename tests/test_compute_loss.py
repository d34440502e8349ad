"""Keras 3's pieces of a custom step: compute_loss, compute_metrics, metrics, add_loss,
the endpoint-layer pattern (extra positional tensors) and Keras 2's compiled_loss shims."""

import numpy as np
import pytest

import axonal
from axonal import layers, metrics, ops


def _regression(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1)) + 0.1).astype("float32")
    return x, y


class KerasGuideModel(axonal.Model):
    """The train_step of Keras's "Customizing what happens in fit()" guide."""

    def train_step(self, data):
        x, y = data
        with axonal.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class Keras2Model(axonal.Model):
    """The tf.keras 2 spelling: compiled_loss and compiled_metrics."""

    def train_step(self, data):
        x, y = data
        with axonal.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _functional(cls, seed=0):
    inputs = axonal.Input(shape=(6,))
    hidden = layers.Dense(
        8, activation="tanh", kernel_initializer=axonal.initializers.GlorotUniform(seed)
    )(inputs)
    outputs = layers.Dense(1, kernel_initializer=axonal.initializers.GlorotUniform(seed + 1))(
        hidden
    )
    return cls(inputs, outputs)


@pytest.mark.parametrize("cls", [KerasGuideModel, Keras2Model])
def test_custom_steps_built_from_compute_loss_match_the_builtin_fit(cls):
    x, y = _regression()
    reference = _functional(axonal.Model)
    custom = _functional(cls)
    custom.set_weights(reference.get_weights())
    for model in (reference, custom):
        model.compile(optimizer=axonal.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    expected = reference.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    got = custom.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    assert set(got) == {"loss", "mae"}
    for name in ("loss", "mae"):
        assert got[name] == pytest.approx(expected[name], rel=1e-5), name
    for a, b in zip(custom.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_metrics_are_listed_as_keras_3_lists_them():
    inputs = axonal.Input(shape=(4,))
    model = axonal.Model(
        inputs, [layers.Dense(2, name="a")(inputs), layers.Dense(1, name="b")(inputs)]
    )
    assert model.metrics == []
    model.compile("sgd", loss=["mse", "mse"], metrics=[["mae"], ["mse"]])
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics", "a_loss", "b_loss"]
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    model.fit(x, [np.zeros((8, 2)), np.zeros((8, 1))], verbose=0)
    result = model.get_metrics_result()
    assert set(result) == {"loss", "a_mae", "b_mse", "a_loss", "b_loss"}
    # the per-output losses add up to the total (both weighted 1, no regularizer)
    assert result["loss"] == pytest.approx(result["a_loss"] + result["b_loss"], rel=1e-6)
    model.reset_metrics()
    assert all(v == 0.0 for v in model.get_metrics_result().values())


def test_an_overridden_compute_loss_is_what_the_builtin_train_step_minimizes():
    x, y = _regression()
    calls = []

    class Penalized(axonal.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            calls.append(training)
            base = super().compute_loss(x, y, y_pred, sample_weight)
            return base + 10.0 * ops.mean(ops.square(y_pred))

    model = _functional(Penalized)
    model.compile(optimizer=axonal.optimizers.SGD(0.01), loss="mse")
    history = model.fit(x, y, batch_size=128, epochs=5, verbose=0).history
    assert calls and calls[0] is True
    # the penalty pulls predictions to zero, so they shrink far below the targets' scale
    assert np.abs(model.predict(x, verbose=0)).mean() < 0.5 * np.abs(y).mean()
    # the logged loss is the overridden one (it includes the penalty)
    y_pred = model.predict(x, verbose=0)
    expected = float(np.mean((y_pred - y) ** 2) + 10 * np.mean(y_pred**2))
    assert history["loss"][-1] > float(np.mean((y_pred - y) ** 2))
    calls.clear()
    loss = model.evaluate(x, y, batch_size=128, verbose=0)
    assert calls == [False]
    assert loss == pytest.approx(expected, rel=1e-4)


def test_an_overridden_compute_metrics_adds_its_own_metric():
    x, y = _regression()

    class WithMax(axonal.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.worst = metrics.Mean(name="worst_error")

        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            results = super().compute_metrics(x, y, y_pred, sample_weight)
            self.worst.update_state(np.max(np.abs(np.asarray(y_pred) - y)))
            results["worst_error"] = self.worst.result()
            return results

    model = _functional(WithMax)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0).history
    assert set(history) == {"loss", "mae", "worst_error"}
    assert history["worst_error"][0] > history["mae"][0]


class LogisticEndpoint(layers.Layer):
    """keras.io's endpoint layer: the loss is added in call, from targets passed in."""

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_fn = axonal.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = metrics.BinaryAccuracy()

    def call(self, targets, logits, sample_weights=None):
        loss = self.loss_fn(targets, logits, sample_weights)
        self.add_loss(loss)
        probabilities = ops.sigmoid(logits)
        self.accuracy_fn.update_state(targets, probabilities, sample_weights)
        return probabilities


def _endpoint_model():
    inputs = axonal.Input(shape=(3,), name="inputs")
    targets = axonal.Input(shape=(10,), name="targets")
    sample_weight = axonal.Input(shape=(1,), name="sample_weight")
    logits = layers.Dense(10, kernel_initializer=axonal.initializers.GlorotUniform(3))(inputs)
    predictions = LogisticEndpoint(name="endpoint")(targets, logits, sample_weight)
    return axonal.Model([inputs, targets, sample_weight], predictions)


def _endpoint_data(n=300):
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(n, 3)).astype("float32")
    targets = (inputs @ rng.normal(size=(3, 10)) > 0).astype("float32")
    return {"inputs": inputs, "targets": targets, "sample_weight": np.ones((n, 1), "float32")}


def test_the_endpoint_layer_pattern_trains_on_add_loss_alone():
    model = _endpoint_model()
    model.compile(axonal.optimizers.Adam(0.05))
    history = model.fit(_endpoint_data(), batch_size=32, epochs=8, verbose=0).history
    assert set(history) == {"loss", "binary_accuracy"}
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["binary_accuracy"][-1] > 0.9
    # the terms of one call only: not one per batch ever run
    assert len(model.losses) == 1


def test_the_endpoint_model_saves_and_loads_with_its_extra_arguments(tmp_path):
    model = _endpoint_model()
    data = _endpoint_data(20)
    expected = model.predict(data, verbose=0)
    path = tmp_path / "endpoint.axonal"
    model.save(path)
    loaded = axonal.models.load_model(path, custom_objects={"LogisticEndpoint": LogisticEndpoint})
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_add_loss_terms_join_a_compiled_loss_and_are_kept_per_call():
    class ActivityPenalty(layers.Layer):
        def call(self, x):
            self.add_loss(0.5 * ops.sum(ops.square(x)))
            return x

    x, y = _regression(64)
    model = axonal.Sequential(
        [axonal.Input((6,)), layers.Dense(4), ActivityPenalty(), layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    hidden = model.layers[0](x)
    penalty = 0.5 * float(np.sum(np.asarray(hidden) ** 2))
    mse = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert model.evaluate(x, y, batch_size=64, verbose=0) == pytest.approx(mse + penalty, rel=1e-5)
    for _ in range(3):
        model(x)
    assert len(model.losses) == 1
    assert float(np.asarray(model.losses[0])) == pytest.approx(penalty, rel=1e-5)


def test_compile_without_any_loss_fails_in_fit_naming_it_and_changes_nothing():
    x, y = _regression(32)
    model = axonal.Sequential([axonal.Input((6,)), layers.Dense(1)])
    model.compile("sgd")
    before = model.get_weights()
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(x, y, verbose=0)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_layer_gets_extra_positional_tensors_eagerly():
    class Scale(layers.Layer):
        def call(self, x, factor, offset=0.0):
            return x * factor + offset

    x = np.ones((2, 3), "float32")
    out = Scale()(x, np.full((2, 1), 3.0, "float32"), offset=1.0)
    np.testing.assert_allclose(np.asarray(out), np.full((2, 3), 4.0))


def test_a_non_tensor_positional_argument_in_a_functional_call_is_named():
    class Scale(layers.Layer):
        def call(self, x, factor):
            return x * factor

    with pytest.raises(TypeError, match="positional argument 2"):
        Scale()(axonal.Input((3,)), 2.0)


torch = pytest.importorskip("torch")


def test_the_endpoint_pattern_matches_keras():
    keras = pytest.importorskip("keras")

    class KerasEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            self.add_loss(self.loss_fn(targets, logits, sample_weights))
            return keras.ops.sigmoid(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    sample_weight = keras.Input(shape=(1,), name="sample_weight")
    logits = keras.layers.Dense(10)(inputs)
    predictions = KerasEndpoint()(targets, logits, sample_weight)
    theirs = keras.Model([inputs, targets, sample_weight], predictions)
    ours = _endpoint_model()
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    data = _endpoint_data(96)
    data["sample_weight"] = np.random.default_rng(5).random((96, 1)).astype("float32")
    theirs.compile(keras.optimizers.SGD(0.1))
    ours.compile(axonal.optimizers.SGD(0.1))
    expected = theirs.fit(data, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    got = ours.fit(data, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)


def test_a_one_input_model_takes_its_input_wrapped_in_a_tuple_and_cast_takes_a_bool():
    inputs = axonal.Input((3,))
    model = axonal.Model(inputs, layers.Flatten()(inputs))
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(np.asarray(model((x,))), x)
    np.testing.assert_array_equal(np.asarray(model([x])), x)
    assert float(np.asarray(ops.cast(False, "float32"))) == 0.0
    assert np.asarray(ops.cast(True, "float32")).dtype == np.float32


@pytest.mark.parametrize("path", ["fit", "tape", "private"])
def test_the_optimizer_projects_constrained_weights_after_every_update(path):
    x, _ = _regression(64)
    # the best kernel is all -1: the updates pull it negative, the projection must stop them
    y = -x.sum(axis=1, keepdims=True)

    def train(constraint):
        inputs = axonal.Input((6,))
        outputs = layers.Dense(
            1, kernel_constraint=constraint, kernel_initializer=axonal.initializers.GlorotUniform(0)
        )(inputs)
        model = (KerasGuideModel if path == "tape" else axonal.Model)(inputs, outputs)
        if path == "private":
            optimizer = axonal.privacy.DPOptimizer(
                axonal.optimizers.SGD(0.1), l2_norm_clip=100.0, noise_multiplier=0.0, seed=0
            )
        else:
            optimizer = axonal.optimizers.SGD(0.1)
        model.compile(optimizer=optimizer, loss="mse")
        lowest = []

        class AfterEveryUpdate(axonal.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                lowest.append(float(model.layers[-1].kernel.data.min()))

        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                  callbacks=[AfterEveryUpdate()])  # fmt: skip
        return lowest

    assert min(train("non_neg")) >= 0.0  # projected after each of the 12 updates
    assert min(train(None)) < -0.1  # without the constraint the same updates go negative
