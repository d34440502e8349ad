"""Sequential models and the Keras training API: compile, fit, evaluate, predict and friends."""

import io
import re

import numpy as np
import pytest

from axonal import backend, losses, optimizers
from axonal.callbacks import Callback, History, resolve_verbose
from axonal.datasets import load_iris
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential
from axonal.tensor import Tensor
from axonal.utils import clear_session, set_random_seed


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(1234)
    yield
    clear_session()


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris()
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y


def iris_net(compile_model=True, optimizer="adam", metrics=("accuracy",)):
    model = Sequential()
    model.add(Dense(4, input_dim=4, activation="relu"))
    model.add(Dense(3, activation="softmax"))
    if compile_model:
        model.compile(
            optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics)
        )
    return model


def frozen_sgd():
    """An optimizer that does not move the weights, so fit's numbers can be recomputed."""
    return optimizers.SGD(learning_rate=0.0)


def sparse_ce(probabilities, labels):
    """Per-sample sparse categorical cross-entropy, as Keras computes it from probabilities."""
    eps = 1e-7
    p = np.clip(probabilities.astype("float64"), eps, 1 - eps)
    return -np.log(p[np.arange(len(labels)), labels])


def rows(n, features, seed=0):
    return np.random.default_rng(seed).normal(size=(n, features))


# ---------------------------------------------------------------- Sequential structure


def test_list_constructor_and_add_build_the_same_model():
    listed = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(3)])
    added = Sequential()
    added.add(Dense(4, input_dim=4, activation="relu"))
    added.add(Dense(3))
    assert [type(layer) for layer in listed.layers] == [type(layer) for layer in added.layers]
    assert listed.output_shape == added.output_shape == (None, 3)
    assert [w.shape for w in listed.get_weights()] == [w.shape for w in added.get_weights()]
    assert [layer.name for layer in listed.layers] == ["dense", "dense_1"]
    assert [layer.name for layer in added.layers] == ["dense_2", "dense_3"]


def test_pop_removes_the_last_layer():
    model = Sequential([Input(shape=(4,)), Dense(5), Dense(3)])
    popped = model.pop()
    assert popped.name == "dense_1"
    assert [layer.name for layer in model.layers] == ["dense"]
    assert model.output_shape == (None, 5)
    assert model.count_params() == 25
    assert model.predict(rows(2, 4), verbose=0).shape == (2, 5)
    model.pop()
    with pytest.raises(IndexError):
        model.pop()


def test_input_must_come_first():
    model = Sequential([Input(shape=(4,)), Dense(2)])
    assert model.input_shape == (None, 4)
    with pytest.raises(ValueError, match="Input must come first"):
        model.add(Input(shape=(2,)))


def test_add_refuses_non_layers_and_duplicates():
    model = Sequential()
    with pytest.raises(TypeError, match="Layer"):
        model.add("dense")
    layer = Dense(2)
    model.add(layer)
    with pytest.raises(ValueError, match="already"):
        model.add(layer)


# ---------------------------------------------------------------- compile


def test_compile_with_strings():
    model = iris_net(compile_model=False)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert isinstance(model.optimizer, optimizers.Adam)
    assert model.optimizer.learning_rate == pytest.approx(0.001)
    assert isinstance(model.loss, losses.MeanSquaredError)


def test_compile_with_instances_keeps_them():
    model = iris_net(compile_model=False)
    optimizer = optimizers.SGD(learning_rate=0.05, momentum=0.9)
    loss = losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    assert model.optimizer is optimizer
    assert model.loss is loss


def test_compile_default_optimizer_is_rmsprop():
    model = iris_net(compile_model=False)
    model.compile(loss="mse")
    assert isinstance(model.optimizer, optimizers.RMSprop)


def test_compile_with_a_loss_function(iris):
    x, y = iris

    def my_loss(y_true, y_pred):
        return losses.sparse_categorical_crossentropy(y_true, y_pred)

    model = iris_net(compile_model=False)
    model.compile(optimizer=frozen_sgd(), loss=my_loss)
    reference = iris_net(compile_model=False)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=frozen_sgd(), loss="sparse_categorical_crossentropy")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(reference.evaluate(x, y, verbose=0))


# ---------------------------------------------------------------- fit and History


def test_fit_history_has_exactly_the_keras_keys(iris):
    x, y = iris
    model = iris_net()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    assert isinstance(history, History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert model.history is history
    assert all(isinstance(v, float) for v in history.history["loss"])


def test_metric_named_acc_stays_acc(iris):
    x, y = iris
    model = iris_net(metrics=("acc",))
    history = model.fit(x, y, epochs=1, validation_data=(x[:10], y[:10]), verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert model.metrics_names == ["loss", "acc"]


def test_fit_without_metrics_logs_only_loss(iris):
    x, y = iris
    model = iris_net(metrics=())
    assert set(model.fit(x, y, epochs=1, verbose=0).history) == {"loss"}


def test_validation_split_takes_the_last_fraction_before_shuffling():
    x = rows(50, 4)
    y = np.random.default_rng(1).integers(0, 3, 50)
    model = iris_net(optimizer=frozen_sgd())
    history = model.fit(x, y, epochs=1, batch_size=7, validation_split=0.2, shuffle=True, verbose=0)
    # the weights never move, so the logs can be recomputed with evaluate
    train_loss, train_acc = model.evaluate(x[:40], y[:40], verbose=0)
    val_loss, val_acc = model.evaluate(x[40:], y[40:], verbose=0)
    assert history.history["loss"][0] == pytest.approx(train_loss, rel=1e-6)
    assert history.history["accuracy"][0] == pytest.approx(train_acc)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc)
    first_loss = model.evaluate(x[:10], y[:10], verbose=0)[0]
    assert history.history["val_loss"][0] != pytest.approx(first_loss, rel=1e-6)


def test_validation_data_tuple_is_evaluated_each_epoch():
    x, xv = rows(30, 4), rows(12, 4, seed=5)
    y, yv = np.arange(30) % 3, np.arange(12) % 3
    model = iris_net(optimizer=frozen_sgd())
    history = model.fit(x, y, epochs=2, batch_size=8, validation_data=(xv, yv), verbose=0)
    val_loss, val_acc = model.evaluate(xv, yv, verbose=0)
    assert history.history["val_loss"] == pytest.approx([val_loss, val_loss], rel=1e-6)
    assert history.history["val_accuracy"] == pytest.approx([val_acc, val_acc])


def test_validation_data_with_sample_weights():
    x, xv = rows(20, 4), rows(10, 4, seed=5)
    y, yv = np.arange(20) % 3, np.arange(10) % 3
    wv = np.linspace(0.0, 2.0, 10)
    model = iris_net(optimizer=frozen_sgd(), metrics=())
    history = model.fit(x, y, epochs=1, validation_data=(xv, yv, wv), verbose=0)
    expected = np.sum(wv * sparse_ce(model.predict(xv, verbose=0), yv)) / 10
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-5)


def test_epoch_loss_is_the_exact_sample_mean_when_batches_are_uneven():
    x = rows(23, 4)
    y = np.random.default_rng(2).integers(0, 3, 23)
    model = iris_net(optimizer=frozen_sgd())
    history = model.fit(x, y, epochs=2, batch_size=5, shuffle=True, verbose=0)  # 5,5,5,5,3
    loss, accuracy = model.evaluate(x, y, batch_size=23, verbose=0)
    assert history.history["loss"] == pytest.approx([loss, loss], rel=1e-6)
    assert history.history["accuracy"] == pytest.approx([accuracy, accuracy])
    # and that is the plain mean of the per-sample losses, not a mean of batch means
    per_sample = sparse_ce(model.predict(x, verbose=0), y)
    assert loss == pytest.approx(per_sample.mean(), rel=1e-5)
    batch_means = [per_sample[i : i + 5].mean() for i in range(0, 23, 5)]
    assert abs(np.mean(batch_means) - per_sample.mean()) > 1e-4  # the test can tell them apart


def test_fit_learns_iris(iris):
    x, y = iris
    model = iris_net(optimizer=optimizers.Adam(learning_rate=0.05))
    history = model.fit(x, y, epochs=30, batch_size=10, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


# ---------------------------------------------------------------- evaluate, predict, batches


def test_evaluate_return_types(iris):
    x, y = iris
    plain = iris_net(metrics=())
    value = plain.evaluate(x, y, verbose=0)
    assert isinstance(value, float)
    model = iris_net()
    model.set_weights(plain.get_weights())
    values = model.evaluate(x, y, verbose=0)
    assert isinstance(values, list) and len(values) == 2
    assert values[0] == pytest.approx(value, rel=1e-6)
    assert 0.0 <= values[1] <= 1.0
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == {"loss": pytest.approx(values[0]), "accuracy": pytest.approx(values[1])}


def test_evaluate_accuracy_is_the_sparse_categorical_accuracy(iris):
    x, y = iris
    model = iris_net()
    model.fit(x, y, epochs=2, verbose=0)
    _, accuracy = model.evaluate(x, y, verbose=0)
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    assert accuracy == pytest.approx(np.mean(predicted == y))


def test_predict_shape_and_batch_independence(iris):
    x, _ = iris
    model = iris_net()
    out = model.predict(x, verbose=0)
    assert out.shape == (150, 3)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    one = model.predict(x, batch_size=1, verbose=0)
    seven = model.predict(x, batch_size=7, verbose=0)
    np.testing.assert_allclose(one, seven, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out, seven, rtol=1e-6, atol=1e-7)


def test_predict_ignores_dropout():
    model = Sequential([Input(shape=(6,)), Dropout(0.5), Dense(2)])
    x = rows(9, 6)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    # the model in training mode does drop
    trained = model(x, training=True).data
    assert not np.allclose(trained, model.predict(x, verbose=0))


def test_dropout_is_active_in_training_steps_only():
    x = rows(40, 6)
    y = np.arange(40) % 3
    model = Sequential([Input(shape=(6,)), Dropout(0.5), Dense(3, activation="softmax")])
    model.compile(optimizer=frozen_sgd(), loss="sparse_categorical_crossentropy")
    evaluated = model.test_on_batch(x, y)
    assert model.test_on_batch(x, y) == evaluated
    trained = [model.train_on_batch(x, y) for _ in range(3)]
    assert all(loss != pytest.approx(evaluated, rel=1e-6) for loss in trained)
    assert len(set(trained)) == 3  # a fresh mask each step


def test_train_test_predict_on_batch(iris):
    x, y = iris
    xb, yb = x[:16], y[:16]
    model = iris_net()
    before = model.get_weights()
    loss_before, _ = model.test_on_batch(xb, yb)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # test_on_batch does not train
    assert loss_before == pytest.approx(model.evaluate(xb, yb, verbose=0)[0], rel=1e-6)
    result = model.train_on_batch(xb, yb)
    assert isinstance(result, list) and len(result) == 2
    assert result[0] == pytest.approx(loss_before, rel=1e-6)  # loss before the update
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    logs = model.train_on_batch(xb, yb, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    np.testing.assert_allclose(model.predict_on_batch(xb), model.predict(xb, verbose=0), rtol=1e-6)
    plain = iris_net(metrics=())
    assert isinstance(plain.train_on_batch(xb, yb), float)


def test_calling_the_model_returns_a_tensor(iris):
    x, _ = iris
    model = iris_net()
    out = model(x[:5])
    assert isinstance(out, Tensor)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out.data, model.predict(x[:5], verbose=0), rtol=1e-6)


# ---------------------------------------------------------------- summary, params, weights


def test_summary_table_for_the_iris_net(capsys):
    model = iris_net()
    model.summary()
    text = capsys.readouterr().out
    assert 'Model: "sequential"' in text
    assert re.search(r"dense \(Dense\)\s+│ \(None, 4\)\s+│\s+20 │", text)
    assert re.search(r"dense_1 \(Dense\)\s+│ \(None, 3\)\s+│\s+15 │", text)
    assert "Total params: 35" in text
    assert "Trainable params: 35" in text
    assert "Non-trainable params: 0" in text
    lines = []
    model.summary(print_fn=lines.append)
    assert "\n".join(lines) + "\n" == text
    assert model.count_params() == 35


def test_summary_counts_frozen_layers_as_non_trainable(capsys):
    model = iris_net()
    model.layers[0].trainable = False
    model.summary()
    text = capsys.readouterr().out
    assert "Trainable params: 15" in text and "Non-trainable params: 20" in text


def test_summary_leaves_out_the_column_names_layer(capsys):
    # ColumnNames carries `axonal train --data`'s column names; it computes nothing to show
    from axonal import Model
    from axonal.layers.preprocessing import ColumnNames

    sequential = Sequential([Input((2,)), Dense(3), ColumnNames(["a", "b"], "y", ["p", "q", "r"])])
    x = Input((2,))
    functional = Model(x, ColumnNames(["a", "b"], "y")(Dense(1, name="out")(x)))
    for model, layers in [(sequential, 2), (functional, 2)]:
        model.summary()
        text = capsys.readouterr().out
        assert "ColumnNames" not in text and "column_names" not in text
        assert text.count("(Dense)") == 1 and "Total params:" in text
        assert len(model.layers) == layers  # still a layer of the model, saved with it


def test_frozen_layer_is_not_trained(iris):
    x, y = iris
    model = iris_net()
    model.layers[0].trainable = False
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])


def test_get_weights_set_weights_round_trip(iris):
    x, y = iris
    source = iris_net()
    source.fit(x, y, epochs=2, verbose=0)
    target = iris_net()
    weights = source.get_weights()
    assert [w.shape for w in weights] == [(4, 4), (4,), (4, 3), (3,)]
    target.set_weights(weights)
    for a, b in zip(weights, target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(target.predict(x, verbose=0), source.predict(x, verbose=0))
    # get_weights returns copies: changing them changes nothing
    weights[0][...] = 0
    assert not np.array_equal(source.get_weights()[0], weights[0])


# ---------------------------------------------------------------- weights: sample and class


def test_sample_weight_scales_the_loss_as_keras_does():
    x = rows(10, 3)
    y = rows(10, 1, seed=9)[:, 0]
    w = np.random.default_rng(3).uniform(0.0, 3.0, size=10)
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizer=frozen_sgd(), loss="mse")
    per_sample = (model.predict(x, verbose=0)[:, 0] - y) ** 2
    expected = np.sum(w * per_sample) / 10  # sum(w * l) / n, not / sum(w)
    assert model.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y, sample_weight=w, batch_size=3, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(per_sample.mean(), rel=1e-5)


def test_class_weight_scales_each_sample_by_its_class(iris):
    x, y = iris
    class_weight = {0: 1.0, 1: 2.5, 2: 0.25}
    model = iris_net(optimizer=frozen_sgd(), metrics=())
    per_sample = sparse_ce(model.predict(x, verbose=0), y)
    weights = np.array([class_weight[c] for c in y])
    history = model.fit(x, y, class_weight=class_weight, batch_size=32, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.sum(weights * per_sample) / 150, rel=1e-5)


def test_sample_weight_changes_training(iris):
    x, y = iris
    start = iris_net().get_weights()

    def trained(**kwargs):
        model = iris_net()
        model.set_weights(start)
        model.fit(x, y, epochs=1, shuffle=False, verbose=0, **kwargs)
        return model.get_weights()

    plain = trained()
    weighted = trained(sample_weight=np.where(y == 0, 5.0, 1.0))
    assert any(not np.array_equal(a, b) for a, b in zip(plain, weighted, strict=True))
    ones = trained(sample_weight=np.ones(150))
    for a, b in zip(plain, ones, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- epochs, shuffle, stopping


def test_initial_epoch_resumes_the_count(iris, capsys):
    x, y = iris
    model = iris_net()
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 1/5" not in out


def test_zero_epochs_trains_nothing(iris):
    x, y = iris
    model = iris_net()
    before = model.get_weights()
    history = model.fit(x, y, epochs=0, verbose=0)
    assert history.history == {}
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_shuffle_false_is_deterministic_whatever_the_seed(iris):
    x, y = iris
    start = iris_net().get_weights()
    results = []
    for seed in (1, 2):
        set_random_seed(seed)
        model = iris_net()
        model.set_weights(start)
        model.fit(x, y, epochs=3, batch_size=10, shuffle=False, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    # and shuffling does change the order of the updates
    set_random_seed(3)
    model = iris_net()
    model.set_weights(start)
    model.fit(x, y, epochs=3, batch_size=10, shuffle=True, verbose=0)
    assert any(
        not np.array_equal(a, b) for a, b in zip(results[0], model.get_weights(), strict=True)
    )


class StopAt(Callback):
    def __init__(self, epoch=None, batch=None):
        super().__init__()
        self.stop_epoch = epoch
        self.stop_batch = batch
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if batch == self.stop_batch:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.stop_epoch:
            self.model.stop_training = True


def test_callback_setting_stop_training_stops_after_the_epoch(iris):
    x, y = iris
    model = iris_net()
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[StopAt(epoch=1)])
    assert history.epoch == [0, 1]


def test_callback_setting_stop_training_in_a_batch_stops_at_once(iris):
    x, y = iris
    model = iris_net()
    stopper = StopAt(batch=2)
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0, callbacks=[stopper])
    assert stopper.batches == 3
    assert history.epoch == [0]
    # a new fit starts again
    again = model.fit(x, y, epochs=2, verbose=0)
    assert again.epoch == [0, 1]


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end {batch}")

    def on_test_begin(self, logs=None):
        self.events.append("test_begin")

    def on_test_end(self, logs=None):
        self.events.append("test_end")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callback_hook_order():
    x = rows(25, 4)
    y = np.arange(25) % 3
    recorder = Recorder()
    model = iris_net()
    model.fit(x, y, epochs=2, batch_size=10, validation_split=0.2, verbose=0, callbacks=[recorder])
    assert recorder.model is model
    assert recorder.params["epochs"] == 2 and recorder.params["steps"] == 2
    keys = "['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    epoch = lambda e: [
        f"epoch_begin {e}",
        "batch_begin 0",
        "batch_end 0",
        "batch_begin 1",
        "batch_end 1",
        "test_begin",
        "test_end",
        f"epoch_end {e} {keys}",
    ]
    assert recorder.events == ["train_begin", *epoch(0), *epoch(1), "train_end"]


def test_callbacks_must_be_callbacks(iris):
    x, y = iris
    with pytest.raises(TypeError, match="Callback"):
        iris_net().fit(x, y, verbose=0, callbacks=[print])


# ---------------------------------------------------------------- progress output


def test_verbose_0_prints_nothing(iris, capsys):
    x, y = iris
    model = iris_net()
    model.fit(x, y, epochs=2, validation_split=0.1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_verbose_2_prints_one_line_per_epoch(iris, capsys):
    x, y = iris
    iris_net().fit(x, y, epochs=3, batch_size=10, validation_split=0.2, verbose=2)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == [
        "Epoch 1/3",
        "Epoch 2/3",
        "Epoch 3/3",
    ]
    progress = [line for line in lines if not line.startswith("Epoch")]
    assert len(progress) == 3
    for line in progress:
        assert line.startswith("12/12 - ")
        assert re.search(r"loss: \d\.\d{4}", line)
        assert "accuracy: " in line and "val_loss: " in line and "val_accuracy: " in line


def test_verbose_1_updates_in_place_with_an_eta(iris, capsys):
    x, y = iris
    iris_net().fit(x, y, epochs=2, batch_size=10, verbose=1)
    out = capsys.readouterr().out
    assert out.endswith("\n")
    epochs = out.split("Epoch ")[1:]
    assert len(epochs) == 2
    for i, chunk in enumerate(epochs, start=1):
        header, _, body = chunk.partition("\n")
        assert header == f"{i}/2"
        updates = body.split("\r")[1:]
        assert len(updates) >= 2, "expected an in-place update while running and a final one"
        assert "ETA" in updates[0]
        assert re.match(r"\s*1/15 ", updates[0])
        final = updates[-1]
        assert final.startswith("15/15 ") and final.endswith("\n") and final.count("\n") == 1
        assert "ETA" not in final and "loss: " in final and "accuracy: " in final
        # nothing but the finished line ends with a newline
        assert all("\n" not in update for update in updates[:-1])


def test_verbose_auto_picks_2_when_stdout_is_not_a_terminal(iris, capsys):
    assert resolve_verbose("auto") == 2
    x, y = iris
    iris_net().fit(x, y, epochs=2, verbose="auto")
    out = capsys.readouterr().out
    assert "\r" not in out and out.count("loss: ") == 2


def test_resolve_verbose():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert resolve_verbose("auto", Terminal()) == 1
    assert resolve_verbose("auto", io.StringIO()) == 2
    assert [resolve_verbose(v) for v in (0, 1, 2, False, True)] == [0, 1, 2, 0, 1]
    with pytest.raises(ValueError, match="verbose"):
        resolve_verbose(3)
    with pytest.raises(ValueError, match="verbose"):
        resolve_verbose("loud")


# ---------------------------------------------------------------- regression and binary


def test_regression_with_mse_on_targets_of_shape_n():
    x = rows(64, 3)
    y = x @ np.array([1.5, -2.0, 0.5]) + 1.0  # shape (64,), model output (64, 1)
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    pred = model.predict(x, verbose=0)
    assert pred.shape == (64, 1)
    loss, mae = model.evaluate(x, y, verbose=0)
    # per sample, not an (n, 1) - (n,) broadcast into an (n, n) matrix
    assert loss == pytest.approx(np.mean((pred[:, 0] - y) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(pred[:, 0] - y)), rel=1e-5)
    history = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    loss, mae = model.evaluate(x, y, verbose=0)
    assert loss < 1e-3 < history.history["loss"][0]
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [1.5, -2.0, 0.5], atol=0.05)
    np.testing.assert_allclose(bias, [1.0], atol=0.05)


def test_binary_classification_on_breast_cancer():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    x_train, x_test, y_train, y_test = x[:455], x[455:], y[:455], y[455:]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = Sequential([Dense(16, input_dim=30, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.93
    # 'accuracy' resolved to binary accuracy: thresholded at 0.5
    probabilities = model.predict(x_test, verbose=0)
    assert probabilities.shape == (len(x_test), 1)
    assert accuracy == pytest.approx(np.mean((probabilities[:, 0] > 0.5) == y_test))
    p = np.clip(probabilities[:, 0].astype("float64"), 1e-7, 1 - 1e-7)
    bce = -np.mean(y_test * np.log(p) + (1 - y_test) * np.log(1 - p))
    assert loss == pytest.approx(bce, rel=1e-3)


# ---------------------------------------------------------------- dtypes


def _dtypes_after_training(model, x, y):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.train_on_batch(x[:8], y[:8])
    return {
        "predict": model.predict(x, verbose=0).dtype.name,
        "call": model(x).dtype.name,
        "weights": {w.dtype.name for w in model.get_weights()},
        "grads": {v.grad.dtype.name for v in model.trainable_weights},
        "slots": {
            v.dtype.name for k, v in model.optimizer.get_state().items() if k != "iterations"
        },
    }


def test_float32_default_stays_float32_with_float64_input(iris):
    x, y = iris
    assert x.dtype == np.float64
    dtypes = _dtypes_after_training(iris_net(compile_model=False), x, y)
    assert dtypes == {
        "predict": "float32",
        "call": "float32",
        "weights": {"float32"},
        "grads": {"float32"},
        "slots": {"float32"},
    }


def test_float64_layers_keep_float64_end_to_end(iris):
    x, y = iris
    model = Sequential(
        [
            Dense(4, input_dim=4, activation="relu", dtype="float64"),
            Dense(3, activation="softmax", dtype="float64"),
        ]
    )
    dtypes = _dtypes_after_training(model, x.astype("float32"), y)
    assert dtypes == {
        "predict": "float64",
        "call": "float64",
        "weights": {"float64"},
        "grads": {"float64"},
        "slots": {"float64"},
    }


def test_set_floatx_float64_keeps_float64_end_to_end(iris):
    x, y = iris
    backend.set_floatx("float64")
    try:
        model = iris_net(compile_model=False)
        dtypes = _dtypes_after_training(model, x.astype("float32"), y)
    finally:
        backend.set_floatx("float32")
    assert dtypes == {
        "predict": "float64",
        "call": "float64",
        "weights": {"float64"},
        "grads": {"float64"},
        "slots": {"float64"},
    }
    assert iris_net().get_weights()[0].dtype == np.float32
