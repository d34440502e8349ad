"""The bundled iris table and the split / standardise helpers agree with scikit-learn exactly."""

import csv
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy
import pytest

from axonal.datasets import load_iris, standardize, train_test_split

sklearn_datasets = pytest.importorskip("sklearn.datasets")
sklearn_model_selection = pytest.importorskip("sklearn.model_selection")
sklearn_preprocessing = pytest.importorskip("sklearn.preprocessing")

SRC = Path(__file__).resolve().parents[1] / "src"


def test_load_iris_matches_scikit_learn_exactly():
    x, y = load_iris()
    reference = sklearn_datasets.load_iris()
    assert x.dtype == numpy.float64
    assert y.dtype == numpy.int64
    assert x.shape == (150, 4)
    assert y.shape == (150,)
    numpy.testing.assert_array_equal(x, reference.data)
    numpy.testing.assert_array_equal(y, reference.target)


def test_bundled_iris_csv_names_the_species_as_scikit_learn_numbers_them():
    # the table is the real iris data: species names, not class numbers
    reference = sklearn_datasets.load_iris()
    table = resources.files("axonal.datasets").joinpath("iris.csv")
    with table.open("r", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["species"] for row in rows] == [
        str(reference.target_names[k]) for k in reference.target
    ]
    assert list(reference.target_names) == ["setosa", "versicolor", "virginica"]


def test_load_iris_needs_no_scikit_learn():
    code = (
        "import sys; from axonal.datasets import load_iris; load_iris(); "
        "assert 'sklearn' not in sys.modules, 'sklearn was imported'"
    )
    # a bare checkout is importable through src/; an installed axonal works either way
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("random_state", [0, 1, 7, 42, 123, 2**31 - 1])
@pytest.mark.parametrize("test_size", [0.2, 0.25, 0.1, 0.5, 0.33, 1, 17, 149])
def test_train_test_split_matches_scikit_learn(random_state, test_size):
    x, y = load_iris()
    ours = train_test_split(x, y, test_size=test_size, random_state=random_state)
    theirs = sklearn_model_selection.train_test_split(
        x, y, test_size=test_size, random_state=random_state
    )
    for got, expected in zip(ours, theirs, strict=True):
        assert got.shape == expected.shape
        numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n_samples", [2, 3, 10, 11, 99, 101])
def test_train_test_split_sizes_match_scikit_learn(n_samples):
    x = numpy.arange(n_samples * 2).reshape(n_samples, 2)
    y = numpy.arange(n_samples)
    ours = train_test_split(x, y, test_size=0.2, random_state=42)
    theirs = sklearn_model_selection.train_test_split(x, y, test_size=0.2, random_state=42)
    for got, expected in zip(ours, theirs, strict=True):
        numpy.testing.assert_array_equal(got, expected)


def test_train_test_split_iris_sizes_and_partition():
    x, y = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    assert x_train.shape == (120, 4)
    assert x_test.shape == (30, 4)
    assert y_train.shape == (120,)
    assert y_test.shape == (30,)
    # every row lands in exactly one part
    rows = numpy.concatenate([x_train, x_test])
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, x.tolist()))


def test_train_test_split_without_random_state_follows_axonal_seed():
    from axonal import backend

    x, y = load_iris()
    backend.set_random_seed(3)
    first = train_test_split(x, y)
    backend.set_random_seed(3)
    second = train_test_split(x, y)
    for a, b in zip(first, second, strict=True):
        numpy.testing.assert_array_equal(a, b)
    assert len(first[0]) == 120


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_size": 0.0}, "test_size=0.0"),
        ({"test_size": 1.0}, "test_size=1.0"),
        ({"test_size": 150}, "test_size=150"),
        ({"test_size": 0}, "test_size=0"),
        ({"test_size": "a"}, "test_size"),
        ({"random_state": 1.5}, "random_state"),
    ],
)
def test_train_test_split_rejects_bad_arguments(kwargs, message):
    x, y = load_iris()
    with pytest.raises(ValueError, match=message):
        train_test_split(x, y, **kwargs)


def test_train_test_split_names_both_lengths_on_mismatch():
    x, y = load_iris()
    with pytest.raises(ValueError, match="150 rows in x and 149 in y"):
        train_test_split(x, y[:-1], random_state=0)


@pytest.mark.parametrize("random_state", [0, 42])
def test_standardize_matches_standard_scaler(random_state):
    x, y = load_iris()
    x_train, x_test, _, _ = train_test_split(x, y, test_size=0.2, random_state=random_state)
    ours_train, ours_test = standardize(x_train, x_test)
    scaler = sklearn_preprocessing.StandardScaler()
    theirs_train = scaler.fit_transform(x_train)
    theirs_test = scaler.transform(x_test)
    assert ours_train.dtype == numpy.float64
    numpy.testing.assert_allclose(ours_train, theirs_train, rtol=1e-13, atol=1e-13)
    numpy.testing.assert_allclose(ours_test, theirs_test, rtol=1e-13, atol=1e-13)
    numpy.testing.assert_allclose(ours_train.mean(axis=0), 0.0, atol=1e-12)
    numpy.testing.assert_allclose(ours_train.std(axis=0), 1.0, rtol=1e-12)


def test_standardize_constant_column_has_scale_one():
    x_train = numpy.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    x_test = numpy.array([[4.0, 6.0]])
    ours_train, ours_test = standardize(x_train, x_test)
    scaler = sklearn_preprocessing.StandardScaler()
    numpy.testing.assert_allclose(ours_train, scaler.fit_transform(x_train), rtol=1e-13)
    numpy.testing.assert_allclose(ours_test, scaler.transform(x_test), rtol=1e-13)
    numpy.testing.assert_array_equal(ours_train[:, 1], 0.0)
    numpy.testing.assert_array_equal(ours_test[:, 1], 1.0)


def test_standardize_keeps_float32_and_accepts_ints():
    train32, test32 = standardize(numpy.ones((3, 2), numpy.float32), numpy.ones((1, 2), "f4"))
    assert train32.dtype == numpy.float32
    assert test32.dtype == numpy.float32
    train_int, _ = standardize([[1, 2], [3, 4]], [[5, 6]])
    assert train_int.dtype == numpy.float64
    numpy.testing.assert_array_equal(train_int, [[-1.0, -1.0], [1.0, 1.0]])


def test_standardize_rejects_feature_mismatch():
    with pytest.raises(ValueError, match="same number of features, received 2 and 3"):
        standardize(numpy.ones((3, 2)), numpy.ones((1, 3)))
