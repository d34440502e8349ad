"""DataFrame and Series input: Model.fit/evaluate/predict and the scikit-learn estimators."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from axonal.data import to_array  # noqa: E402
from axonal.layers import Dense, Input  # noqa: E402
from axonal.models import Sequential  # noqa: E402
from axonal.utils import clear_session, set_random_seed  # noqa: E402

COLUMNS = ["sepal", "petal", "width"]


@pytest.fixture(autouse=True)
def fresh_session():
    clear_session()
    yield
    clear_session()


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "sepal": rng.normal(size=60).astype("float32"),
            "petal": rng.integers(0, 5, size=60),  # an int column among floats
            "width": rng.normal(size=60).astype("float32"),
        }
    )
    y = pd.Series((x["sepal"] > 0).astype(int) + (x["petal"] > 2).astype(int), name="kind")
    return x, y


def make_model(seed: int = 0):
    set_random_seed(seed)
    model = Sequential([Input(shape=(3,)), Dense(8, activation="relu"), Dense(3, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_dataframe_round_trip_equals_arrays(frame):
    x, y = frame
    from_frame = make_model()
    history_frame = from_frame.fit(x, y, epochs=3, batch_size=8, verbose=0).history
    from_arrays = make_model()
    history_arrays = from_arrays.fit(
        x.to_numpy(), y.to_numpy(), epochs=3, batch_size=8, verbose=0
    ).history
    assert history_frame == history_arrays
    for a, b in zip(from_frame.get_weights(), from_arrays.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        from_frame.predict(x, verbose=0), from_arrays.predict(x.to_numpy(), verbose=0)
    )
    assert from_frame.evaluate(x, y, verbose=0) == from_arrays.evaluate(
        x.to_numpy(), y.to_numpy(), verbose=0
    )
    assert from_frame._feature_names == [COLUMNS]
    # plain arrays carry no names and are never checked
    from_frame.predict(x.to_numpy(), verbose=0)


def test_evaluate_also_learns_the_columns(frame):
    x, y = frame
    model = make_model()
    model.evaluate(x, y, verbose=0)
    assert model._feature_names == [COLUMNS]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x: x[["sepal", "petal"]], r"missing column\(s\) \['width'\]"),
        (lambda x: x.assign(extra=1.0).drop(columns="petal"), r"\['petal'\].*\['extra'\]"),
        (lambda x: x.rename(columns={"sepal": "SEPAL"}), r"\['sepal'\].*\['SEPAL'\]"),
        (lambda x: x[["width", "sepal", "petal"]], r"another order.*\['width', 'sepal'"),
    ],
    ids=["missing", "extra", "renamed", "reordered"],
)
def test_column_mismatch_is_a_clear_error(frame, change, message):
    x, y = frame
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    bad = change(x)
    with pytest.raises(ValueError, match=message):
        model.predict(bad, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(bad, y, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.fit(bad, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_data x"):
        model.fit(x, y, validation_data=(bad, y), epochs=1, verbose=0)
    # nothing was trained by the refused calls
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_columns_are_learnt_only_from_valid_data(frame):
    x, y = frame
    model = make_model()
    with pytest.raises(TypeError):
        model.fit(x, y.map({0: "a", 1: "b", 2: "c"}), verbose=0)
    assert getattr(model, "_feature_names", None) is None
    renamed = x.set_axis(["a", "b", "c"], axis=1)
    model.fit(renamed, y, epochs=1, verbose=0)
    assert model._feature_names == [["a", "b", "c"]]


@pytest.mark.parametrize("kind", ["object", "category"])
def test_string_targets_tell_how_to_encode(frame, kind):
    x, y = frame
    labels = y.map({0: "setosa", 1: "versicolor", 2: "virginica"}).astype(kind)
    model = make_model()
    with pytest.raises(TypeError, match=r"y must be numeric.*LabelEncoder.*NeuralNetClassifier"):
        model.fit(x, labels, verbose=0)


def test_non_numeric_columns_are_named(frame):
    x, y = frame
    x = x.assign(species=pd.Categorical(["a", "b"] * 30), note="text")
    with pytest.raises(TypeError, match=r"'species' \(category\), 'note' \(\w+\)"):
        make_model().predict(x, verbose=0)


def test_nullable_columns_and_their_missing_values():
    x = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [0.5, 1.5, 2.5]})
    array = to_array(x, "x")
    assert array.dtype == np.float64
    assert np.isnan(array[1, 0])
    model = Sequential([Input(shape=(2,)), Dense(1)])
    with pytest.raises(ValueError, match=r"x contains NaN at row 1, column 0"):
        model.predict(x, verbose=0)
    no_missing = pd.DataFrame({"a": pd.array([1, 2], dtype="Int64"), "b": [True, False]})
    assert to_array(no_missing, "x").dtype.kind == "i"


def test_float32_frames_are_not_upcast():
    x = pd.DataFrame({"a": np.ones(3, "float32"), "b": np.zeros(3, "float32")})
    assert to_array(x, "x").dtype == np.float32
    assert to_array(x["a"], "y").dtype == np.float32


# ------------------------------------------------------------------ the estimators
def test_estimators_keep_feature_names_and_categorical_targets(frame):
    pytest.importorskip("sklearn")
    from axonal.sklearn import NeuralNetClassifier

    x, y = frame
    names = pd.Series(pd.Categorical(y.map({0: "low", 1: "mid", 2: "high"})))
    clf = NeuralNetClassifier(
        hidden_layer_sizes=(16,), epochs=60, optimizer__learning_rate=0.01, random_state=0
    ).fit(x, names)
    np.testing.assert_array_equal(clf.feature_names_in_, COLUMNS)
    assert sorted(clf.classes_) == ["high", "low", "mid"]
    predicted = clf.predict(x)
    assert set(predicted) <= {"high", "low", "mid"}
    assert np.mean(predicted == names.to_numpy()) > 0.9
    with pytest.warns(UserWarning, match="feature names"):
        from_array = clf.predict_proba(x.to_numpy())
    np.testing.assert_array_equal(from_array, clf.predict_proba(x))
    with pytest.raises(ValueError, match=r"(?s)unseen at fit time:\n- SEPAL.*missing:\n- sepal"):
        clf.predict(x.rename(columns={"sepal": "SEPAL"}))
    with pytest.raises(ValueError, match="same order"):
        clf.predict(x[["width", "sepal", "petal"]])


def test_regressor_with_dataframe_targets(frame):
    pytest.importorskip("sklearn")
    from axonal.sklearn import NeuralNetRegressor

    x, _ = frame
    targets = pd.DataFrame({"sum": x["sepal"] + x["width"], "diff": x["sepal"] - x["width"]})
    reg = NeuralNetRegressor(
        hidden_layer_sizes=(), epochs=100, optimizer__learning_rate=0.05, random_state=0
    ).fit(x, targets)
    assert reg.n_outputs_ == 2
    assert reg.predict(x).shape == (60, 2)
    assert reg.score(x, targets) > 0.99
