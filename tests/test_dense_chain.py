"""fit's lean step for Dense stacks (``axonal.trainers.dense_chain``) trains exactly like the
general step: the same weights, optimizer state, History and per-batch logs, to the bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import axonal
from axonal import callbacks, constraints, kernels, optimizers, regularizers, schedules
from axonal.layers import Dense, Dropout
from axonal.models import Sequential
from axonal.tensor import Tensor
from axonal.trainers import dense_chain
from axonal.trainers import strategy as strategy_module


def _data(rows: int = 47, features: int = 4, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = rng.integers(0, classes, rows)
    return x, y


def _model(
    sizes=(4, 5, 3),
    activations=("relu", "softmax"),
    loss="sparse_categorical_crossentropy",
    optimizer=None,
    seed: int = 7,
    metrics=None,
    use_bias: bool = True,
    dtype=None,
    **layer_options,
) -> Sequential:
    axonal.utils.clear_session()
    axonal.utils.set_random_seed(seed)
    layers = [
        Dense(units, activation=activation, use_bias=use_bias, dtype=dtype, **layer_options)
        for units, activation in zip(sizes[1:], activations, strict=True)
    ]
    model = Sequential([axonal.Input((sizes[0],), dtype=dtype)] + layers)
    model.compile(
        optimizer=optimizer() if optimizer is not None else optimizers.Adam(1e-2),
        loss=loss,
        metrics=metrics,
    )
    return model


class _BatchLogs(callbacks.Callback):
    """Records the logs of every batch (and so makes the lean step check itself each step)."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def _train(make, lean: bool, monkeypatch, fit_options=None, data=None):
    """Weights, optimizer state, History and the lean steps taken, after fit on the lean path
    (``lean``) or with the general step forced."""
    with monkeypatch.context() as patch:
        if not lean:
            patch.setattr(
                strategy_module.LocalStrategy,
                "epoch_train_step",
                strategy_module.Strategy.epoch_train_step,
            )
        taken = []
        original = dense_chain.DenseChainStep.__call__

        def counted(self, *args):
            taken.append(self)
            return original(self, *args)

        patch.setattr(dense_chain.DenseChainStep, "__call__", counted)
        model = make()
        x, y = _data() if data is None else data
        options = {"epochs": 3, "batch_size": 10, "verbose": 0}
        options.update(fit_options or {})
        history = model.fit(x, y, **options)
    state = model.optimizer.get_state()
    state["iterations"] = np.asarray(model.optimizer.iterations)
    return model.get_weights(), state, history.history, len(taken), model


def _assert_same(lean, general) -> None:
    for a, b in zip(lean[0], general[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert lean[1].keys() == general[1].keys()
    for key in lean[1]:
        np.testing.assert_array_equal(lean[1][key], general[1][key])
    assert lean[2] == general[2]


CASES = {
    "iris": lambda: _model(),
    "accuracy": lambda: _model(metrics=["accuracy"]),
    "from_logits": lambda: _model(
        activations=("relu", "linear"),
        loss=axonal.losses.SparseCategoricalCrossentropy(from_logits=True),
    ),
    "deep_tanh_sigmoid_no_bias": lambda: _model(
        sizes=(4, 6, 5, 4, 3),
        activations=("tanh", "sigmoid", "linear", "softmax"),
        use_bias=False,
    ),
    "float64": lambda: _model(dtype="float64"),
    "adamw_schedule": lambda: _model(
        optimizer=lambda: optimizers.AdamW(
            schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5), weight_decay=0.1
        )
    ),
    "amsgrad": lambda: _model(optimizer=lambda: optimizers.Adam(0.02, amsgrad=True)),
    "categorical": lambda: _model(loss="categorical_crossentropy", metrics=["accuracy"]),
    "categorical_from_logits": lambda: _model(
        activations=("relu", "linear"),
        loss=axonal.losses.CategoricalCrossentropy(from_logits=True),
    ),
    "sgd_momentum": lambda: _model(optimizer=lambda: optimizers.SGD(0.1, momentum=0.9)),
    "rmsprop": lambda: _model(optimizer=lambda: optimizers.RMSprop(0.01, centered=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lean_step_trains_bit_for_bit_like_the_general_step(case, monkeypatch):
    x, y = _data(64 if case == "float64" else 47)
    if case.startswith("categorical"):
        y = np.eye(3, dtype=np.float32)[y]
    data = (x.astype(np.float64), y) if case == "float64" else (x, y)
    lean = _train(CASES[case], True, monkeypatch, data=data)
    general = _train(CASES[case], False, monkeypatch, data=data)
    assert lean[3] > 0 and general[3] == 0
    _assert_same(lean, general)


@pytest.mark.parametrize("labels", ["flat", "column"])
def test_batch_logs_validation_and_a_partial_last_batch_are_the_same(labels, monkeypatch):
    x, y = _data(53)
    y = y[:, None] if labels == "column" else y
    results = []
    for lean in (True, False):
        recorder = _BatchLogs()
        options = {"callbacks": [recorder], "validation_split": 0.2, "batch_size": 8}
        make = CASES["accuracy"]
        results.append(_train(make, lean, monkeypatch, options, (x, y)) + (recorder.logs,))
    _assert_same(results[0], results[1])
    assert results[0][3] > 0
    assert results[0][-1] == results[1][-1] and len(results[0][-1]) == 3 * 6


def test_the_iris_program_takes_the_lean_step_and_keeps_its_loss(monkeypatch):
    lean = _train(CASES["iris"], True, monkeypatch, {"epochs": 2})
    assert lean[3] == 2 * 5
    model = lean[4]
    # each weight's .grad is its view of the packed gradient buffer, as after backward()
    for variable in model.trainable_weights:
        assert variable.grad is not None and variable.grad.base is not None
    x, y = _data()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        float(np.mean(-np.log(model.predict(x, verbose=0)[np.arange(len(y)), y]))), rel=1e-5
    )


@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
def test_compiled_optimizer_update_is_the_same_on_the_lean_path(monkeypatch):
    def make():
        model = _model()
        model.compile(optimizer=optimizers.Adam(1e-2), loss=model.loss, jit_compile=True)
        return model

    _assert_same(_train(make, True, monkeypatch), _train(make, False, monkeypatch))


FALLBACKS = {
    "regularizer": lambda: _model(kernel_regularizer=regularizers.L2(0.01)),
    "constraint": lambda: _model(kernel_constraint=constraints.MaxNorm(0.5)),
    "clipnorm": lambda: _model(optimizer=lambda: optimizers.Adam(1e-2, clipnorm=0.1)),
    "categorical_smoothing": lambda: _model(
        loss=axonal.losses.CategoricalCrossentropy(label_smoothing=0.1)
    ),
    "mse": lambda: _model(activations=("relu", "linear"), loss="mse"),
    "leaky_relu": lambda: _model(activations=(axonal.activations.leaky_relu, "softmax")),
    "softmax_hidden": lambda: _model(sizes=(4, 3, 3), activations=("softmax", "softmax")),
    "sigmoid_out": lambda: _model(activations=("relu", "sigmoid")),
}


@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_what_the_lean_step_does_not_know_takes_the_general_step(case, monkeypatch):
    x, y = _data()
    if case.startswith("categorical") or case == "mse":
        y = np.eye(3, dtype=np.float32)[y]
    lean = _train(FALLBACKS[case], True, monkeypatch, data=(x, y))
    general = _train(FALLBACKS[case], False, monkeypatch, data=(x, y))
    assert lean[3] == 0
    _assert_same(lean, general)


def test_other_layers_a_frozen_layer_and_a_subclassed_dense_take_the_general_step(monkeypatch):
    class MyDense(Dense):
        pass

    def with_dropout():
        axonal.utils.clear_session()
        axonal.utils.set_random_seed(1)
        model = Sequential(
            [axonal.Input((4,)), Dense(5, "relu"), Dropout(0.5), Dense(3, "softmax")]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    def frozen():
        model = _model()
        model.layers[0].trainable = False
        return model

    def subclassed():
        axonal.utils.clear_session()
        axonal.utils.set_random_seed(1)
        model = Sequential([axonal.Input((4,)), MyDense(5, "relu"), Dense(3, "softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    def patched():
        model = _model()
        layer = model.layers[0]
        layer.call = lambda inputs, training=False: Dense.call(layer, inputs) * 0.5
        return model

    class MySequential(Sequential):
        def call(self, inputs, training=False):
            return super().call(inputs, training) * 2.0

    def subclassed_model():
        axonal.utils.clear_session()
        axonal.utils.set_random_seed(1)
        model = MySequential([axonal.Input((4,)), Dense(5, "relu"), Dense(3, "softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    for make in (with_dropout, frozen, subclassed, patched, subclassed_model):
        lean = _train(make, True, monkeypatch)
        assert lean[3] == 0
        _assert_same(lean, _train(make, False, monkeypatch))


def test_sample_weights_take_the_general_step_batch_by_batch(monkeypatch):
    x, y = _data()
    weights = np.linspace(0.5, 2.0, len(y)).astype(np.float32)
    options = {"sample_weight": weights}
    lean = _train(CASES["iris"], True, monkeypatch, options)
    general = _train(CASES["iris"], False, monkeypatch, options)
    assert lean[3] > 0  # asked, and handed the batch on
    _assert_same(lean, general)
    options = {"class_weight": {0: 1.0, 1: 2.0, 2: 0.5}}
    _assert_same(
        _train(CASES["iris"], True, monkeypatch, options),
        _train(CASES["iris"], False, monkeypatch, options),
    )


class _Meddler(callbacks.Callback):
    """Changes the model between two steps of an epoch, the way a batch hook might."""

    def __init__(self, change: str):
        super().__init__()
        self.change = change

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            self.meddle()

    def meddle(self):
        model = self.model
        if self.change == "set_weights":
            model.set_weights([w * 0.5 for w in model.get_weights()])
        elif self.change == "new_array":
            kernel = model.layers[0].kernel
            kernel.data = kernel.data * 0.5
        elif self.change == "freeze":
            model.layers[0].trainable = False
        elif self.change == "activation":
            model.layers[0].activation = axonal.activations.tanh
        elif self.change == "clipvalue":
            model.optimizer.clipvalue = 0.01
        elif self.change == "constraint":
            model.layers[1].kernel.constraint = constraints.NonNeg()
        elif self.change == "learning_rate":
            model.optimizer.learning_rate = 0.5
        elif self.change == "drop_bias":
            model.layers[1].bias = None
        elif self.change == "regularizer":
            model.layers[1].kernel_regularizer = regularizers.L2(0.1)


class _EpochMeddler(_Meddler):
    """The same changes, between two epochs."""

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.meddle()


@pytest.mark.parametrize(
    "change",
    [
        "set_weights",
        "new_array",
        "freeze",
        "activation",
        "clipvalue",
        "constraint",
        "learning_rate",
        "regularizer",
        "drop_bias",
    ],
)
def test_a_batch_hook_that_changes_the_model_sees_the_same_training(change, monkeypatch):
    options = {"callbacks": [_Meddler(change)], "epochs": 2}
    with warnings.catch_warnings():
        # a frozen layer's weights get no gradient: both paths warn alike
        warnings.simplefilter("ignore")
        lean = _train(CASES["iris"], True, monkeypatch, options)
        general = _train(CASES["iris"], False, monkeypatch, options)
    assert lean[3] > 0
    _assert_same(lean, general)


@pytest.mark.parametrize(
    "change", ["set_weights", "new_array", "freeze", "activation", "constraint", "regularizer"]
)
def test_a_change_between_epochs_is_seen_by_the_next_epochs_step(change, monkeypatch):
    options = {"callbacks": [_EpochMeddler(change)], "epochs": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lean = _train(CASES["iris"], True, monkeypatch, options)
        general = _train(CASES["iris"], False, monkeypatch, options)
    assert lean[3] >= 5
    _assert_same(lean, general)


def test_a_batch_long_enough_for_split_kernel_gradients_is_the_same(monkeypatch):
    # from 32,768 rows a 4x5 kernel gradient is a sum of products over row blocks
    # (primitives.inner_product): the lean step takes the same sums
    data = _data(33_000, seed=2)
    options = {"batch_size": 33_000, "epochs": 2}
    lean = _train(CASES["iris"], True, monkeypatch, options, data)
    general = _train(CASES["iris"], False, monkeypatch, options, data)
    assert lean[3] == 2
    _assert_same(lean, general)


def test_add_loss_elsewhere_and_a_stale_term_leave_the_step_lean_and_alike(monkeypatch):
    class Penalty(axonal.layers.Layer):
        def call(self, inputs):
            self.add_loss(axonal.ops.sum(inputs))
            return inputs

    Penalty()(np.ones((2, 2), np.float32))  # some layer somewhere has used add_loss

    def make():
        model = _model()
        # a term added outside any call: stale once the first step's forward pass starts
        model.layers[0].add_loss(Tensor(np.float32(3.0)))
        return model

    lean = _train(make, True, monkeypatch)
    general = _train(make, False, monkeypatch)
    assert lean[3] > 0
    _assert_same(lean, general)
    assert lean[4].losses == [] and general[4].losses == []
