"""A seeded mutation fuzzer for every model loader axonal has (issue 16, item 5).

The loaders: ``saving.load_model`` on ``.axonal`` archives and on Keras 3 ``.keras`` files,
``saving.load_weights`` / ``Model.load_weights``, ``saving.model_from_json`` and unpickling the
``axonal.sklearn`` estimators (whose state embeds an ``.axonal`` archive).

The contract, for every mutant of a good file: the loader either raises
``UnsafeOrCorruptFileError``, or returns a model that works — ``predict`` on two samples of the
model's declared input shape returns one row per sample (for an estimator: ``predict`` on
``n_features_in_`` columns). Anything else is a failure: another exception, a load that succeeds
but cannot predict, a mutant that takes longer than the time budget, a crash. ``load_weights``
must also leave the model untouched when it refuses (its documented promise). Warnings (such as
non-finite weights) are ignored.

Mutants are pure functions of ``random.Random(f"{seed}/{kind}/{index}")`` and of base files that
are generated per run (deterministically, with the zip clocks pinned). Each mutant runs in a
forked child with its address space capped, so a huge allocation fails fast and a hang or a
crash is recorded instead of taking the run down.

Run from the repository root::

    python -m tests.fuzz --n 3000 --seed 0 --kind all
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import copy
import dataclasses
import faulthandler
import importlib.util
import io
import json
import math
import os
import pickle
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np

import axonal
from axonal import saving, weight_budget
from axonal.saving import UnsafeOrCorruptFileError

KINDS = ("axonal", "keras", "json", "weights", "sklearn")
# seconds one mutant (load and predict) may take
TIME_BUDGET = 5.0
# bytes of address space a mutant's child may add to what the parent already maps
MEMORY_BUDGET = 4 << 30
# a declared input of two samples larger than this is not fed to predict: the loader's own
# probe skips such inputs too (it never allocates them), so nothing is promised about running them
MAX_INPUT_ELEMENTS = weight_budget.MAX_PROBE_ELEMENTS

_PACKAGE_DIR = os.path.dirname(os.path.abspath(axonal.__file__))
_FIXED_CLOCK = time.struct_time((2020, 1, 1, 0, 0, 0, 2, 1, 0))


# =============================================================================== base files


@dataclasses.dataclass
class Base:
    """One good file (or state) that mutants are made from, and how to check what loads."""

    name: str
    input_shapes: list  # per input, batch axis first (None), used when the model declares none
    fill: str = "normal"  # "normal" or "zeros" (an Embedding's inputs are indices)
    archive: bytes | None = None  # Model.save's .axonal archive
    weights: bytes | None = None  # Model.save_weights's .npz
    json_text: str | None = None  # Model.to_json
    keras: bytes | None = None  # a Keras 3 .keras archive
    estimator_class: type | None = None
    state: dict | None = None  # an estimator's __getstate__()
    n_features: int | None = None


def _mlp():
    from axonal.layers import Dense, Input
    from axonal.models import Sequential

    return Sequential(
        [Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")]
    )


def _branches():
    from axonal.layers import Concatenate, Dense, Input
    from axonal.models import Model

    inputs = Input(shape=(4,))
    left = Dense(5, activation="tanh")(inputs)
    right = Dense(3)(inputs)
    joined = Concatenate()([left, right])
    return Model(inputs, Dense(2)(joined))


def _conv():
    from axonal.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
    from axonal.models import Sequential

    return Sequential(
        [
            Input(shape=(8, 8, 1)),
            Conv2D(4, 3, padding="same", activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dense(3, activation="softmax"),
        ]
    )


def _lstm():
    from axonal.layers import LSTM, Dense, Embedding, Input
    from axonal.models import Sequential

    return Sequential([Input(shape=(None,)), Embedding(20, 4), LSTM(5), Dense(2)])


# name -> (builder of the architecture, its declared input shapes, input fill)
ARCHITECTURES: dict[str, tuple[Callable, list, str]] = {
    "mlp": (_mlp, [(None, 4)], "normal"),
    "branches": (_branches, [(None, 4)], "normal"),
    "conv": (_conv, [(None, 8, 8, 1)], "normal"),
    "lstm": (_lstm, [(None, 6)], "zeros"),
}


def build_architecture(name: str):
    """A fresh, untrained model of base ``name``, its layers named as in the base files."""
    axonal.utils.clear_session()
    axonal.utils.set_random_seed(0)
    return ARCHITECTURES[name][0]()


def _train(name: str, model) -> None:
    """Compile (so the archive holds optimizer state) and fit one epoch on random data."""
    from axonal import optimizers

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    if name == "mlp":
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        y = rng.integers(0, 3, 16)
    elif name == "branches":
        model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
        y = rng.normal(size=(16, 2)).astype("float32")
    elif name == "conv":
        model.compile(
            optimizer=optimizers.SGD(momentum=0.9), loss="sparse_categorical_crossentropy"
        )
        x = rng.normal(size=(16, 8, 8, 1)).astype("float32")
        y = rng.integers(0, 3, 16)
    else:
        model.compile(optimizer="adam", loss="mse")
        x = rng.integers(0, 20, size=(16, 6))
        y = rng.normal(size=(16, 2)).astype("float32")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


@contextlib.contextmanager
def _fixed_clock() -> Iterator[None]:
    """Pin the clock zip headers read, so the base archives are the same bytes every run."""
    with mock.patch.object(time, "localtime", lambda *args: _FIXED_CLOCK):
        yield


def _model_base(name: str, folder: str) -> Base:
    _, shapes, fill = ARCHITECTURES[name]
    model = build_architecture(name)
    _train(name, model)
    archive = os.path.join(folder, f"{name}.axonal")
    weights = os.path.join(folder, f"{name}.weights.npz")
    with _fixed_clock(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(archive)
        model.save_weights(weights)
    with open(archive, "rb") as handle:
        archive_bytes = handle.read()
    with open(weights, "rb") as handle:
        weights_bytes = handle.read()
    return Base(
        name,
        shapes,
        fill,
        archive=archive_bytes,
        weights=weights_bytes,
        json_text=model.to_json(),
    )


# Written to a file and run with KERAS_BACKEND=torch in a child process, so that torch is
# never imported here (forked mutants stay small). Clocks, seeds and object ids are pinned.
_KERAS_SCRIPT = r"""
import json, os, sys, time, zipfile
os.environ["KERAS_BACKEND"] = "torch"
time.localtime = lambda *args: time.struct_time((2020, 1, 1, 0, 0, 0, 2, 1, 0))
import numpy as np
import keras

folder = sys.argv[1]
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(16, 4)).astype("float32")

seq = keras.Sequential(
    [keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
     keras.layers.Dense(3, activation="softmax")]
)
seq.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
seq.fit(x, rng.integers(0, 3, 16), epochs=1, batch_size=8, verbose=0)

inputs = keras.Input(shape=(4,))
left = keras.layers.Dense(5, activation="tanh")(inputs)
right = keras.layers.Dense(3)(inputs)
joined = keras.layers.Concatenate()([left, right])
fun = keras.Model(inputs, keras.layers.Dense(2)(joined))
fun.compile(optimizer="rmsprop", loss="mse")
fun.fit(x, rng.normal(size=(16, 2)), epochs=1, batch_size=8, verbose=0)


def pinned(text):
    ids = {}
    def stable(match):
        return '"shared_object_id": %d' % ids.setdefault(match.group(1), len(ids))
    import re
    text = re.sub(r'"shared_object_id": (\d+)', stable, text)
    return re.sub(r'"date_saved": "[^"]*"', '"date_saved": "2020-01-01@00:00:00"', text)


for model, name in ((seq, "keras_mlp"), (fun, "keras_branches")):
    path = os.path.join(folder, name + ".raw.keras")
    model.save(path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(
        os.path.join(folder, name + ".keras"), "w"
    ) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".json"):
                data = pinned(data.decode("utf-8")).encode("utf-8")
            out = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            out.compress_type = info.compress_type
            dst.writestr(out, data)
"""


def keras_unavailable() -> str | None:
    """Why real Keras files cannot be made or read here, or None."""
    for module in ("keras", "torch", "h5py"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


def _keras_bases(folder: str) -> list[Base]:
    script = os.path.join(folder, "make_keras_files.py")
    with open(script, "w") as handle:
        handle.write(_KERAS_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND="torch")
    done = subprocess.run(
        [sys.executable, script, folder], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"making the Keras files failed:\n{done.stderr[-3000:]}")
    bases = []
    for name in ("keras_mlp", "keras_branches"):
        with open(os.path.join(folder, name + ".keras"), "rb") as handle:
            bases.append(Base(name, [(None, 4)], "normal", keras=handle.read()))
    return bases


def _sklearn_bases() -> list[Base]:
    from sklearn.datasets import load_iris

    from axonal.sklearn import NeuralNetClassifier, NeuralNetRegressor

    X, y = load_iris(return_X_y=True)
    axonal.utils.clear_session()
    classifier = NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    regressor = NeuralNetRegressor(hidden_layer_sizes=(6,), epochs=3, random_state=0)
    with _fixed_clock(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier.fit(X, y)
        regressor.fit(X[:, :3], X[:, 3])
        return [
            Base(
                "iris_classifier",
                [(None, 4)],
                estimator_class=NeuralNetClassifier,
                state=classifier.__getstate__(),
                n_features=4,
            ),
            Base(
                "iris_regressor",
                [(None, 3)],
                estimator_class=NeuralNetRegressor,
                state=regressor.__getstate__(),
                n_features=3,
            ),
        ]


class Bases:
    """The base files of one run, made on first use and kept in ``folder``."""

    def __init__(self, folder: str):
        self.folder = folder
        self._made: dict[str, list[Base]] = {}
        self.unavailable: dict[str, str] = {}

    def models(self) -> list[Base]:
        if "models" not in self._made:
            self._made["models"] = [_model_base(name, self.folder) for name in ARCHITECTURES]
        return self._made["models"]

    def keras(self) -> list[Base]:
        if "keras" not in self._made:
            reason = keras_unavailable()
            if reason:
                self.unavailable["keras"] = reason
                self._made["keras"] = []
            else:
                self._made["keras"] = _keras_bases(self.folder)
        return self._made["keras"]

    def sklearn(self) -> list[Base]:
        if "sklearn" not in self._made:
            if importlib.util.find_spec("sklearn") is None:
                self.unavailable["sklearn"] = "scikit-learn is not installed"
                self._made["sklearn"] = []
            else:
                self._made["sklearn"] = _sklearn_bases()
        return self._made["sklearn"]

    def for_kind(self, kind: str) -> list[Base]:
        if kind == "keras":
            return self.keras()
        if kind == "sklearn":
            return self.sklearn()
        return self.models()


# =============================================================================== mutations: bytes

_SIGNATURES = (
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"PK\x06\x06",
    b"PK\x06\x07",
    b"\x93NUMPY",
    b"\x89HDF\r\n\x1a\n",
    b"OHDR",
    b"OCHK",
    b"TREE",
    b"HEAP",
    b"SNOD",
    b"BTHD",
    b"BTLF",
    b"FRHP",
    b"FHDB",
    b"FSHD",
    b"GCOL",
    b'"class_name"',
    b'"shape"',
    b"'shape'",
    b"'descr'",
)


def _hot_spots(data: bytes) -> list[int]:
    """Offsets of headers (zip, .npy, HDF5 metadata, config keys): where damage matters most."""
    spots = []
    for signature in _SIGNATURES:
        start = data.find(signature)
        while start != -1 and len(spots) < 4000:
            spots.append(start)
            start = data.find(signature, start + 1)
    return spots


def _offset(rng: random.Random, data: bytes) -> int:
    if not data:
        return 0
    spots = _hot_spots(data) if rng.random() < 0.6 else []
    if spots:
        return min(len(data) - 1, rng.choice(spots) + rng.randrange(0, 64))
    return rng.randrange(len(data))


def mutate_bytes(rng: random.Random, data: bytes, where: str) -> tuple[bytes, str]:
    """One byte-level damage to ``data``: flips, overwrites, integers, cuts, insertions."""
    buf = bytearray(data)
    op = rng.choice(
        ["flip", "flip", "overwrite", "integer", "truncate", "append", "insert", "delete"]
    )
    if not buf:
        op = "append"
    if op == "flip":
        flips = []
        for _ in range(rng.choice([1, 1, 2, 4, 8])):
            at = _offset(rng, data)
            bit = rng.randrange(8)
            buf[at] ^= 1 << bit
            flips.append(f"{at}.{bit}")
        return bytes(buf), f"{where}: flip bits {','.join(flips)}"
    if op == "overwrite":
        at = _offset(rng, data)
        count = rng.choice([1, 2, 4, 16])
        fill = rng.choice(["random", "zeros", "ff"])
        chunk = {
            "random": bytes(rng.randrange(256) for _ in range(count)),
            "zeros": bytes(count),
            "ff": b"\xff" * count,
        }[fill]
        buf[at : at + count] = chunk[: max(0, len(buf) - at)]
        return bytes(buf), f"{where}: overwrite {count} bytes at {at} with {fill}"
    if op == "integer":
        at = _offset(rng, data)
        size = rng.choice([2, 4, 8])
        value = rng.choice([0, 1, 2**31 - 1, 2 ** (8 * size) - 1, 2 ** (8 * size - 1), 10**6])
        value %= 2 ** (8 * size)
        packed = value.to_bytes(size, "little")
        buf[at : at + size] = packed[: max(0, len(buf) - at)]
        return bytes(buf), f"{where}: write {size}-byte integer {value} at {at}"
    if op == "truncate":
        at = rng.choice([0, 1, len(buf) // 2, len(buf) - 1, len(buf) - 22, _offset(rng, data)])
        at = max(0, min(at, len(buf) - 1))
        return bytes(buf[:at]), f"{where}: truncate to {at} bytes"
    if op == "append":
        kind = rng.choice(["random", "zeros", "copy", "eocd"])
        tail = {
            "random": bytes(rng.randrange(256) for _ in range(rng.choice([1, 100, 4096]))),
            "zeros": bytes(rng.choice([1, 1000, 1 << 16])),
            "copy": bytes(buf),
            "eocd": b"PK\x05\x06" + bytes(18),
        }[kind]
        return bytes(buf) + tail, f"{where}: append {len(tail)} bytes ({kind})"
    if op == "insert":
        at = _offset(rng, data)
        chunk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 3, 64])))
        buf[at:at] = chunk
        return bytes(buf), f"{where}: insert {len(chunk)} random bytes at {at}"
    at = _offset(rng, data)
    count = rng.choice([1, 4, 100, 1000])
    del buf[at : at + count]
    return bytes(buf), f"{where}: delete {count} bytes at {at}"


# (field, offset, size) of the zip records whose fields a patch may set
_ZIP_FIELDS = {
    b"PK\x03\x04": [
        ("version", 4, 2),
        ("flags", 6, 2),
        ("method", 8, 2),
        ("crc", 14, 4),
        ("compressed size", 18, 4),
        ("size", 22, 4),
        ("name length", 26, 2),
        ("extra length", 28, 2),
    ],
    b"PK\x01\x02": [
        ("flags", 8, 2),
        ("method", 10, 2),
        ("crc", 16, 4),
        ("compressed size", 20, 4),
        ("size", 24, 4),
        ("name length", 28, 2),
        ("extra length", 30, 2),
        ("comment length", 32, 2),
        ("disk", 34, 2),
        ("local header offset", 42, 4),
    ],
    b"PK\x05\x06": [
        ("disk", 4, 2),
        ("entries here", 8, 2),
        ("entries", 10, 2),
        ("directory size", 12, 4),
        ("directory offset", 16, 4),
        ("comment length", 20, 2),
    ],
    b"PK\x06\x06": [
        ("record size", 4, 8),
        ("entries here", 24, 8),
        ("entries", 32, 8),
        ("directory size", 40, 8),
        ("directory offset", 48, 8),
    ],
    b"PK\x06\x07": [("zip64 record offset", 8, 8), ("disks", 16, 4)],
}


def patch_zip_header(rng: random.Random, data: bytes, where: str) -> tuple[bytes, str]:
    """Set one field of one zip record (sizes, offsets, counts, flags, method, CRC)."""
    records = [
        (at, signature)
        for signature in _ZIP_FIELDS
        for at in [m.start() for m in re.finditer(re.escape(signature), data)]
    ]
    if not records:
        return mutate_bytes(rng, data, where)
    at, signature = rng.choice(records)
    field, offset, size = rng.choice(_ZIP_FIELDS[signature])
    start = at + offset
    if start + size > len(data):
        return mutate_bytes(rng, data, where)
    old = int.from_bytes(data[start : start + size], "little")
    top = 2 ** (8 * size) - 1
    values = [0, 1, old + 1, max(0, old - 1), old * 2, top, top - 1, 99, 12, 14]
    value = rng.choice([v for v in values if v != old and v <= top])
    patched = data[:start] + value.to_bytes(size, "little") + data[start + size :]
    return patched, f"{where}: zip record at {at}, {field} {old} -> {value}"


# =============================================================================== zip surgery

Member = tuple  # (name, bytes, compress_type)


def read_members(data: bytes) -> list[Member] | None:
    """A zip's members in order, or None when ``zipfile`` cannot read it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return [(i.filename, archive.read(i), i.compress_type) for i in archive.infolist()]
    except Exception:
        return None


def write_members(members: list[Member]) -> bytes:
    stream = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some mutants
        with zipfile.ZipFile(stream, "w", allowZip64=True) as archive:
            for name, data, method in members:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = method
                archive.writestr(info, data)
    return stream.getvalue()


_ODD_NAMES = [
    "../evil.npy",
    "/abs.npy",
    "a\\b.npy",
    "",
    "x",
    "config.json/",
    "CONFIG.JSON",
    "model.weights.npz.bak",
    "assets/x",
    "dense/kernel.npy",
    "dense/kernel",
    "iterations.npy",
    "\u00e9\u00e8.npy",
    "a" * 300,
    "./config.json",
    "metadata.json",
    "model.weights.h5",
    "optimizer.npz",
    "model.weights.npz",
]


def zip_surgery(rng: random.Random, members: list[Member], where: str) -> tuple[list, str]:
    """Drop, duplicate, rename, replace, reorder, recompress or add a member."""
    members = list(members)
    op = rng.choice(
        ["drop", "duplicate", "rename", "garbage", "reorder", "compression", "add", "swap"]
    )
    if not members:
        op = "add"
    i = rng.randrange(len(members)) if members else 0
    if op == "drop":
        name = members.pop(i)[0]
        return members, f"{where}: drop member {name!r}"
    if op == "duplicate":
        name, data, method = members[i]
        if rng.random() < 0.5:
            data = rng.choice([b"", b"{}", bytes(rng.randrange(256) for _ in range(50)), data])
        members.insert(rng.randrange(len(members) + 1), (name, data, method))
        return members, f"{where}: duplicate member {name!r}"
    if op == "rename":
        name, data, method = members[i]
        others = [m[0] for m in members if m[0] != name]
        new = rng.choice(_ODD_NAMES + others + [name.upper(), name + ".x", "x/" + name])
        members[i] = (new, data, method)
        return members, f"{where}: rename member {name!r} -> {new!r}"
    if op == "garbage":
        name, data, method = members[i]
        other = rng.choice(members)[1]
        new = rng.choice(
            [
                b"",
                bytes(rng.randrange(256) for _ in range(rng.choice([1, 64, 4096]))),
                other,
                data[: len(data) // 2],
                b"\x80\x04K\x01.",  # a pickle of the integer 1
                b'{"format": "axonal"}',
                bytes(1 << 20),
            ]
        )
        members[i] = (name, new, method)
        return members, f"{where}: replace member {name!r} with {len(new)} bytes of garbage"
    if op == "reorder":
        rng.shuffle(members)
        return members, f"{where}: reorder members to {[m[0] for m in members]}"
    if op == "compression":
        name, data, _ = members[i]
        method = rng.choice(
            [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
        )
        members[i] = (name, data, method)
        return members, f"{where}: store member {name!r} with compression method {method}"
    if op == "swap" and len(members) > 1:
        j = rng.choice([j for j in range(len(members)) if j != i])
        (a, da, ma), (b, db, mb) = members[i], members[j]
        members[i], members[j] = (a, db, ma), (b, da, mb)
        return members, f"{where}: swap the contents of {a!r} and {b!r}"
    name = rng.choice(_ODD_NAMES)
    data = rng.choice([b"", b"x" * 100, b'{"a": 1}', bytes(1 << 16)])
    members.insert(rng.randrange(len(members) + 1), (name, data, zipfile.ZIP_STORED))
    return members, f"{where}: add member {name!r} ({len(data)} bytes)"


# =============================================================================== npz tampering


def _npy_parts(data: bytes) -> tuple[str, bytes, tuple] | None:
    """(header text, array bytes, version) of a .npy, or None."""
    if not data.startswith(b"\x93NUMPY") or len(data) < 10:
        return None
    version = (data[6], data[7])
    if version == (1, 0):
        length = struct.unpack("<H", data[8:10])[0]
        start = 10
    elif len(data) >= 12:
        length = struct.unpack("<I", data[8:12])[0]
        start = 12
    else:
        return None
    header = data[start : start + length].decode("latin1")
    return header, data[start + length :], version


def _npy(header: str, body: bytes, version=(1, 0)) -> bytes:
    """A .npy with ``header`` taken as it is (it need not be valid)."""
    prefix = 10 if version[0] == 1 else 12
    text = header.rstrip("\n")
    text += " " * ((-(prefix + len(text) + 1)) % 64) + "\n"
    raw = text.encode("latin1", "replace")
    size = struct.pack("<H", len(raw) % 65536) if prefix == 10 else struct.pack("<I", len(raw))
    return b"\x93NUMPY" + bytes(version) + size + raw + body


def _header_fields(header: str) -> tuple[str, str, str]:
    """The descr, fortran_order and shape texts of a .npy header."""
    descr = re.search(r"'descr':\s*('[^']*'|\[.*?\]|\(.*?\))", header)
    order = re.search(r"'fortran_order':\s*(\w+)", header)
    shape = re.search(r"'shape':\s*(\([^)]*\))", header)
    return (
        descr.group(1) if descr else "'<f4'",
        order.group(1) if order else "False",
        shape.group(1) if shape else "()",
    )


def _header(descr: str, order: str, shape: str) -> str:
    return f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}"


def _shape_tuple(text: str) -> tuple:
    try:
        value = ast.literal_eval(text)
    except Exception:
        return ()
    return tuple(value) if isinstance(value, tuple) else ()


def _other_shape(rng: random.Random, shape: tuple) -> tuple:
    dims = list(shape)
    options = [
        tuple(reversed(dims)),
        tuple(dims + [1]),
        tuple(dims[:-1]),
        tuple(d * 2 for d in dims),
        tuple(0 for _ in dims),
        (10**12,) + tuple(dims[1:]),
        (2**62, 2**62),
        (-1,) + tuple(dims[1:]),
        (),
        (1,) * 40,
    ]
    return rng.choice([o for o in options if o != tuple(dims)])


_DESCRS = [
    "'<f8'",
    "'<f2'",
    "'>f4'",
    "'<i4'",
    "'|u1'",
    "'|b1'",
    "'<c8'",
    "'|O'",
    "'<U3'",
    "'|S4'",
    "'|V4'",
    "'<M8[s]'",
    "'garbage'",
    "[('a', '<f4')]",
    "('<f4', (2,))",
    "'<f16'",
    "''",
]


def tamper_npy(rng: random.Random, data: bytes, where: str) -> tuple[bytes, str]:
    """Damage one .npy: its header's shape, dtype, order, syntax, version, or its data."""
    parts = _npy_parts(data)
    if parts is None:
        return mutate_bytes(rng, data, where)
    header, body, version = parts
    descr, order, shape = _header_fields(header)
    op = rng.choice(["shape", "shape", "descr", "descr", "order", "syntax", "version", "data"])
    if op == "shape":
        new = repr(_other_shape(rng, _shape_tuple(shape)))
        return _npy(_header(descr, order, new), body, version), f"{where}: shape {shape} -> {new}"
    if op == "descr":
        new = rng.choice(_DESCRS)
        return _npy(_header(new, order, shape), body, version), f"{where}: descr {descr} -> {new}"
    if op == "order":
        return _npy(_header(descr, "True", shape), body, version), f"{where}: fortran_order True"
    if op == "syntax":
        new = rng.choice(
            [
                "",
                "{",
                "[1, 2]",
                "{'descr': '<f4'}",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), 'x': 1}",
                "__import__('os').getcwd()",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4,) * 10**6}",
                header + " " * 70000,
                _header(descr, "0", shape),
                _header(descr, "False", "[4, 8]"),
                _header(descr, "False", "(4.0, 8)"),
            ]
        )
        return _npy(new, body, version), f"{where}: header text -> {new[:60]!r}"
    if op == "version":
        new = rng.choice([(2, 0), (3, 0), (9, 9), (0, 0)])
        return _npy(header, body, new), f"{where}: .npy version {version} -> {new}"
    cut = rng.choice([0, len(body) // 2, max(0, len(body) - 1)])
    body = rng.choice([body[:cut], body + bytes(rng.choice([1, 4, 1000]))])
    return _npy(header, body, version), f"{where}: array data now {len(body)} bytes"


def _save_npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, allow_pickle=allow_pickle)
    return stream.getvalue()


def _load_npy(data: bytes) -> np.ndarray | None:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:
        return None


def tamper_npz(rng: random.Random, data: bytes, where: str) -> tuple[bytes, str]:
    """Damage an .npz: one array's header or data, swapped/extra/missing/object arrays."""
    members = read_members(data)
    if not members:
        return mutate_bytes(rng, data, where)
    op = rng.choice(
        ["npy", "npy", "npy", "values", "swap", "extra", "object", "zip", "zip", "bytes", "header"]
    )
    i = rng.randrange(len(members))
    name, content, method = members[i]
    member_where = f"{where}/{name}"
    if op == "npy":
        step = tamper_npy(rng, content, member_where)
        members[i] = (name, step[0], method)
        return write_members(members), step[1]
    if op == "values":
        array = _load_npy(content)
        if array is None:
            return mutate_bytes(rng, data, where)
        choice = rng.choice(["nan", "inf", "huge", "float64", "float16", "int32", "bool", "big"])
        if choice in ("nan", "inf", "huge"):
            value = {"nan": np.nan, "inf": np.inf, "huge": 3e38}[choice]
            new = np.full_like(array, value) if array.dtype.kind == "f" else array
        elif choice == "big":
            new = array.astype(array.dtype.newbyteorder(">"))
        else:
            new = array.astype(choice)
        members[i] = (name, _save_npy(new), method)
        return write_members(members), f"{member_where}: values/dtype -> {choice}"
    if op == "swap" and len(members) > 1:
        j = rng.choice([j for j in range(len(members)) if j != i])
        other = members[j][0]
        members[i], members[j] = (name, members[j][1], method), (other, content, members[j][2])
        return write_members(members), f"{where}: swap arrays {name!r} and {other!r}"
    if op == "extra":
        new_name = rng.choice(
            [name, name.replace(".npy", "_2.npy"), "extra.npy", "iterations.npy", "x/y/z.npy"]
        )
        array = rng.choice([np.zeros(3, "float32"), np.zeros((), "int64"), np.ones((4, 8))])
        members.insert(rng.randrange(len(members) + 1), (new_name, _save_npy(array), method))
        return write_members(members), f"{where}: add array {new_name!r} {array.shape}"
    if op == "object":
        array = np.array([1, "a", None], dtype=object)
        members[i] = (name, _save_npy(array, allow_pickle=True), method)
        return write_members(members), f"{member_where}: object-dtype (pickled) array"
    if op == "zip":
        new_members, step = zip_surgery(rng, members, where)
        return write_members(new_members), step
    if op == "bytes":
        new, step = mutate_bytes(rng, content, member_where)
        members[i] = (name, new, method)
        return write_members(members), step
    return patch_zip_header(rng, data, where)


# =============================================================================== JSON surgery

# config keys whose values shape the model: mutated more often than the others
_INTERESTING_KEYS = set(
    """units batch_input_shape batch_shape build_input_shape input_shape input_dim output_dim
    filters kernel_size strides pool_size padding axis rate activation recurrent_activation
    class_name name layers inbound_nodes args kwargs input_layers output_layers single_input
    single_output single dtype return_sequences use_bias optimizer loss loss_weights metrics
    weighted_metrics learning_rate momentum format format_version model compile config
    keras_history mask_zero data_format dilation_rate target_shape dims n""".split()
)

_DEEP = "@@FUZZ_DEEP_{}@@"


def _json_value(rng: random.Random) -> Any:
    """A value that may not belong where it is put."""
    return rng.choice(
        [
            10**7,
            10**12,
            10**30,
            2**63,
            -1,
            -(10**9),
            0,
            1,
            3,
            0.5,
            -2.5,
            1e308,
            float("nan"),
            float("inf"),
            float("-inf"),
            True,
            False,
            None,
            "",
            "x",
            "relu",
            "same",
            "float64",
            "int8",
            "complex128",
            "object",
            "channels_first",
            [],
            {},
            [None],
            [1, 2],
            [None, 4],
            [None, 10**7],
            [0, 0],
            [-1],
            [10**6, 10**6, 10**6],
            ["dense", 0, 0],
            [["dense", 0, 0]],
            ["nope", 5, 7],
            {"class_name": "Dense", "config": {"units": 1}},
            {"class_name": "NoSuchThing", "config": {}},
            {"module": "os", "class_name": "system", "config": {}},
            "A" * (1 << 20),
            _DEEP.format(rng.choice([100, 900, 5000, 100000])),
        ]
    )


def _paths(document: Any) -> list[tuple]:
    """Every (container, key) position in a JSON document, found without recursion."""
    found = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                found.append((node, key))
                stack.append(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found.append((node, index))
                stack.append(value)
    return found


def _pick(rng: random.Random, positions: list[tuple]) -> tuple | None:
    if not positions:
        return None
    if rng.random() < 0.6:
        interesting = [p for p in positions if p[1] in _INTERESTING_KEYS]
        if interesting:
            return rng.choice(interesting)
    return rng.choice(positions)


def _label(container: Any, key: Any) -> str:
    if isinstance(container, dict):
        name = container.get("name") if isinstance(container.get("name"), str) else None
        return f"{name + '.' if name else ''}{key}"
    return f"[{key}]"


def _short(value: Any) -> str:
    text = repr(value)
    if isinstance(value, str) and value.startswith("@@FUZZ_DEEP_"):
        return f"<list nested {value[12:-2]} deep>"
    return text if len(text) <= 60 else text[:40] + f"...({len(text)} chars)"


def _layer_lists(document: Any) -> list[list]:
    return [
        container[key]
        for container, key in _paths(document)
        if key == "layers"
        and isinstance(container[key], list)
        and all(isinstance(e, dict) for e in container[key])
    ]


def _new_layer(rng: random.Random, kind: str, index: int, keras: bool) -> dict:
    name = f"fuzz_{kind.lower()}_{index}"
    config: dict[str, Any] = {"name": name, "trainable": True, "dtype": "float32"}
    if kind == "Dropout":
        config["rate"] = 0.5
    elif kind == "Activation":
        config["activation"] = rng.choice(["relu", "tanh", "linear"])
    entry: dict[str, Any] = {"class_name": kind, "config": config}
    if keras:
        config["dtype"] = {
            "module": "keras",
            "class_name": "DTypePolicy",
            "config": {"name": "float32"},
            "registered_name": None,
        }
        entry = {"module": "keras.layers", **entry, "registered_name": None}
    return entry


def _references(node: Any) -> list[tuple]:
    """(container, key) of every tensor reference ``[name, node, index]`` under ``node``."""
    refs = []
    for container, key in _paths(node):
        value = container[key]
        if (
            isinstance(value, list)
            and len(value) == 3
            and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:])
        ):
            refs.append((container, key))
    return refs


def _insert_layers(rng: random.Random, document: Any, keras: bool) -> str | None:
    """Put a few thousand weightless layers into a layer list (chained in a functional one)."""
    lists = _layer_lists(document)
    if not lists:
        return None
    layers = rng.choice(lists)
    kind = rng.choice(["Identity", "Dropout", "Activation"])
    count = rng.choice([2, 100, 1000, 2000, 4000])
    news = [_new_layer(rng, kind, i, keras) for i in range(count)]
    targets = [e for e in layers if e.get("inbound_nodes")]
    if not targets:
        at = rng.randrange(len(layers) + 1)
        layers[at:at] = news
        return f"insert {count} {kind} layers at position {at}"
    target = rng.choice(targets)
    refs = _references(target["inbound_nodes"])
    if not refs:
        return None
    container, key = rng.choice(refs)
    source = container[key][0]
    template = target["inbound_nodes"][0]
    previous = source
    for entry in news:
        node = copy.deepcopy(template)
        node_refs = _references(node)
        if keras and node_refs:
            node["args"] = [_keras_tensor_for(node, previous)]
        else:
            node = {"args": [[previous, 0, 0]], "single": True, "kwargs": {}}
        entry["name"] = entry["config"]["name"]
        entry["inbound_nodes"] = [node]
        previous = entry["name"]
    container[key] = [previous, 0, 0]
    at = layers.index(target)
    layers[at:at] = news
    return f"insert a chain of {count} {kind} layers before {target.get('name')!r}"


def _keras_tensor_for(node: dict, name: str) -> dict:
    for container, key in _paths(node):
        value = container[key]
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            tensor = copy.deepcopy(value)
            tensor["config"]["keras_history"] = [name, 0, 0]
            return tensor
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


# class names a config may be given instead of its own: unknown ones, ones that hold code, and
# registered ones of every kind (a fixed list: the registry grows when tests register classes)
_CLASS_NAMES = (
    """NoSuchLayer Lambda TFSMLayer os.system builtins.eval __main__.Evil
    keras.layers.Dense Functional Sequential Model InputLayer TensorOperation ColumnNames dense
    __keras_tensor__ Dense Conv2D Conv1D LSTM GRU SimpleRNN Embedding Concatenate Add Dot Reshape
    Flatten Permute RepeatVector BatchNormalization LayerNormalization Normalization Rescaling
    Bidirectional TimeDistributed MaxPooling2D GlobalAveragePooling1D Masking Identity Dropout
    Activation Softmax Adam SGD DPOptimizer RMSprop MeanSquaredError SparseCategoricalCrossentropy
    mse Orthogonal Constant GlorotUniform L1L2 PiecewiseConstantDecay CosineDecayRestarts
    MeanMetricWrapper SparseTopKCategoricalAccuracy relu softmax""".split()
    + [""]
)


def _class_name(rng: random.Random) -> str:
    return rng.choice(_CLASS_NAMES)


def mutate_document(rng: random.Random, document: Any, keras: bool = False) -> tuple[Any, str]:
    """One structural change to a parsed JSON document (returns the new document)."""
    op = rng.choice(
        ["set", "set", "set", "swap", "delete", "insert", "layers", "class", "duplicate", "top"]
    )
    positions = _paths(document)
    if op == "layers":
        step = _insert_layers(rng, document, keras)
        if step:
            return document, step
        op = "set"
    if op == "class":
        names = [p for p in positions if p[1] == "class_name"]
        if names:
            container, key = rng.choice(names)
            new = _class_name(rng)
            old = container[key]
            container[key] = new
            return document, f"class_name {_short(old)} -> {new!r}"
        op = "set"
    if op == "duplicate":
        lists = _layer_lists(document)
        if lists:
            layers = rng.choice(lists)
            entry = copy.deepcopy(rng.choice(layers))
            layers.insert(rng.randrange(len(layers) + 1), entry)
            config = entry.get("config") if isinstance(entry, dict) else None
            name = config.get("name") if isinstance(config, dict) else None
            return document, f"duplicate layer {name!r}"
        op = "set"
    if op == "top":
        choice = rng.choice(["list", "number", "string", "model only", "null"])
        if choice == "model only" and isinstance(document, dict) and "model" in document:
            return document["model"], "keep only the 'model' object"
        new = {"list": [document], "number": 3, "string": "x", "null": None}.get(choice, [])
        return new, f"replace the whole document with a {choice}"
    place = _pick(rng, positions)
    if place is None:
        return [document], "wrap the document in a list"
    container, key = place
    if op == "swap":
        other_container, other_key = rng.choice(positions)
        old = container[key]
        new = copy.deepcopy(other_container[other_key])
        container[key] = new
        return document, f"{_label(container, key)}: {_short(old)} -> {_short(new)} (swapped in)"
    if op == "delete":
        del container[key]
        return document, f"delete {_label(container, key)}"
    if op == "insert":
        target = container[key] if isinstance(container[key], dict) else None
        if target is None:
            dicts = [c for c, _ in positions if isinstance(c, dict)]
            target = rng.choice(dicts) if dicts else None
        if target is not None:
            new_key = rng.choice(sorted(_INTERESTING_KEYS) + ["__class__", "fuzz", "", "x" * 9])
            value = _json_value(rng)
            target[new_key] = value
            return document, f"insert key {new_key!r} = {_short(value)}"
    old = container[key]
    value = _json_value(rng)
    container[key] = value
    return document, f"{_label(container, key)}: {_short(old)} -> {_short(value)}"


def _dumps(document: Any) -> str:
    text = json.dumps(document)
    for match in set(re.findall(r'"@@FUZZ_DEEP_(\d+)@@"', text)):
        depth = int(match)
        text = text.replace(f'"@@FUZZ_DEEP_{match}@@"', "[" * depth + "]" * depth)
    return text


def mutate_json_text(rng: random.Random, text: str, keras: bool = False) -> tuple[str, list[str]]:
    """One to three structural changes to a JSON text (falling back to text damage)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return mutate_text(rng, text)
    steps = []
    for _ in range(_count(rng)):
        document, step = mutate_document(rng, document, keras)
        steps.append(step)
    return _dumps(document), steps


def mutate_text(rng: random.Random, text: str) -> tuple[str, list[str]]:
    """Damage a text as characters: cuts, flips, odd characters."""
    if not text:
        return "{", ["empty text -> '{'"]
    at = rng.randrange(len(text))
    op = rng.choice(["truncate", "char", "insert", "surrogate", "nul"])
    if op == "truncate":
        return text[:at], [f"text: truncate to {at} characters"]
    if op == "char":
        new = rng.choice('{}[]",:0-eE\\ ')
        return text[:at] + new + text[at + 1 :], [f"text: character {at} -> {new!r}"]
    if op == "insert":
        new = rng.choice(["NaN", "Infinity", "1e999", "-0", '"', "\\u0000", "," * 3])
        return text[:at] + new + text[at:], [f"text: insert {new!r} at {at}"]
    if op == "surrogate":
        return text[:at] + "\ud800" + text[at:], [f"text: lone surrogate at {at}"]
    return text[:at] + "\x00" + text[at:], [f"text: NUL at {at}"]


def _count(rng: random.Random) -> int:
    return rng.choices([1, 2, 3], weights=[6, 3, 1])[0]


# =============================================================================== HDF5 surgery


def _h5_entries(data: bytes) -> list[tuple] | None:
    """A Keras weights file's objects in visit order: ("group", path, attrs) and
    ("dataset", path, array, attrs); None when h5py cannot read it."""
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            entries = [("group", "/", dict(handle.attrs))]

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    entries.append(("dataset", "/" + name, obj[()], dict(obj.attrs)))
                else:
                    entries.append(("group", "/" + name, dict(obj.attrs)))

            handle.visititems(visit)
            return entries
    except Exception:
        return None


def _write_h5(entries: list[tuple], extra: Callable | None = None) -> bytes:
    import h5py

    stream = io.BytesIO()
    with h5py.File(stream, "w") as handle:
        for entry in entries:
            kind, path = entry[0], entry[1]
            if kind == "group":
                group = handle.require_group(path) if path != "/" else handle
                for key, value in entry[2].items():
                    group.attrs[key] = value
            elif kind == "dataset":
                dataset = handle.create_dataset(path, data=entry[2], **(entry[4:5] or [{}])[0])
                for key, value in entry[3].items():
                    dataset.attrs[key] = value
            elif kind == "soft":
                handle[path] = h5py.SoftLink(entry[2])
            elif kind == "external":
                handle[path] = h5py.ExternalLink(entry[2], entry[3])
        if extra is not None:
            extra(handle)
    return stream.getvalue()


def _other_array(rng: random.Random, array: np.ndarray) -> tuple[np.ndarray, str]:
    choice = rng.choice(
        ["transpose", "extra axis", "drop row", "scalar", "empty", "float16", "float64", "int8"]
        + ["bool", "complex", "bytes", "compound", "nan", "big-endian", "huge values"]
    )
    if choice == "transpose":
        return array.T.copy(), choice
    if choice == "extra axis":
        return array[..., None], choice
    if choice == "drop row":
        return (array[:-1] if array.ndim else array), choice
    if choice == "scalar":
        return np.asarray(1.0, dtype=array.dtype), choice
    if choice == "empty":
        return np.zeros((0,), dtype=array.dtype), choice
    if choice in ("float16", "float64", "int8", "bool"):
        return array.astype(choice), choice
    if choice == "complex":
        return array.astype("complex64"), choice
    if choice == "bytes":
        return np.full(array.shape, b"ab", dtype="S2"), choice
    if choice == "compound":
        out = np.zeros(array.shape, dtype=[("a", "<f4"), ("b", "<i4")])
        return out, choice
    if choice == "nan":
        return np.full(array.shape, np.nan, dtype=array.dtype), choice
    if choice == "big-endian":
        return array.astype(array.dtype.newbyteorder(">")), choice
    return np.full(array.shape, 3e38, dtype=array.dtype), choice


def tamper_h5(rng: random.Random, data: bytes, where: str) -> tuple[bytes, str]:
    """Rebuild a Keras weights file with h5py, changed: shapes, dtypes, missing or extra
    objects, soft/external links, external or virtual storage, corrupted compressed chunks."""
    import h5py

    entries = _h5_entries(data)
    if not entries:
        return mutate_bytes(rng, data, where)
    datasets = [i for i, e in enumerate(entries) if e[0] == "dataset"]
    groups = [i for i, e in enumerate(entries) if e[0] == "group" and e[1] != "/"]
    op = rng.choice(
        ["array", "array", "drop", "extra", "rename", "soft", "external", "storage", "virtual"]
        + ["group swap", "chunk", "huge"]
    )
    if not datasets:
        op = "extra"
    # axonal reads only the layers' weights: damage those most of the time
    layer_datasets = [i for i in datasets if entries[i][1].startswith("/layers/")]
    pool = layer_datasets if layer_datasets and rng.random() < 0.8 else datasets
    i = rng.choice(pool) if pool else 0
    path = entries[i][1] if datasets else "/layers/x/vars/0"
    if op == "array":
        array, choice = _other_array(rng, np.asarray(entries[i][2]))
        entries[i] = ("dataset", path, array, entries[i][3])
        return _write_h5(entries), f"{where}: {path} -> {choice} {array.shape}"
    if op == "drop":
        if groups and rng.random() < 0.4:
            gone = entries[rng.choice(groups)][1]
            entries = [e for e in entries if not (e[1] == gone or e[1].startswith(gone + "/"))]
            return _write_h5(entries), f"{where}: drop group {gone}"
        del entries[i]
        return _write_h5(entries), f"{where}: drop dataset {path}"
    if op == "extra":
        parent = path.rsplit("/", 1)[0]
        new = rng.choice(
            [f"{parent}/{len(datasets) + 7}", f"{parent}/abc", "/layers/extra/vars/0"]
            + ["/layers/dense/layers/x/vars/0", f"{parent}/-1", f"{parent}/00"]
        )
        if any(e[1] == new for e in entries):
            new += "_x"
        entries.append(("dataset", new, np.zeros((3,), "float32"), {}))
        return _write_h5(entries), f"{where}: add dataset {new}"
    if op == "rename" and groups:
        old = entries[rng.choice(groups)][1]
        new = old + rng.choice(["_9", "X", "_1"])
        renamed = []
        for e in entries:
            if e[1] == old or e[1].startswith(old + "/"):
                e = (e[0], new + e[1][len(old) :], *e[2:])
            renamed.append(e)
        return _write_h5(renamed), f"{where}: rename group {old} -> {new}"
    if op == "soft":
        others = [entries[j][1] for j in datasets if j != i] + ["/nowhere", "/", path]
        target = rng.choice(others)
        entries[i] = ("soft", path, target)
        return _write_h5(entries), f"{where}: {path} -> soft link to {target}"
    if op == "external":
        target = rng.choice(["/etc/passwd", "missing.h5", "model.weights.h5"])
        entries[i] = ("external", path, target, path)
        return _write_h5(entries), f"{where}: {path} -> external link to {target}"
    if op == "storage":
        array = np.asarray(entries[i][2])
        del entries[i]

        def external(handle):
            handle.create_dataset(
                path,
                shape=array.shape,
                dtype=array.dtype,
                external=[("/etc/hostname", 0, h5py.h5f.UNLIMITED)],
            )

        return _write_h5(entries, external), f"{where}: {path} stored in external file"
    if op == "virtual":
        array = np.asarray(entries[i][2])
        del entries[i]

        def virtual(handle):
            layout = h5py.VirtualLayout(shape=array.shape, dtype=array.dtype)
            layout[...] = h5py.VirtualSource("other.h5", "/data", shape=array.shape)
            handle.create_virtual_dataset(path, layout, fillvalue=0)

        return _write_h5(entries, virtual), f"{where}: {path} is a virtual dataset"
    if op == "group swap" and len(datasets) > 1:
        j = rng.choice(datasets)
        entries[i] = ("group", path, {})
        return _write_h5(entries), f"{where}: {path} is a group, not a dataset ({entries[j][1]})"
    if op == "chunk":
        array = np.asarray(entries[i][2])
        if array.ndim == 0:
            return mutate_bytes(rng, data, where)
        options = rng.choice([{"compression": "gzip"}, {"fletcher32": True}, {"shuffle": True}])
        entries[i] = ("dataset", path, array, entries[i][3], options)
        raw = bytearray(_write_h5(entries))
        offset, size = _chunk_location(raw, path)
        if size:
            at = offset + rng.randrange(size)
            raw[at] ^= 0xFF
        return bytes(raw), f"{where}: {path} chunked {options}, chunk byte damaged"
    array = np.asarray(entries[i][2])
    del entries[i]

    def huge(handle):
        handle.create_dataset(path, shape=(10**9, 10**6), dtype="float32", chunks=(1, 1000))

    return _write_h5(entries, huge), f"{where}: {path} declared (10**9, 10**6), no data"


def _chunk_location(raw: bytearray, path: str) -> tuple[int, int]:
    import h5py

    with h5py.File(io.BytesIO(bytes(raw)), "r") as handle:
        info = handle[path].id.get_chunk_info(0)
        return int(info.byte_offset), int(info.size)


# =============================================================================== archives


def mutate_archive(
    rng: random.Random, data: bytes, flavour: str, steps_limit: int | None = None
) -> tuple[bytes, list[str]]:
    """One to three damages to an ``.axonal`` or ``.keras`` archive, at every level."""
    steps = []
    for _ in range(steps_limit or _count(rng)):
        data, step = _mutate_archive_once(rng, data, flavour)
        steps.append(step)
    return data, steps


def _mutate_archive_once(rng: random.Random, data: bytes, flavour: str) -> tuple[bytes, str]:
    try:
        return _mutate_archive_structure(rng, data, flavour)
    except Exception:  # the mutation could not be written (h5py refused a name): damage bytes
        return mutate_bytes(rng, data, "file")


def _mutate_archive_structure(rng: random.Random, data: bytes, flavour: str) -> tuple[bytes, str]:
    op = rng.choices(
        ["bytes", "header", "zip", "member bytes", "json", "inner"],
        weights=[12, 8, 14, 10, 30, 26],
    )[0]
    if op == "bytes":
        return mutate_bytes(rng, data, "file")
    if op == "header":
        return patch_zip_header(rng, data, "file")
    members = read_members(data)
    if not members:
        return mutate_bytes(rng, data, "file")
    if op == "zip":
        new, step = zip_surgery(rng, members, "file")
        return write_members(new), step
    names = [m[0] for m in members]
    if op == "json":
        candidates = [n for n in names if n.endswith(".json")]
        if not candidates:
            op = "member bytes"
        else:
            name = "config.json" if "config.json" in candidates else rng.choice(candidates)
            if name == "metadata.json" or rng.random() < 0.25:
                name = rng.choice(candidates)
            i = names.index(name)
            text = members[i][1].decode("utf-8", "replace")
            if rng.random() < 0.85:
                new_text, steps = mutate_json_text(rng, text, keras=flavour == "keras")
            else:
                new_text, steps = mutate_text(rng, text)
            members[i] = (name, new_text.encode("utf-8", "surrogatepass"), members[i][2])
            return write_members(members), f"{name}: " + "; ".join(steps)
    inner = [n for n in names if n.endswith((".npz", ".h5"))]
    if op == "inner" and inner:
        name = rng.choice(inner)
        i = names.index(name)
        if name.endswith(".h5"):
            if rng.random() < 0.7:
                new, step = tamper_h5(rng, members[i][1], name)
            else:
                new, step = mutate_bytes(rng, members[i][1], name)
        else:
            new, step = tamper_npz(rng, members[i][1], name)
        members[i] = (name, new, members[i][2])
        return write_members(members), step
    i = rng.randrange(len(members))
    name = members[i][0]
    if rng.random() < 0.3:
        new, step = patch_zip_header(rng, members[i][1], name)
    else:
        new, step = mutate_bytes(rng, members[i][1], name)
    members[i] = (name, new, members[i][2])
    return write_members(members), step


# =============================================================================== cases


@dataclasses.dataclass
class Case:
    """One mutant: what to load, with which loader, made how."""

    kind: str
    index: int
    loader: str
    base: Base
    payload: Any
    steps: list[str]
    suffix: str = ".axonal"

    def describe(self) -> str:
        return f"{self.kind}#{self.index} {self.base.name}: " + " | ".join(self.steps)


def _axonal_case(rng: random.Random, bases: Bases, index: int) -> Case:
    base = rng.choice(bases.models())
    data, steps = mutate_archive(rng, base.archive, "axonal")
    return Case("axonal", index, "load_model", base, data, steps)


def _keras_case(rng: random.Random, bases: Bases, index: int) -> Case:
    base = rng.choice(bases.keras())
    data, steps = mutate_archive(rng, base.keras, "keras")
    return Case("keras", index, "load_model", base, data, steps, suffix=".keras")


def _json_case(rng: random.Random, bases: Bases, index: int) -> Case:
    base = rng.choice(bases.models())
    if rng.random() < 0.8:
        text, steps = mutate_json_text(rng, base.json_text)
    else:
        text, steps = mutate_text(rng, base.json_text)
    payload: Any = text
    if rng.random() < 0.1:
        payload = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.5:
            payload = b"\xff\xfe" + payload
            steps.append("as bytes with a stray BOM")
        else:
            steps.append("as bytes")
    return Case("json", index, "model_from_json", base, payload, steps)


def _weights_case(rng: random.Random, bases: Bases, index: int) -> Case:
    base = rng.choice(bases.models())
    loader = rng.choice(["load_weights", "model.load_weights"])
    if rng.random() < 0.7:
        data = base.weights
        steps = []
        for _ in range(_count(rng)):
            op = rng.choice(["npz", "npz", "npz", "bytes", "header"])
            if op == "npz":
                data, step = tamper_npz(rng, data, "weights")
            elif op == "bytes":
                data, step = mutate_bytes(rng, data, "weights")
            else:
                data, step = patch_zip_header(rng, data, "weights")
            steps.append(step)
        return Case("weights", index, loader, base, data, steps, suffix=".weights.npz")
    data, steps = mutate_archive(rng, base.archive, "axonal")
    return Case("weights", index, loader, base, data, ["whole archive"] + steps)


def _state_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            -1,
            0,
            1,
            5,
            10**12,
            2.5,
            float("nan"),
            "",
            "x",
            "multilabel-indicator",
            "binary",
            [],
            {},
            (),
            [1, 2, 3],
            np.array([]),
            np.array([0, 1]),
            np.array(["a", "b", "c", "d"]),
            np.zeros((2, 2)),
            np.float64(4.0),
            b"",
            b"PK",
            object,
        ]
    )


def _sklearn_case(rng: random.Random, bases: Bases, index: int) -> Case:
    base = rng.choice(bases.sklearn())
    state = dict(base.state)
    steps = []
    for _ in range(_count(rng)):
        op = rng.choices(["archive", "set", "delete", "add", "swap"], weights=[5, 3, 1, 1, 1])[0]
        keys = sorted(state)
        if op == "archive" and isinstance(state.get("_model_archive"), bytes):
            data, archive_steps = mutate_archive(rng, state["_model_archive"], "axonal")
            state["_model_archive"] = data
            steps.append("_model_archive: " + " | ".join(archive_steps))
        elif op == "delete" and keys:
            key = rng.choice(keys)
            del state[key]
            steps.append(f"delete state[{key!r}]")
        elif op == "add":
            key = rng.choice(["model_", "_model_archive", "extra_", "__dict__", "_generator"])
            value = _state_value(rng)
            state[key] = value
            steps.append(f"state[{key!r}] = {_short(value)}")
        elif op == "swap" and len(keys) > 1:
            a, b = rng.sample(keys, 2)
            state[a], state[b] = state[b], state[a]
            steps.append(f"swap state[{a!r}] and state[{b!r}]")
        else:
            key = rng.choice(keys) if keys else "n_features_in_"
            if rng.random() < 0.5:
                key = rng.choice(
                    ["n_features_in_", "classes_", "n_outputs_", "_target_type", "_batch_size"]
                    + ["_model_archive", "_label_dtype", "_single_target", "feature_names_in_"]
                )
            value = _state_value(rng)
            old = state.get(key, "<absent>")
            state[key] = value
            steps.append(f"state[{key!r}]: {_short(old)} -> {_short(value)}")
    return Case("sklearn", index, "sklearn unpickle", base, state, steps)


GENERATORS: dict[str, Callable[[random.Random, Bases, int], Case]] = {
    "axonal": _axonal_case,
    "keras": _keras_case,
    "json": _json_case,
    "weights": _weights_case,
    "sklearn": _sklearn_case,
}


def make_case(kind: str, index: int, seed: int, bases: Bases) -> Case:
    """Mutant ``index`` of ``kind``: a pure function of the seed and the base files."""
    rng = random.Random(f"{seed}/{kind}/{index}")
    return GENERATORS[kind](rng, bases, index)


# =============================================================================== checking


@dataclasses.dataclass
class Outcome:
    """How one mutant went: ``refused``, ``ok`` (loaded and works) or ``fail``."""

    status: str
    loader: str
    description: str
    error: str = ""
    message: str = ""
    location: str = ""
    stage: str = ""
    seconds: float = 0.0
    peak_rss: int = 0

    @property
    def label(self) -> str:
        return {"refused": "refused", "ok": "loaded-and-works"}.get(self.status, "FAIL")

    def __str__(self) -> str:
        if self.status != "fail":
            return f"{self.label}: {self.loader}, {self.description}"
        stage = f" ({self.stage})" if self.stage else ""
        where = f" at {self.location}" if self.location else ""
        return (
            f"FAIL: {self.error}: {self.message}, {self.loader}{stage}{where}, "
            f"after {self.seconds:.2f} s, mutation: {self.description}"
        )


class ContractError(Exception):
    """A loaded model or estimator does not do what the contract asks of it."""


def innermost_axonal_frame(tb) -> str:
    """``file.py:function`` of the innermost traceback frame inside the axonal package."""
    found = ""
    for frame in traceback.extract_tb(tb):
        path = os.path.abspath(frame.filename)
        if path.startswith(_PACKAGE_DIR + os.sep):
            found = f"{os.path.relpath(path, _PACKAGE_DIR)}:{frame.name}"
    return found


def _fail(case: Case, exc: BaseException, stage: str, start: float) -> Outcome:
    message = " ".join(str(exc).split())
    return Outcome(
        "fail",
        case.loader,
        case.describe(),
        error=type(exc).__name__,
        message=message[:300],
        location=innermost_axonal_frame(exc.__traceback__),
        stage=stage,
        seconds=time.perf_counter() - start,
    )


class _StatePickle:
    """Pickles as an instance of ``cls`` with ``state`` (what ``pickle.dumps(estimator)``
    writes, but with the state given): unpickling runs ``cls.__setstate__(state)``."""

    def __init__(self, cls: type, state: dict):
        self.cls = cls
        self.state = state

    def __reduce__(self):
        import copyreg

        return (copyreg._reconstructor, (self.cls, object, None), self.state)


def _weights_snapshot(model) -> list[np.ndarray]:
    return [np.array(v.data, copy=True) for v in model.weights]


def _load(case: Case, folder: str, target: Any) -> Any:
    """Run the case's loader on its payload; return what it gave."""
    if case.loader == "model_from_json":
        return saving.model_from_json(case.payload)
    if case.loader == "sklearn unpickle":
        data = pickle.dumps(_StatePickle(case.base.estimator_class, case.payload))
        return pickle.loads(data)  # our own pickle, of a state dict
    path = os.path.join(folder, "mutant" + case.suffix)
    with open(path, "wb") as handle:
        handle.write(case.payload)
    if case.loader == "load_model":
        return saving.load_model(path)
    if case.loader == "load_weights":
        saving.load_weights(target, path)
    else:
        target.load_weights(path)
    return target


def _dimension(value: Any) -> int | None:
    """A declared axis length as an int (None: any length); ContractError when it is none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ContractError(f"an input axis is declared as {_short(value)}")
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise ContractError(f"an input axis is declared as {_short(value)}")
    return int(value)


def _inputs(shapes: list, fill: str, rng: np.random.Generator) -> list[np.ndarray] | None:
    """Two samples for each declared input shape (its batch axis, whatever it says, is 2);
    None when they would be larger than ``MAX_INPUT_ELEMENTS``."""
    arrays = []
    for shape in shapes:
        if not isinstance(shape, (tuple, list)):
            raise ContractError(f"the model declares the input shape {_short(shape)}")
        dims = [2] + [8 if d is None else d for d in map(_dimension, list(shape)[1:])]
        if math.prod(dims) > MAX_INPUT_ELEMENTS:
            return None
        if fill == "zeros":
            arrays.append(np.zeros(dims, dtype="float32"))
        else:
            arrays.append(rng.normal(size=dims).astype("float32"))
    return arrays


def _rows(output: Any) -> list:
    if isinstance(output, np.ndarray):
        return [output.shape[0] if output.ndim else None]
    if isinstance(output, (list, tuple)) and output:
        return [r for item in output for r in _rows(item)]
    if isinstance(output, dict) and output:
        return [r for item in output.values() for r in _rows(item)]
    return [repr(type(output))]


def _check_model(case: Case, model: Any) -> None:
    if not hasattr(model, "predict") or not hasattr(model, "weights"):
        raise ContractError(f"the loader returned a {type(model).__name__}, not a model")
    declared = model.input_shape
    if declared is None:
        shapes = case.base.input_shapes
    elif isinstance(declared, list):
        shapes = declared
    else:
        shapes = [declared]
    inputs = _inputs(shapes, case.base.fill, np.random.default_rng(0))
    if inputs is None:
        return
    output = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
    rows = _rows(output)
    if any(r != 2 for r in rows):
        raise ContractError(f"predict on 2 samples gave outputs with rows {rows}")


def _check_estimator(case: Case, estimator: Any) -> None:
    if not isinstance(estimator, case.base.estimator_class):
        raise ContractError(f"unpickling gave a {type(estimator).__name__}")
    n = getattr(estimator, "n_features_in_", case.base.n_features)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 0 < n <= 10**6:
        raise ContractError(f"the estimator declares n_features_in_={_short(n)}")
    X = np.random.default_rng(0).normal(size=(2, int(n)))
    output = np.asarray(estimator.predict(X))
    if output.ndim == 0 or output.shape[0] != 2:
        raise ContractError(f"predict on 2 samples gave shape {output.shape}")


def check_one(case: Case) -> Outcome:
    """Load one mutant and classify what happened (in this process; see ``run_isolated``)."""
    target = before = None
    if case.loader.endswith("load_weights"):
        target = build_architecture(case.base.name)
        before = _weights_snapshot(target)
    start = time.perf_counter()
    with (
        warnings.catch_warnings(),
        np.errstate(all="ignore"),
        tempfile.TemporaryDirectory() as folder,
    ):
        warnings.simplefilter("ignore")
        try:
            subject = _load(case, folder, target)
        except UnsafeOrCorruptFileError as exc:
            outcome = Outcome("refused", case.loader, case.describe())
            if target is not None:
                after = _weights_snapshot(target)
                if not all(
                    np.array_equal(a, b, equal_nan=True) for a, b in zip(after, before, strict=True)
                ):
                    problem = ContractError(
                        "load_weights refused the file but changed the model's weights"
                    )
                    problem.__traceback__ = exc.__traceback__
                    outcome = _fail(case, problem, "load", start)
        except (Exception, SystemExit) as exc:
            outcome = _fail(case, exc, "load", start)
        else:
            try:
                if case.loader == "sklearn unpickle":
                    _check_estimator(case, subject)
                else:
                    _check_model(case, subject)
                outcome = Outcome("ok", case.loader, case.describe())
            except (Exception, SystemExit) as exc:
                outcome = _fail(case, exc, "predict", start)
    outcome.seconds = time.perf_counter() - start
    return outcome


# =============================================================================== isolation


def _address_space() -> int:
    """Bytes of address space this process maps now (VmSize), 0 when unknown."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclasses.dataclass
class Settings:
    """How mutants are run: the time budget, the memory cap, where failing mutants go."""

    seed: int = 0
    budget: float = TIME_BUDGET
    memory: int | None = MEMORY_BUDGET
    save_failures: str | None = None


def _child(spec: tuple, bases: Bases, settings: Settings, write_fd: int, trace_path: str):
    """In the forked child: cap memory, arm the hang dump, make the mutant, say what it is,
    check it, report the outcome as a JSON line, exit. The mutant is made here, not in the
    parent, so even a crash while making it (h5py reading a damaged file) stays here."""
    code = 0
    try:
        pipe = os.fdopen(write_fd, "wb", buffering=0)
        mapped = _address_space()
        if settings.memory and mapped:
            import resource  # POSIX only, like the fork this runs in

            limit = mapped + settings.memory
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        trace = open(trace_path, "w")  # stays open until os._exit
        faulthandler.enable(trace)
        kind, index = spec
        try:
            case = make_case(kind, index, settings.seed, bases)
        except Exception as exc:
            outcome = Outcome("fail", "fuzzer", f"{kind}#{index}", "FuzzerError", repr(exc))
            pipe.write(json.dumps(dataclasses.asdict(outcome)).encode() + b"\n")
            raise
        pipe.write(json.dumps({"describe": case.describe(), "loader": case.loader}).encode())
        pipe.write(b"\n")
        saved = _save_mutant(settings.save_failures, case) if settings.save_failures else None
        # the budget counts from here (the parent restarts its clock on the line above)
        faulthandler.dump_traceback_later(max(0.5, settings.budget - 0.3), file=trace)
        outcome = check_one(case)
        faulthandler.cancel_dump_traceback_later()
        if saved and outcome.status != "fail":
            os.remove(saved)
        pipe.write(json.dumps(dataclasses.asdict(outcome)).encode() + b"\n")
    except BaseException:  # whatever is left is the fuzzer's own bug: show it
        traceback.print_exc()
        code = 3
    finally:
        os._exit(code)


def _save_mutant(folder: str, case: Case) -> str:
    """Write the mutant where ``--save-failures`` asks (removed again unless it fails)."""
    os.makedirs(folder, exist_ok=True)
    payload = case.payload
    if isinstance(payload, dict):
        data, suffix = pickle.dumps(payload), ".state.pickle"
    elif isinstance(payload, str):
        data, suffix = payload.encode("utf-8", "surrogatepass"), ".json"
    else:
        data, suffix = payload, case.suffix
    path = os.path.join(folder, f"{case.kind}-{case.index}-{case.base.name}{suffix}")
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _frame_from_dump(trace_path: str) -> str:
    """The innermost axonal frame of the main thread in a faulthandler dump."""
    try:
        with open(trace_path) as handle:
            text = handle.read()
    except OSError:
        return ""
    pattern = re.compile(r'File "([^"]+)", line \d+ in (\S+)')
    for path, function in pattern.findall(text):  # most recent call first
        path = os.path.abspath(path)
        if path.startswith(_PACKAGE_DIR + os.sep):
            return f"{os.path.relpath(path, _PACKAGE_DIR)}:{function}"
    return ""


@dataclasses.dataclass
class _Running:
    spec: tuple
    pid: int
    read_fd: int
    trace_path: str
    started: float
    chunks: list = dataclasses.field(default_factory=list)


def _start(spec: tuple, bases: Bases, settings: Settings, folder: str) -> _Running:
    read_fd, write_fd = os.pipe()
    trace_path = os.path.join(folder, f"trace-{spec[0]}-{spec[1]}.txt")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(spec, bases, settings, write_fd, trace_path)
    os.close(write_fd)
    return _Running(spec, pid, read_fd, trace_path, time.perf_counter())


def _finish(job: _Running, timed_out: bool) -> Outcome:
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job.pid, signal.SIGKILL)
    _, status, usage = os.wait4(job.pid, 0)
    os.close(job.read_fd)
    seconds = time.perf_counter() - job.started
    location = _frame_from_dump(job.trace_path)
    with contextlib.suppress(OSError):
        os.remove(job.trace_path)
    lines = [json.loads(line) for line in b"".join(job.chunks).splitlines() if line.strip()]
    header = lines[0] if lines and "describe" in lines[0] else {}
    describe = header.get("describe", f"{job.spec[0]}#{job.spec[1]} (not made)")
    loader = header.get("loader", "?")
    if lines and "status" in lines[-1]:
        outcome = Outcome(**lines[-1])
    elif timed_out:
        outcome = Outcome(
            "fail", loader, describe, "Timeout", f"more than {seconds:.1f} s", location
        )
    elif os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.Signals(number).name
        outcome = Outcome(
            "fail", loader, describe, f"Crash({name})", f"died of signal {number}", location
        )
    else:
        code = os.waitstatus_to_exitcode(status)
        outcome = Outcome(
            "fail", loader, describe, "NoResult", f"the child exited with status {code}", location
        )
    outcome.seconds = seconds
    outcome.peak_rss = usage.ru_maxrss * 1024
    return outcome


def run_isolated(
    specs: Iterator[tuple] | list[tuple],
    bases: Bases,
    settings: Settings | None = None,
    jobs: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Make and check each mutant ``(kind, index)`` in a forked child, ``jobs`` at a time, each
    within the time budget and with its address space capped; hangs and crashes are failures.
    """
    settings = settings or Settings()
    outcomes: list[Outcome] = []
    pending = iter(specs)
    running: dict[int, _Running] = {}
    folder = tempfile.mkdtemp(prefix="axonal-fuzz-trace-")

    def done(job: _Running, timed_out: bool) -> None:
        outcome = _finish(job, timed_out)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    try:
        exhausted = False
        while running or not exhausted:
            while not exhausted and len(running) < jobs:
                spec = next(pending, None)
                if spec is None:
                    exhausted = True
                    break
                job = _start(spec, bases, settings, folder)
                running[job.read_fd] = job
            if not running:
                break
            now = time.perf_counter()
            wait = min(job.started + settings.budget - now for job in running.values())
            ready, _, _ = select.select(list(running), [], [], max(0.0, wait))
            for fd in ready:
                job = running[fd]
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    if not job.chunks:  # the mutant is made: the loader's time starts now
                        job.started = time.perf_counter()
                    job.chunks.append(chunk)
                else:
                    del running[fd]
                    done(job, timed_out=False)
            now = time.perf_counter()
            for fd, job in list(running.items()):
                if now - job.started >= settings.budget:
                    del running[fd]
                    done(job, timed_out=True)
    finally:
        for job in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(job.pid, 0)
        shutil.rmtree(folder, ignore_errors=True)
    return outcomes


def specs_for(kinds: list[str], n: int, bases: Bases) -> list[tuple]:
    """``n`` mutants ``(kind, index)`` spread over ``kinds`` in turn (kinds without bases are
    skipped); making the bases here keeps the forked children from each making them."""
    usable = [kind for kind in kinds if bases.for_kind(kind)]
    if not usable:
        return []
    return [(usable[i % len(usable)], i // len(usable)) for i in range(n)]


# =============================================================================== reporting


def failure_classes(outcomes: list[Outcome]) -> dict[tuple[str, str], list[Outcome]]:
    """Failures grouped by (exception type, innermost axonal file:function)."""
    groups: dict[tuple[str, str], list[Outcome]] = collections.defaultdict(list)
    for outcome in outcomes:
        if outcome.status == "fail":
            where = outcome.location or "(no axonal frame)"
            if outcome.stage == "predict":
                where += " (after a successful load)"
            groups[(outcome.error, where)].append(outcome)
    return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def summary(outcomes: list[Outcome], seconds: float | None = None) -> str:
    """Counts per kind and status, timings, and each failure class with its shortest example."""
    lines = []
    counts = collections.Counter(o.status for o in outcomes)
    lines.append(
        f"mutants tried: {len(outcomes)}, refused: {counts['refused']}, "
        f"loaded-and-works: {counts['ok']}, FAILED: {counts['fail']}"
    )
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for outcome in outcomes:
        by_kind[outcome.description.split("#", 1)[0]][outcome.status] += 1
    for kind, kind_counts in sorted(by_kind.items()):
        lines.append(
            f"  {kind:8s} refused {kind_counts['refused']:5d}  ok {kind_counts['ok']:5d}  "
            f"fail {kind_counts['fail']:5d}"
        )
    if outcomes:
        times = sorted(o.seconds for o in outcomes)
        slowest = max(outcomes, key=lambda o: o.seconds)
        lines.append(
            f"time per mutant: median {times[len(times) // 2] * 1000:.0f} ms, "
            f"max {times[-1]:.2f} s ({slowest.description[:80]})"
        )
        rss = [o.peak_rss for o in outcomes if o.peak_rss]
        if rss:
            lines.append(f"largest peak RSS of a mutant: {max(rss) / 2**20:.0f} MiB")
    if seconds is not None:
        lines.append(f"wall time: {seconds:.1f} s")
    groups = failure_classes(outcomes)
    if groups:
        lines.append(f"failure classes ({len(groups)}):")
    for (error, where), members in groups.items():
        example = min(members, key=lambda o: len(o.description))
        lines.append(f"  [{len(members)}] {error} at {where}")
        lines.append(f"      e.g. {example.message[:160]}")
        lines.append(f"      via {example.loader}: {example.description[:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz", description="Mutation-fuzz axonal's model loaders."
    )
    parser.add_argument("--n", type=int, default=300, help="mutants to try (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--timeout", type=float, default=TIME_BUDGET, help="seconds per mutant")
    parser.add_argument(
        "--memory-gib",
        type=float,
        default=MEMORY_BUDGET / 2**30,
        help="address space a mutant may add (0: no cap)",
    )
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--save-failures", metavar="DIR", help="write each failing mutant here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each failure")
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    started = time.perf_counter()
    settings = Settings(
        seed=args.seed,
        budget=args.timeout,
        memory=int(args.memory_gib * 2**30) or None,
        save_failures=args.save_failures,
    )
    with tempfile.TemporaryDirectory(prefix="axonal-fuzz-") as folder:
        bases = Bases(folder)
        specs = specs_for(kinds, args.n, bases)
        for kind, reason in bases.unavailable.items():
            print(f"skipping {kind}: {reason}")
        print(f"base files made in {time.perf_counter() - started:.1f} s", flush=True)
        count = [0]

        def report(outcome: Outcome) -> None:
            count[0] += 1
            if outcome.status == "fail" and args.verbose:
                print(outcome, flush=True)
            if count[0] % 500 == 0:
                print(f"... {count[0]} mutants", flush=True)

        outcomes = run_isolated(specs, bases, settings, jobs=args.jobs, on_outcome=report)
    print(summary(outcomes, time.perf_counter() - started))
    return 1 if any(o.status == "fail" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
