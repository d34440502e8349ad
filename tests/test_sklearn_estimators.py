"""axonal.sklearn: scikit-learn's own estimator checks, and behaviour against MLP as the oracle."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_diabetes, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    cross_val_score,
    train_test_split,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from axonal import backend  # noqa: E402
from axonal.callbacks import EarlyStopping  # noqa: E402
from axonal.layers import Dense, Input  # noqa: E402
from axonal.models import Sequential  # noqa: E402
from axonal.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

# small networks and few epochs keep scikit-learn's ~60 checks per estimator fast
_SMALL = {"hidden_layer_sizes": (16,), "epochs": 50, "batch_size": 64}
# the same with a larger step, for tests that need a well-trained network quickly
_FAST = {**_SMALL, "optimizer__learning_rate": 0.01}


@parametrize_with_checks(
    [
        NeuralNetClassifier(),
        NeuralNetRegressor(),
        NeuralNetClassifier(**_SMALL, activation="tanh", random_state=0),
        NeuralNetRegressor(**_SMALL, activation="tanh", random_state=0),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    """Every check of scikit-learn's suite passes (none is marked as an expected failure)."""
    check(estimator)


@pytest.fixture(scope="module")
def iris_split():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [3.0, 3.0], [0.0, 3.0]])
    labels = rng.integers(0, 3, size=150)
    X = centers[labels] + rng.normal(scale=0.5, size=(150, 2))
    return (X - X.mean(axis=0)) / X.std(axis=0), labels


# ------------------------------------------------------------------ against MLP, in pipelines
def test_grid_search_on_iris_matches_mlp(iris_split):
    """Pipeline + GridSearchCV(n_jobs=2): the estimator is pickled and cloned into worker
    processes; its held-out accuracy is within one sample of MLPClassifier's."""
    X_train, X_test, y_train, y_test = iris_split
    sizes = [(16,), (64,)]
    axonal_search = GridSearchCV(
        Pipeline(
            [
                ("scale", StandardScaler()),
                ("net", NeuralNetClassifier(epochs=100, random_state=0)),
            ]
        ),
        {"net__hidden_layer_sizes": sizes, "net__optimizer__learning_rate": [1e-3, 1e-2]},
        cv=3,
        n_jobs=2,
    ).fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp_search = GridSearchCV(
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("net", MLPClassifier(max_iter=100, random_state=0)),
                ]
            ),
            {"net__hidden_layer_sizes": sizes, "net__learning_rate_init": [1e-3, 1e-2]},
            cv=3,
            n_jobs=2,
        ).fit(X_train, y_train)
    axonal_score = axonal_search.score(X_test, y_test)
    mlp_score = mlp_search.score(X_test, y_test)
    # the refit best estimator really went through the routed optimizer parameter
    best = axonal_search.best_estimator_.named_steps["net"]
    assert best.model_.optimizer.learning_rate == pytest.approx(
        axonal_search.best_params_["net__optimizer__learning_rate"]
    )
    assert axonal_score >= mlp_score - 1.5 / len(y_test)
    assert axonal_score > 0.9


def test_grid_search_on_diabetes_matches_mlp():
    """Regression on diabetes, targets standardised for both: held-out R² within 0.05 of
    MLPRegressor's with the same batch size (MLP's 'auto' = 200) and iteration budget."""
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    def search(regressor, grid):
        pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                ("net", TransformedTargetRegressor(regressor, transformer=StandardScaler())),
            ]
        )
        grid = {f"net__regressor__{k}": v for k, v in grid.items()}
        return GridSearchCV(pipeline, grid, cv=3, n_jobs=2).fit(X_train, y_train)

    axonal_search = search(
        NeuralNetRegressor(batch_size=200, random_state=0),
        {"hidden_layer_sizes": [(16,), (64,)], "epochs": [20, 50, 100]},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp_search = search(
            MLPRegressor(random_state=0),
            {"hidden_layer_sizes": [(16,), (64,)], "max_iter": [20, 50, 100]},
        )
    axonal_score = axonal_search.score(X_test, y_test)
    mlp_score = mlp_search.score(X_test, y_test)
    assert axonal_score >= mlp_score - 0.05
    assert axonal_score > 0.2


def test_cross_val_score_in_a_pipeline(blobs):
    X, y = blobs
    pipeline = Pipeline([("scale", StandardScaler()), ("net", NeuralNetClassifier(**_FAST))])
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.9


# ------------------------------------------------------------------ parameters and routing
def test_routed_parameters_reach_the_optimizer_and_survive_clone():
    clf = NeuralNetClassifier(optimizer="sgd", optimizer__learning_rate=0.05, epochs=1)
    assert clf.get_params()["optimizer__learning_rate"] == 0.05
    clf.set_params(optimizer__momentum=0.9)
    copy = clone(clf)
    assert copy.get_params()["optimizer__momentum"] == 0.9
    copy.fit([[0.0], [1.0]], [0, 1])
    assert copy.model_.optimizer.learning_rate == pytest.approx(0.05)
    assert copy.model_.optimizer.momentum == pytest.approx(0.9)
    # the estimator's own optimizer parameter is never the trained object
    assert copy.optimizer == "sgd"


def test_optimizer_instance_is_copied_not_mutated():
    from axonal.optimizers import Adam

    optimizer = Adam(learning_rate=0.01)
    clf = NeuralNetClassifier(optimizer=optimizer, optimizer__beta_1=0.5, epochs=2)
    clf.fit([[0.0], [1.0], [2.0]], [0, 1, 1])
    assert clf.model_.optimizer is not optimizer
    assert clf.model_.optimizer.beta_1 == 0.5
    assert optimizer.iterations == 0
    assert optimizer.beta_1 == 0.9


def test_unknown_and_bad_parameters_fail_at_fit_with_their_names():
    clf = NeuralNetClassifier(epoch=3)  # a typo: stored, as scikit-learn requires, then refused
    with pytest.raises(TypeError, match="epoch"):
        clf.fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="epochs"):
        NeuralNetClassifier(epochs=0).fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        NeuralNetRegressor(hidden_layer_sizes=(4, -1)).fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(TypeError, match="optimizer__nonsense"):
        NeuralNetRegressor(optimizer__nonsense=1).fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="Invalid parameter"):
        NeuralNetRegressor().set_params(bogus=1)
    with pytest.raises(NotFittedError):
        NeuralNetRegressor().predict([[0.0]])


def test_random_state_reproduces_and_leaves_global_generators_alone(blobs):
    X, y = blobs
    before_axonal = backend.rng()
    before_numpy = np.random.get_state()[1].copy()
    first = NeuralNetClassifier(**_SMALL, random_state=7).fit(X, y).predict_proba(X)
    again = NeuralNetClassifier(**_SMALL, random_state=7).fit(X, y).predict_proba(X)
    other = NeuralNetClassifier(**_SMALL, random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert backend.rng() is before_axonal
    np.testing.assert_array_equal(np.random.get_state()[1], before_numpy)


# ------------------------------------------------------------------ targets
@pytest.mark.parametrize(
    "labels",
    [np.array(["setosa", "versicolor", "virginica"]), np.array([10, -3, 7]), None],
    ids=["strings", "ints", "bools"],
)
def test_labels_of_any_type_come_back_as_given(blobs, labels):
    X, y = blobs
    if labels is None:
        X, y = X[y < 2], y[y < 2]
        target = y.astype(bool)
    else:
        target = labels[y]
    clf = NeuralNetClassifier(**_FAST, random_state=0).fit(X, target)
    np.testing.assert_array_equal(clf.classes_, np.unique(target))
    predicted = clf.predict(X)
    assert predicted.dtype == target.dtype
    assert np.mean(predicted == target) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(clf.classes_))
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)


def test_multilabel_like_mlp():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0], axis=1).astype(int)
    X_train, X_test, Y_train, Y_test = X[:200], X[200:], Y[:200], Y[200:]
    clf = NeuralNetClassifier(**_FAST, random_state=0).fit(X_train, Y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, max_iter=500)
        mlp.fit(X_train, Y_train)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(X_test).shape == Y_test.shape
    assert clf.predict(X_test).dtype == Y_test.dtype
    assert clf.predict_proba(X_test).shape == Y_test.shape
    # subset accuracy on held-out samples
    assert clf.score(X_test, Y_test) >= mlp.score(X_test, Y_test) - 0.05


def test_multi_output_regression():
    X, Y = make_regression(n_samples=200, n_features=4, n_targets=3, noise=1.0, random_state=0)
    Y = Y / Y.std(axis=0)
    reg = NeuralNetRegressor(
        hidden_layer_sizes=(), epochs=100, optimizer__learning_rate=0.05, random_state=0
    ).fit(X, Y)
    assert reg.predict(X).shape == (200, 3)
    assert reg.n_outputs_ == 3
    assert reg.score(X, Y) > 0.99  # a linear target, learnt by a network with no hidden layer


def test_zero_sample_weight_equals_dropping_the_samples(blobs):
    """Weights are normalised to a weighted mean, so with one full batch a zero weight is the
    same as leaving the sample out (float64 data: identical to rounding)."""
    X, y = blobs
    keep = np.arange(len(X)) % 3 != 0
    settings = dict(hidden_layer_sizes=(8,), epochs=30, batch_size=len(X), random_state=0)
    weighted = NeuralNetClassifier(**settings).fit(X, y, sample_weight=keep.astype(float))
    dropped = NeuralNetClassifier(**settings).fit(X[keep], y[keep])
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), atol=1e-10)


def test_float32_data_trains_in_float32(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(**_SMALL).fit(X.astype(np.float32), y)
    assert clf.model_.dtype == "float32"
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert NeuralNetClassifier(**_SMALL).fit(X, y).model_.dtype == "float64"


# ------------------------------------------------------------------ model functions
def test_model_function_gets_meta_and_model_params(blobs):
    X, y = blobs
    seen = {}

    def build(meta, units=4):
        seen.update(meta)
        return Sequential(
            [
                Input(shape=(meta["n_features_in_"],)),
                Dense(units, activation="relu"),
                Dense(meta["n_outputs_"], activation=meta["output_activation"]),
            ]
        )

    clf = NeuralNetClassifier(
        model=build, model__units=12, epochs=30, optimizer__learning_rate=0.01, random_state=0
    )
    clf.fit(X, np.array(["a", "b", "c"])[y])
    assert seen["n_features_in_"] == 2
    assert seen["n_classes_"] == 3
    assert seen["n_outputs_"] == 3
    assert seen["output_activation"] == "softmax"
    assert list(seen["classes_"]) == ["a", "b", "c"]
    assert clf.model_.layers[0].units == 12
    assert clf.score(X, np.array(["a", "b", "c"])[y]) > 0.9


def test_model_function_binary_softmax_and_wrong_width(blobs):
    X, y = blobs
    X, y = X[y < 2], y[y < 2]

    def two_softmax(meta):
        return Sequential([Input(shape=(2,)), Dense(2, activation="softmax")])

    clf = NeuralNetClassifier(
        model=two_softmax, epochs=50, optimizer__learning_rate=0.01, random_state=0
    ).fit(X, y)
    assert clf.predict_proba(X).shape == (len(X), 2)
    assert clf.score(X, y) > 0.9

    def five_outputs(meta):
        return Sequential([Input(shape=(2,)), Dense(5, activation="softmax")])

    with pytest.raises(ValueError, match=r"5 output\(s\).*Dense\(1, activation='sigmoid'\)"):
        NeuralNetClassifier(model=five_outputs).fit(X, y)


# ------------------------------------------------------------------ partial_fit, callbacks
def test_partial_fit_continues_training(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(**_SMALL, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    losses = []
    for _ in range(15):
        clf.partial_fit(X, y, classes=[0, 1, 2])
        losses.append(clf.history_["loss"][-1])
    assert len(clf.history_["loss"]) == 15
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match=r"label\(s\) \[5\]"):
        clf.partial_fit(X[:2], [0, 5])


def test_pickled_estimator_predicts_and_trains_on_the_same():
    X, y = load_iris(return_X_y=True)
    clf = NeuralNetClassifier(**_SMALL, random_state=0).fit(X, y)
    data = pickle.dumps(clf)
    assert b"axonal.models" not in data  # the network travels as an archive, not as objects
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    # the optimizer state and the random stream travel too: the next step is the same
    clf.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_callbacks_validation_split_and_verbose(blobs, capsys):
    X, y = blobs
    stopper = EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)
    clf = NeuralNetClassifier(
        **{**_SMALL, "epochs": 40}, callbacks=[stopper], validation_split=0.2, random_state=0
    ).fit(X, y)
    assert "val_loss" in clf.history_
    assert len(clf.history_["loss"]) < 40  # the copy of the callback stopped training
    assert stopper.model is None or stopper.model is not clf.model_
    assert capsys.readouterr().out == ""
