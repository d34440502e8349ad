"""CIFAR-10 small images, as ``keras.datasets.cifar10``, from a pickle-free file.

The original ``cifar-10-batches-py`` archive stores its batches as Python pickles, and
unpickling can run arbitrary code, so axonal does not read it. It reads ``cifar10.npz`` instead:
an uncompressed or compressed NumPy archive with

- ``x_train``: uint8 ``(50000, 32, 32, 3)`` (channels last) or ``(50000, 3, 32, 32)``,
- ``y_train``: integer ``(50000,)`` or ``(50000, 1)``,
- ``x_test``, ``y_test``: the same for the 10000 test images.

To make it once, where you trust the pickles (with Keras installed, say)::

    import numpy as np, keras
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    np.savez("cifar10.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

and put it at ``$AXONAL_HOME/cifar10.npz`` (default ``~/.axonal/datasets/cifar10.npz``).
"""

from __future__ import annotations

import numpy

from axonal.datasets import _files

FILE = "cifar10.npz"
_HOW = (
    " axonal reads CIFAR-10 only from a pickle-free cifar10.npz (x_train uint8 (50000, 32, 32, "
    "3), y_train (50000, 1), x_test, y_test), because the original cifar-10-batches-py files "
    "are Python pickles and unpickling can run code. Make it once where you trust the "
    "pickles: `(a, b), (c, d) = keras.datasets.cifar10.load_data(); numpy.savez('cifar10.npz', "
    "x_train=a, y_train=b, x_test=c, y_test=d)`; see axonal.datasets.cifar10's docstring."
)


def _images(x: numpy.ndarray, part: str) -> numpy.ndarray:
    if x.ndim != 4 or (x.shape[1:] != (32, 32, 3) and x.shape[1:] != (3, 32, 32)):
        raise ValueError(f"cifar10.npz {part} has shape {x.shape}, expected (n, 32, 32, 3).")
    if x.shape[1:] == (3, 32, 32):
        # the original batches are channels first; Keras returns channels last
        x = x.transpose(0, 2, 3, 1)
    return numpy.ascontiguousarray(x, dtype=numpy.uint8)


def load_data():
    """Load CIFAR-10 from ``$AXONAL_HOME/cifar10.npz`` (see the module docstring).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(50000, 32, 32, 3)`` and
        ``(10000, 32, 32, 3)``, uint8 labels ``(50000, 1)`` and ``(10000, 1)`` (0–9).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    """
    file = _files.fetch(FILE, None, "CIFAR-10", _HOW)
    arrays = _files.load_npz(file, ("x_train", "y_train", "x_test", "y_test"), "CIFAR-10", _HOW)
    x_train = _images(arrays["x_train"], "x_train")
    x_test = _images(arrays["x_test"], "x_test")
    y_train = arrays["y_train"].reshape(len(x_train), 1).astype(numpy.uint8)
    y_test = arrays["y_test"].reshape(len(x_test), 1).astype(numpy.uint8)
    return (x_train, y_train), (x_test, y_test)
