"""IMDB movie-review sentiment, as ``keras.datasets.imdb``, from a pickle-free file.

Keras's ``imdb.npz`` stores each review as a Python list inside an object array, which NumPy
can only read by unpickling (and unpickling can run arbitrary code), so axonal refuses it. It
reads ``$AXONAL_HOME/imdb.npz`` in this flat, pickle-free layout instead:

- ``x_train``: int ``(total_words,)``, every training review's word indices, one after another,
- ``x_train_lengths``: int ``(25000,)``, each review's length,
- ``y_train``: int ``(25000,)``, 0 (negative) or 1 (positive),
- ``x_test``, ``x_test_lengths``, ``y_test``: the same for the test reviews.

Word indices are Keras's raw ones (before ``start_char``/``index_from`` are applied). To make
the file once, where you trust Keras's pickled file: load it with NumPy (pickle enabled), and
for each part ``train``/``test`` save ``x_<part>`` = the reviews concatenated as one int32
array, ``x_<part>_lengths`` = each review's length and ``y_<part>`` = the labels, with
``numpy.savez``; put the result at ``$AXONAL_HOME/imdb.npz``.
"""

from __future__ import annotations

import json

import numpy

from axonal.datasets import _files

FILE = "imdb.npz"
WORD_INDEX_FILE = "imdb_word_index.json"
_KEYS = ("x_train", "x_train_lengths", "y_train", "x_test", "x_test_lengths", "y_test")
_HOW = (
    " axonal reads IMDB only from a pickle-free imdb.npz holding x_train (all word indices, "
    "concatenated), x_train_lengths, y_train, x_test, x_test_lengths and y_test; see "
    "axonal.datasets.imdb's docstring for a three-line conversion of Keras's file."
)


def _split(flat: numpy.ndarray, lengths: numpy.ndarray, part: str) -> list[list[int]]:
    lengths = numpy.asarray(lengths)
    if flat.ndim != 1 or lengths.ndim != 1 or flat.dtype.kind not in "iu":
        raise ValueError(f"imdb.npz: x_{part} must be a 1-D integer array with 1-D lengths.")
    if (lengths < 0).any() or int(lengths.sum()) != len(flat):
        raise ValueError(
            f"imdb.npz: x_{part}_lengths sums to {int(lengths.sum())}, x_{part} holds "
            f"{len(flat)} words."
        )
    ends = numpy.cumsum(lengths)
    return [
        flat[end - n : end].tolist() for n, end in zip(lengths.tolist(), ends.tolist(), strict=True)
    ]


def load_data(
    path: str = FILE,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
):
    """Load IMDB reviews from ``$AXONAL_HOME/imdb.npz`` (see the module docstring).

    Arguments and processing are Keras's: reviews are shuffled with ``seed``, ``start_char``
    is prepended and indices shifted by ``index_from``, reviews of ``maxlen`` words or more
    dropped, and words outside ``[skip_top, num_words)`` replaced by ``oov_char`` (or removed).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of ints ``(25000,)``
        and int64 labels ``(25000,)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)
    """
    file = _files.fetch(path, None, "IMDB", _HOW)
    arrays = _files.load_npz(file, _KEYS, "IMDB", _HOW)
    x_train = _split(arrays["x_train"], arrays["x_train_lengths"], "train")
    x_test = _split(arrays["x_test"], arrays["x_test_lengths"], "test")
    labels_train = arrays["y_train"].astype(numpy.int64)
    labels_test = arrays["y_test"].astype(numpy.int64)
    if len(x_train) != len(labels_train) or len(x_test) != len(labels_test):
        raise ValueError("imdb.npz: the number of reviews and of labels differ.")

    rng = numpy.random.RandomState(seed)
    indices = numpy.arange(len(x_train))
    rng.shuffle(indices)
    x_train = [x_train[i] for i in indices]
    labels_train = labels_train[indices]
    indices = numpy.arange(len(x_test))
    rng.shuffle(indices)
    x_test = [x_test[i] for i in indices]
    labels_test = labels_test[indices]

    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    if maxlen:
        keep = [i for i, x in enumerate(x_train) if len(x) < maxlen]
        x_train, labels_train = [x_train[i] for i in keep], labels_train[keep]
        keep = [i for i, x in enumerate(x_test) if len(x) < maxlen]
        x_test, labels_test = [x_test[i] for i in keep], labels_test[keep]
        if not x_train or not x_test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen."
            )
    xs = x_train + x_test
    labels = numpy.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs if x)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = len(x_train)
    out_train = numpy.empty(idx, dtype=object)
    out_train[:] = xs[:idx]
    out_test = numpy.empty(len(xs) - idx, dtype=object)
    out_test[:] = xs[idx:]
    return (out_train, labels[:idx]), (out_test, labels[idx:])


def get_word_index(path: str = WORD_INDEX_FILE) -> dict[str, int]:
    """Keras's word → index dictionary, from ``$AXONAL_HOME/imdb_word_index.json`` (JSON)."""
    file = _files.fetch(path, _files.KERAS_ORIGIN + WORD_INDEX_FILE, "IMDB word index")
    with open(file, encoding="utf-8") as handle:
        index = json.load(handle)
    if not isinstance(index, dict):
        raise ValueError(f"{file} is not a JSON object of word -> index.")
    return index
