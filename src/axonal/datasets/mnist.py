"""MNIST handwritten digits, as ``keras.datasets.mnist``."""

from __future__ import annotations

from axonal.datasets import _files

FILE = "mnist.npz"
ORIGIN = _files.KERAS_ORIGIN + FILE


def load_data(path: str = FILE):
    """Load MNIST from ``$AXONAL_HOME/mnist.npz`` (downloaded when missing and online).

    The file is Keras's ``mnist.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
        ``(10000, 28, 28)``, uint8 labels ``(60000,)`` and ``(10000,)`` (0–9).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
    """
    file = _files.fetch(path, ORIGIN if path == FILE else None, "MNIST")
    arrays = _files.load_npz(file, ("x_train", "y_train", "x_test", "y_test"), "MNIST")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
