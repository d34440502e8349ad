"""The Keras-style data set loaders on tiny files written in the standard (safe) formats."""

import gzip

import numpy as np
import pytest

from axonal.datasets import _files, boston_housing, cifar10, fashion_mnist, imdb, mnist


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path))

    def offline(url, destination):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(_files, "download", offline)
    return tmp_path


def _check(split, shapes, dtypes):
    (x_train, y_train), (x_test, y_test) = split
    got = [a.shape for a in (x_train, y_train, x_test, y_test)]
    assert got == shapes
    assert [a.dtype for a in (x_train, y_train, x_test, y_test)] == [np.dtype(d) for d in dtypes]


def test_mnist(home):
    rng = np.random.default_rng(0)
    np.savez(
        home / "mnist.npz",
        x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        y_train=np.arange(6, dtype=np.uint8),
        x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        y_test=np.arange(2, dtype=np.uint8),
    )
    _check(mnist.load_data(), [(6, 28, 28), (6,), (2, 28, 28), (2,)], ["uint8"] * 4)


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist(home):
    folder = home / "fashion-mnist"
    folder.mkdir()
    images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
    _idx(folder / "train-labels-idx1-ubyte.gz", np.arange(5))
    _idx(folder / "train-images-idx3-ubyte.gz", images)
    _idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(3))
    _idx(folder / "t10k-images-idx3-ubyte.gz", images[:3])
    split = fashion_mnist.load_data()
    _check(split, [(5, 28, 28), (5,), (3, 28, 28), (3,)], ["uint8"] * 4)
    assert np.array_equal(split[0][0], images)


def test_cifar10_npz_and_channels_first(home):
    x = np.random.default_rng(1).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    np.savez(home / "cifar10.npz", x_train=x, y_train=np.arange(4), x_test=x[:2], y_test=[1, 2])
    split = cifar10.load_data()
    _check(split, [(4, 32, 32, 3), (4, 1), (2, 32, 32, 3), (2, 1)], ["uint8"] * 4)
    assert np.array_equal(split[0][0], x.transpose(0, 2, 3, 1))


def test_cifar10_missing_explains_the_safe_format(home):
    with pytest.raises(FileNotFoundError, match="cifar10.npz") as info:
        cifar10.load_data()
    assert str(home / "cifar10.npz") in str(info.value)
    assert "pickle" in str(info.value)


def _imdb_file(path):
    train = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    test = [[4, 5], [6]]
    np.savez(
        path,
        x_train=np.concatenate([np.array(x) for x in train]),
        x_train_lengths=[len(x) for x in train],
        y_train=[0, 1, 1],
        x_test=np.concatenate([np.array(x) for x in test]),
        x_test_lengths=[len(x) for x in test],
        y_test=[1, 0],
    )
    return train, test


def test_imdb_matches_keras_processing(home):
    train, _ = _imdb_file(home / "imdb.npz")
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=14)
    assert x_train.shape == (3,) and x_test.shape == (2,)
    assert x_train.dtype == object and y_train.dtype == np.int64
    order = np.arange(3)
    np.random.RandomState(113).shuffle(order)
    expected = [[1] + [w + 3 if w + 3 < 14 else 2 for w in train[i]] for i in order]
    assert [list(x) for x in x_train] == expected
    (short, _), _ = imdb.load_data(maxlen=4)
    assert all(len(x) < 4 for x in short)


def test_imdb_refuses_a_pickled_file(home):
    xs = np.empty(2, dtype=object)
    xs[:] = [[1, 2], [3]]
    np.savez(home / "imdb.npz", x_train=xs, y_train=[0, 1], x_test=xs, y_test=[0, 1])
    with pytest.raises(ValueError, match="never unpickles"):
        imdb.load_data()


def test_boston_housing_split_like_keras(home):
    x = np.arange(20 * 13, dtype=np.float64).reshape(20, 13)
    y = np.arange(20, dtype=np.float64)
    np.savez(home / "boston_housing.npz", x=x, y=y)
    split = boston_housing.load_data()
    _check(split, [(16, 13), (16,), (4, 13), (4,)], ["float64"] * 4)
    order = np.arange(20)
    np.random.RandomState(113).shuffle(order)
    assert np.array_equal(split[0][1], y[order[:16]])


@pytest.mark.parametrize(
    "loader, name",
    [
        (mnist.load_data, "mnist.npz"),
        (boston_housing.load_data, "boston_housing.npz"),
        (fashion_mnist.load_data, "train-labels-idx1-ubyte.gz"),
        (imdb.load_data, "imdb.npz"),
    ],
)
def test_offline_without_cache_says_where_to_put_the_file(home, loader, name):
    with pytest.raises(FileNotFoundError) as info:
        loader()
    message = str(info.value)
    assert name in message and str(home) in message


def test_download_used_when_missing(home, monkeypatch):
    def fake(url, destination):
        assert url.endswith("mnist.npz")
        zeros = np.zeros((1, 28, 28), np.uint8)
        np.savez(destination, x_train=zeros, y_train=[1], x_test=zeros, y_test=[2])

    monkeypatch.setattr(_files, "download", fake)
    (x_train, _), _ = mnist.load_data()
    assert x_train.shape == (1, 28, 28)


def test_default_home(monkeypatch):
    monkeypatch.delenv("AXONAL_HOME", raising=False)
    assert str(_files.cache_dir()).endswith(".axonal/datasets")
