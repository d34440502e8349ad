"""Bad input gets a clear error in the user's terms and changes nothing.

Each test takes a built, compiled model trained for one epoch, makes one bad call, and checks
(a) the exception type, (b) that the message names the problem (the numbers and names involved)
and (c) that the weights and the optimizer state are exactly as they were.
"""

import numpy as np
import pytest

from axonal import registry
from axonal.layers import Dense
from axonal.models import Sequential
from axonal.utils import clear_session, set_random_seed

N = 30


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    set_random_seed(7)
    yield
    clear_session()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4))
    y = rng.integers(0, 3, size=N)
    return x, y


@pytest.fixture
def model(data):
    x, y = data
    model = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return model


def snapshot(model):
    optimizer = model.optimizer
    state = None if optimizer is None else optimizer.get_state()
    return {
        "weights": model.get_weights(),
        "optimizer": optimizer,
        "state": state,
        "loss": model.loss,
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert len(after["weights"]) == len(before["weights"])
    for old, new in zip(before["weights"], after["weights"], strict=True):
        assert old.dtype == new.dtype
        np.testing.assert_array_equal(old, new)
    assert after["optimizer"] is before["optimizer"]
    assert after["loss"] is before["loss"]
    if before["state"] is not None:
        assert sorted(after["state"]) == sorted(before["state"])
        for key, value in before["state"].items():
            np.testing.assert_array_equal(after["state"][key], value, err_msg=key)


def fails(model, call, error, *fragments):
    """Run ``call()``, expecting ``error`` whose message holds every fragment; nothing changes."""
    before = snapshot(model)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert_unchanged(model, before)
    return message


# ---------------------------------------------------------------- data


def test_x_y_length_mismatch(model, data):
    x, y = data
    fails(model, lambda: model.fit(x, y[:20], verbose=0), ValueError, "x has 30", "y has 20")


def test_wrong_feature_count_for_a_built_model(model, data):
    x, y = data
    message = fails(model, lambda: model.fit(x[:, :3], y, verbose=0), ValueError, "(30, 3)")
    assert "3 features instead of 4" in message


def test_sparse_label_out_of_range(model, data):
    x, y = data
    y = y.copy()
    y[12] = 3
    message = fails(
        model,
        lambda: model.fit(x, y, verbose=0),
        ValueError,
        "label 3",
        "row 12",
        "[0, 2]",
        "3 output classes",
    )
    assert "np.int64" not in message  # the value as the user wrote it


def test_sparse_label_negative(model, data):
    x, y = data
    y = y.copy()
    y[4] = -1
    fails(model, lambda: model.fit(x, y, verbose=0), ValueError, "label -1", "row 4", "[0, 2]")


def test_sparse_label_not_a_whole_number(model, data):
    x, y = data
    y = y.astype(float)
    y[9] = 1.5
    message = fails(
        model, lambda: model.fit(x, y, verbose=0), ValueError, "row 9", "1.5", "integer"
    )
    assert "np.float64" not in message


def test_nan_in_x(model, data):
    x, y = data
    x = x.copy()
    x[5, 2] = np.nan
    fails(
        model, lambda: model.fit(x, y, verbose=0), ValueError, "x contains NaN", "row 5", "column 2"
    )


def test_inf_in_y(model, data):
    x, _ = data
    regression = Sequential([Dense(2, input_dim=4)])
    regression.compile(optimizer="sgd", loss="mse")
    y = np.zeros((N, 2))
    regression.fit(x, y, epochs=1, verbose=0)
    y[7, 1] = np.inf
    fails(
        regression,
        lambda: regression.fit(x, y, verbose=0),
        ValueError,
        "y contains inf",
        "row 7",
        "column 1",
    )


def test_inf_in_sparse_labels(model, data):
    x, y = data
    y = y.astype(float)
    y[3] = -np.inf
    fails(model, lambda: model.fit(x, y, verbose=0), ValueError, "y contains -inf", "row 3")


def test_non_numeric_x(model, data):
    _, y = data
    x = np.array([["a", "b", "c", "d"]] * N)
    fails(model, lambda: model.fit(x, y, verbose=0), TypeError, "x must be numeric", "'a'")


def test_empty_x(model, data):
    x, y = data
    fails(model, lambda: model.fit(x[:0], y[:0], verbose=0), ValueError, "x has no samples")


def test_one_hot_targets_with_the_sparse_loss(model, data):
    x, y = data
    fails(
        model,
        lambda: model.fit(x, np.eye(3)[y], verbose=0),
        ValueError,
        "(30, 3)",
        "categorical_crossentropy",
    )


def test_sample_weight_length_mismatch(model, data):
    x, y = data
    fails(
        model,
        lambda: model.fit(x, y, sample_weight=np.ones(5), verbose=0),
        ValueError,
        "sample_weight has 5",
        "30 samples",
    )


def test_class_weight_missing_a_class(model, data):
    x, y = data
    fails(
        model,
        lambda: model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0),
        ValueError,
        "class_weight",
        "[2]",
    )


# ---------------------------------------------------------------- calls and arguments


def test_fit_before_compile(data):
    x, y = data
    model = Sequential([Dense(3, input_dim=4, activation="softmax")])
    fails(model, lambda: model.fit(x, y, verbose=0), RuntimeError, "compile()", "fit()")


def test_unknown_layer_name():
    config = {"class_name": "Dence", "config": {}}
    with pytest.raises(ValueError) as info:
        registry.deserialize("layer", config)
    message = str(info.value)
    assert "'Dence'" in message and "Did you mean 'Dense'" in message


def test_unknown_activation_in_layer_construction():
    with pytest.raises(ValueError) as info:
        Dense(3, activation="rellu")
    message = str(info.value)
    assert "'rellu'" in message and "'relu'" in message


def test_unknown_loss_in_compile(model):
    message = fails(
        model,
        lambda: model.compile(optimizer="adam", loss="categorical_crossentropi"),
        ValueError,
        "'categorical_crossentropi'",
        "'categorical_crossentropy'",
    )
    assert "Unknown loss" in message


def test_unknown_optimizer_in_compile(model):
    fails(
        model,
        lambda: model.compile(optimizer="adamm", loss="mse"),
        ValueError,
        "Unknown optimizer",
        "'adamm'",
        "'adam'",
    )


def test_unknown_metric_in_compile(model):
    fails(
        model,
        lambda: model.compile(optimizer="adam", loss="mse", metrics=["acuracy"]),
        ValueError,
        "Unknown metric",
        "'acuracy'",
        "'accuracy'",
    )


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one(model, data, batch_size):
    x, y = data
    fails(
        model,
        lambda: model.fit(x, y, batch_size=batch_size, verbose=0),
        ValueError,
        "batch_size",
        ">= 1",
        f"got {batch_size}",
    )


def test_negative_epochs(model, data):
    x, y = data
    fails(
        model, lambda: model.fit(x, y, epochs=-1, verbose=0), ValueError, "epochs", ">= 0", "got -1"
    )


def test_validation_split_out_of_range(model, data):
    x, y = data
    fails(
        model,
        lambda: model.fit(x, y, validation_split=1.5, verbose=0),
        ValueError,
        "validation_split",
        "1.5",
    )


def test_validation_data_with_wrong_feature_count(model, data):
    x, y = data
    fails(
        model,
        lambda: model.fit(x, y, validation_data=(x[:, :2], y), verbose=0),
        ValueError,
        "validation_data x",
        "2 features instead of 4",
    )


def test_validation_data_with_nan(model, data):
    x, y = data
    xv = x.copy()
    xv[1, 0] = np.nan
    fails(
        model,
        lambda: model.fit(x, y, validation_data=(xv, y), verbose=0),
        ValueError,
        "validation_data x contains NaN",
        "row 1",
        "column 0",
    )


def test_predict_with_wrong_feature_count(model, data):
    x, _ = data
    wide = np.concatenate([x, x[:, :1]], axis=1)
    fails(
        model,
        lambda: model.predict(wide, verbose=0),
        ValueError,
        "(30, 5)",
        "5 features instead of 4",
    )


def test_evaluate_with_wrong_feature_count(model, data):
    x, y = data
    fails(
        model, lambda: model.evaluate(x[:, :3], y, verbose=0), ValueError, "3 features instead of 4"
    )


def test_train_on_batch_with_bad_labels(model, data):
    x, y = data
    fails(
        model,
        lambda: model.train_on_batch(x[:4], np.array([0, 1, 2, 7])),
        ValueError,
        "label 7",
        "row 3",
    )


def test_regression_targets_of_the_wrong_width(data):
    x, _ = data
    model = Sequential([Dense(3, input_dim=4)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((N, 3)), epochs=1, verbose=0)
    fails(
        model,
        lambda: model.fit(x, np.zeros((N, 2)), verbose=0),
        ValueError,
        "mean_squared_error",
        "(3,)",
        "(30, 2)",
    )


def test_binary_targets_that_do_not_match_a_single_sigmoid(data):
    x, y = data
    model = Sequential([Dense(1, input_dim=4, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y % 2, epochs=1, verbose=0)
    # one-hot targets would silently broadcast against the (samples, 1) output
    fails(
        model,
        lambda: model.fit(x, np.eye(3)[y], verbose=0),
        ValueError,
        "binary_crossentropy",
        "(1,)",
        "(30, 3)",
    )
