"""Keras 3's step loop: overridden train_step / test_step / predict_step, and data that streams
(generators, iterables of batches, PyDataset, axonal.data.Dataset) in fit, evaluate, predict."""

import numpy as np
import pytest

import axonal
from axonal import metrics
from axonal.layers import Dense, Input
from axonal.models import Model, Sequential


@pytest.fixture(autouse=True)
def _fresh():
    axonal.utils.clear_session()
    axonal.utils.set_random_seed(0)


def _blobs(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


def _classifier(optimizer="sgd"):
    axonal.utils.set_random_seed(0)
    model = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _assert_same_weights(a, b):
    for p, q in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- overridden steps


class _Constant(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(1)

    def call(self, inputs, training=False):
        return self.dense(inputs)

    def train_step(self, data):
        return {"custom": 42}


def test_an_overridden_train_step_is_what_fit_runs():
    # Keras: the returned dict is the logs; nothing else happens, weights included
    x, y = _blobs(32)
    model = _Constant()
    model.compile("adam")
    model(x[:1])
    before = model.get_weights()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert history.history == {"custom": [42.0, 42.0, 42.0]}
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


class _TapeRegressor(Model):
    """The 'customizing what happens in fit' pattern: a tape, compute_loss-free, a Mean."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Dense(16, activation="relu")
        self.out = Dense(1)
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_tracker = metrics.Mean(name="mae")

    def call(self, inputs, training=False):
        return self.out(self.hidden(inputs))

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_tracker]

    def train_step(self, data):
        x, y = data
        with axonal.GradientTape() as tape:
            pred = self(x, training=True)
            loss = axonal.ops.mean(axonal.ops.square(pred - y))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.loss_tracker.update_state(loss.data)
        self.mae_tracker.update_state(np.abs(pred.data - y))
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        pred = self(x, training=False)
        self.loss_tracker.update_state(np.mean((pred.data - y) ** 2))
        return {"loss": self.loss_tracker.result()}


def test_a_tape_train_step_learns_and_its_trackers_reset_each_epoch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float32")
    model = _TapeRegressor()
    model.compile(optimizer=axonal.optimizers.Adam(0.01))
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0, validation_data=(x, y))
    losses = history.history["loss"]
    assert set(history.history) == {"loss", "mae", "val_loss"}
    assert losses[-1] < 0.05 * losses[0]
    # reset each epoch: the last epoch's mean is not dragged up by the first epochs' losses
    assert losses[-1] < 0.1
    assert model.evaluate(x, y, verbose=0) < 0.1


class _TwoOptimizers(Model):
    """GAN-shaped: two sub-networks, each stepped by its own optimizer, in one train_step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = Sequential([Input((2,)), Dense(2)], name="generator")
        self.critic = Sequential([Input((2,)), Dense(1)], name="critic")

    def call(self, inputs, training=False):
        return self.critic(self.generator(inputs))

    def compile(self, g_optimizer, c_optimizer):
        super().compile(optimizer=g_optimizer)
        self.g_optimizer, self.c_optimizer = g_optimizer, c_optimizer

    def train_step(self, data):
        noise, target = data
        # the critic learns to score the target points high and generated points low
        with axonal.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            c_loss = axonal.ops.mean(self.critic(fake)) - axonal.ops.mean(self.critic(target))
        grads = tape.gradient(c_loss, self.critic.trainable_weights)
        self.c_optimizer.apply_gradients(zip(grads, self.critic.trainable_weights, strict=True))
        # the generator moves its points toward the target (a plain regression, for a test
        # that must converge): the critic's weights are not touched by this step
        with axonal.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            g_loss = axonal.ops.mean(axonal.ops.square(fake - target))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        return {"c_loss": c_loss.data, "g_loss": g_loss.data}


def test_two_optimizers_each_update_their_own_network():
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(256, 2)).astype("float32")
    target = noise @ np.array([[2.0, 0.0], [0.0, -1.0]], dtype="float32") + 3.0
    model = _TwoOptimizers()
    model.compile(axonal.optimizers.Adam(0.05), axonal.optimizers.SGD(0.01))
    model(noise[:1])
    critic_before = model.critic.get_weights()
    history = model.fit(noise, target, batch_size=32, epochs=30, verbose=0)
    assert history.history["g_loss"][-1] < 0.05 * history.history["g_loss"][0]
    assert not np.allclose(model.critic.get_weights()[0], critic_before[0])
    assert int(model.g_optimizer.iterations) == int(model.c_optimizer.iterations) == 8 * 30


class _Distiller(Model):
    def __init__(self, teacher, student, **kwargs):
        super().__init__(**kwargs)
        self.teacher, self.student = teacher, student
        self.teacher.trainable = False

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def train_step(self, data):
        x, _ = data
        soft = self.teacher.predict(x, verbose=0)
        with axonal.GradientTape() as tape:
            pred = self.student(x, training=True)
            loss = axonal.ops.mean(axonal.ops.square(pred - soft))
        grads = tape.gradient(loss, self.student.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.student.trainable_weights, strict=True))
        return {"distillation_loss": loss.data}


def test_distillation_leaves_the_frozen_teacher_alone_and_the_student_learns():
    x, y = _blobs(512)
    teacher = _classifier("adam")
    teacher.fit(x, y, epochs=20, batch_size=32, verbose=0)
    teacher_weights = teacher.get_weights()
    student = Sequential([Input((4,)), Dense(2, activation="softmax")])
    distiller = _Distiller(teacher, student)
    distiller.compile(axonal.optimizers.Adam(0.05))
    soft = teacher.predict(x, verbose=0)
    initial = np.mean((student.predict(x, verbose=0) - soft) ** 2)
    history = distiller.fit(x, y, epochs=20, batch_size=64, verbose=0)
    assert len(history.history["distillation_loss"]) == 20
    assert np.mean((student.predict(x, verbose=0) - soft) ** 2) < 0.2 * initial
    for got, want in zip(teacher.get_weights(), teacher_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    agreement = np.mean(
        student.predict(x, verbose=0).argmax(1) == teacher.predict(x, verbose=0).argmax(1)
    )
    assert agreement > 0.9


class _Doubling(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(2)

    def call(self, inputs, training=False):
        return self.dense(inputs)

    def predict_step(self, data):
        # Keras hands a batch of x alone as it is, not as (x,)
        return 2.0 * self.predict_on_batch(data)


def test_predict_runs_an_overridden_predict_step_per_batch():
    model = _Doubling()
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    model(x[:1])
    np.testing.assert_allclose(
        model.predict(x, batch_size=4, verbose=0), 2.0 * model.predict_on_batch(x), rtol=1e-6
    )


# ---------------------------------------------------------------- data that streams


def _batches(x, y, size):
    for start in range(0, len(x), size):
        yield x[start : start + size], y[start : start + size]


class _Blobs(axonal.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("kind", ["dataset", "pydataset", "pydataset-2-workers", "list"])
def test_streamed_batches_train_exactly_as_the_same_arrays(kind):
    x, y = _blobs(96)
    reference = _classifier()
    expected = reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    sources = {
        "dataset": lambda: axonal.data.Dataset.from_tensor_slices((x, y)).batch(16),
        "pydataset": lambda: _Blobs(x, y, 16),
        "pydataset-2-workers": lambda: _Blobs(x, y, 16, workers=2),
        "list": lambda: list(_batches(x, y, 16)),
    }
    source = sources[kind]()
    model = _classifier()
    history = model.fit(source, epochs=3, verbose=0)
    assert history.history.keys() == expected.history.keys()
    for name, values in expected.history.items():
        assert history.history[name] == pytest.approx(values), name
    _assert_same_weights(model, reference)
    if isinstance(source, _Blobs):
        assert source.epochs_ended == 3


def test_a_generator_with_steps_per_epoch_and_streamed_validation():
    x, y = _blobs(96)

    def endless():
        while True:
            yield from _batches(x, y, 16)

    model = _classifier("adam")
    validation = axonal.data.Dataset.from_tensor_slices((x, y)).batch(32)
    history = model.fit(
        endless(), steps_per_epoch=6, epochs=30, validation_data=validation, verbose=0
    )
    assert len(history.history["loss"]) == 30
    assert history.history["val_accuracy"][-1] > 0.85
    loss, accuracy = model.evaluate(validation, verbose=0)
    assert accuracy == pytest.approx(history.history["val_accuracy"][-1])
    predictions = model.predict(axonal.data.Dataset.from_tensor_slices(x).batch(32), verbose=0)
    assert predictions.shape == (96, 2)
    np.testing.assert_allclose(predictions, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)


def test_evaluate_and_predict_read_a_number_of_steps():
    x, y = _blobs(96)
    model = _classifier()
    dataset = axonal.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
    model.evaluate(dataset, steps=2, verbose=0)
    assert model.predict(dataset, steps=3, verbose=0).shape == (48, 2)


def test_streaming_refusals_are_clear_and_leave_the_model_alone():
    x, y = _blobs(32)
    model = _classifier()
    before = model.get_weights()
    with pytest.raises(ValueError, match="do not pass y"):
        model.fit(_batches(x, y, 8), y, verbose=0)
    with pytest.raises(ValueError, match="infinite.*steps"):
        model.fit(axonal.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat(), verbose=0)
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_batch_that_does_not_fit_is_named_by_its_number():
    x, y = _blobs(32)

    def ragged():
        yield x[:8], y[:8]
        yield x[:8, :3], y[:8]

    with pytest.raises(ValueError, match="batch 1 of epoch 1.*3 features instead of 4"):
        _classifier().fit(ragged(), verbose=0)


def test_in_memory_tuples_are_not_read_as_batches():
    # regression: validation_data=([x1, x2], y) went to the step loop as a list of batches
    a, b = axonal.Input((2,), name="a"), axonal.Input((2,), name="b")
    model = Model([a, b], Dense(1)(axonal.layers.Concatenate()([a, b])))
    model.compile("sgd", "mse")
    x1, x2 = np.ones((8, 2), "float32"), np.zeros((8, 2), "float32")
    y = np.ones((8, 1), "float32")
    history = model.fit([x1, x2], y, validation_data=([x1, x2], y), epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert model.evaluate((x1, x2), y, verbose=0) == pytest.approx(history.history["val_loss"][-1])


def test_evaluate_lists_values_in_the_order_of_model_metrics():
    class Ordered(axonal.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = Dense(1)
            self.first = axonal.metrics.Mean(name="a")
            self.second = axonal.metrics.Mean(name="b")

        def call(self, inputs):
            return self.dense(inputs)

        def test_step(self, data):
            self.first.update_state(1.0)
            self.second.update_state(2.0)
            return {"zeta": 3.0, "b": self.second.result(), "a": self.first.result()}

    model = Ordered()
    model.compile(optimizer="sgd")
    x = np.ones((4, 3), "float32")
    # Keras: the metrics' order first, then the other keys sorted
    assert model.evaluate(x, x[:, :1], verbose=0) == [1.0, 2.0, 3.0]


def test_class_weight_applies_to_streamed_batches_as_to_arrays():
    x, y = _blobs(96)
    weights = {0: 1.0, 1: 3.0}
    reference = _classifier()
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, class_weight=weights, verbose=0)
    model = _classifier()
    model.fit(list(_batches(x, y, 16)), epochs=2, class_weight=weights, verbose=0)
    _assert_same_weights(model, reference)
    unweighted = _classifier()
    unweighted.fit(list(_batches(x, y, 16)), epochs=2, verbose=0)
    assert not np.allclose(unweighted.get_weights()[0], model.get_weights()[0])


def test_validation_split_holds_out_the_last_rows_for_an_overridden_train_step():
    seen = []

    class Counting(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

        def train_step(self, data):
            seen.append(len(data[0]))
            return {"rows": float(len(data[0]))}

        def test_step(self, data):
            x, y = data
            return {"last": float(np.asarray(y)[-1, 0]), "rows": float(len(x))}

    x = np.arange(40, dtype="float32").reshape(20, 2)
    y = np.arange(20, dtype="float32").reshape(20, 1)
    model = Counting()
    model.compile(optimizer="sgd")
    history = model.fit(x, y, batch_size=32, validation_split=0.25, shuffle=False, verbose=0)
    assert seen == [15]
    assert history.history["val_rows"] == [5.0] and history.history["val_last"] == [19.0]


def test_validation_split_with_a_generator_is_refused_by_name():
    x, y = _blobs(32)
    model = _classifier()
    with pytest.raises(ValueError, match="validation_split takes in-memory arrays"):
        model.fit(_batches(x, y, 8), validation_split=0.2, verbose=0)


def test_evaluate_on_a_stream_shows_progress_when_verbose(capsys):
    x, y = _blobs(32)
    model = _classifier()
    loss, accuracy = model.evaluate(_batches(x, y, 8), verbose=1)
    out = capsys.readouterr().out
    assert f"loss: {loss:.4f}" in out and "accuracy" in out
    model.evaluate(_batches(x, y, 8), verbose=0)
    assert capsys.readouterr().out == ""
