"""Fashion-MNIST clothing images, as ``keras.datasets.fashion_mnist``."""

from __future__ import annotations

import gzip

import numpy

from axonal.datasets import _files

FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
FOLDER = "fashion-mnist"
# no idx file of the data set is larger than this once inflated
_MAX_BYTES = 64 * 1024 * 1024


def _read_idx(path, ndim: int) -> numpy.ndarray:
    """An unsigned-byte idx array (the MNIST file format) from a gzip file."""
    with gzip.open(path, "rb") as handle:
        data = handle.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise ValueError(f"{path} inflates to more than {_MAX_BYTES} bytes; refused.")
    header = 4 + 4 * ndim
    if len(data) < header or data[:2] != b"\0\0" or data[2] != 0x08 or data[3] != ndim:
        raise ValueError(
            f"{path} is not an idx file of unsigned bytes with {ndim} dimension(s) (its magic "
            f"number is {data[:4].hex() or 'missing'}, expected 0000080{ndim})."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(numpy.prod(shape))
    if len(data) - header != count:
        raise ValueError(
            f"{path} declares shape {shape} ({count} bytes) but holds {len(data) - header}."
        )
    return numpy.frombuffer(data, numpy.uint8, offset=header).reshape(shape).copy()


def load_data():
    """Load Fashion-MNIST from ``$AXONAL_HOME/fashion-mnist/`` (downloaded when missing).

    The folder holds the four original gzip idx files (``train-labels-idx1-ubyte.gz``,
    ``train-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
        ``(10000, 28, 28)``, uint8 labels ``(60000,)`` and ``(10000,)`` (0–9).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    """
    paths = [
        _files.fetch(f"{FOLDER}/{name}", _files.KERAS_ORIGIN + name, "Fashion-MNIST")
        for name in FILES
    ]
    y_train = _read_idx(paths[0], 1)
    x_train = _read_idx(paths[1], 3)
    y_test = _read_idx(paths[2], 1)
    x_test = _read_idx(paths[3], 3)
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(x) != len(y):
            raise ValueError(f"Fashion-MNIST {part}: {len(x)} images but {len(y)} labels.")
    return (x_train, y_train), (x_test, y_test)
