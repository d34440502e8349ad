"""Hostile, truncated and corrupted files: refused with a clear error, nothing executed.

Also the crash test: a process saving in a loop is killed at random moments, and the file it
was writing always loads.
"""

import io
import json
import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import axonal
from axonal import layers, saving
from axonal.layers import Input
from axonal.models import Sequential, load_model, model_from_json
from axonal.saving import UnsafeOrCorruptFileError

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


@pytest.fixture(autouse=True)
def _fresh_names():
    axonal.utils.clear_session()


def _model():
    model = Sequential([Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    model.compile("adam", "mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory):
    axonal.utils.clear_session()
    path = tmp_path_factory.mktemp("good") / "good.axonal"
    _model().save(path)
    return path.read_bytes()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members, compress=zipfile.ZIP_STORED) -> bytes:
    """A zip of ``(name, bytes)`` pairs (a list, so names may repeat)."""
    buffer = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buffer, "w", compress) as archive:
        for name, data in items:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return buffer.getvalue()


def _npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _with_member(data: bytes, name: str, value: bytes) -> bytes:
    members = _members(data)
    members[name] = value
    return _zip(members)


def _with_config(data: bytes, edit) -> bytes:
    members = _members(data)
    document = json.loads(members["config.json"])
    edit(document)
    members["config.json"] = json.dumps(document).encode()
    return _zip(members)


def _with_weight(data: bytes, key: str, value: bytes | None, extra: dict | None = None) -> bytes:
    members = _members(data)
    weights = _members(members["model.weights.npz"])
    if value is None:
        del weights[key + ".npy"]
    else:
        weights[key + ".npy"] = value
    weights.update(extra or {})
    members["model.weights.npz"] = _zip(weights)
    return _zip(members)


def _load(tmp_path, data: bytes, name="x.axonal", **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    return load_model(path, **kwargs)


def _refused(tmp_path, data, match=None, name="x.axonal", **kwargs):
    with pytest.raises(UnsafeOrCorruptFileError, match=match) as info:
        _load(tmp_path, data, name=name, **kwargs)
    assert name in str(info.value)
    return str(info.value)


def test_the_good_archive_loads(tmp_path, archive_bytes):
    model = _load(tmp_path, archive_bytes)
    assert model.compiled


# ---------------------------------------------------------------------------- pickle payloads


class _Payload:
    """Unpickling this creates the marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_payload_really_would_run(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker))).close()
    assert marker.exists()


def test_pickled_object_array_in_weights_is_refused(tmp_path, archive_bytes):
    marker = tmp_path / "pwned"
    evil = _npy(np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    data = _with_weight(archive_bytes, "dense/kernel", evil)
    message = _refused(tmp_path, data, match="dense/kernel")
    assert "pickle" in message or "object" in message
    assert not marker.exists()


def test_raw_pickle_stream_as_array_member_is_refused(tmp_path, archive_bytes):
    marker = tmp_path / "pwned"
    data = _with_weight(archive_bytes, "dense/kernel", pickle.dumps(_Payload(marker)))
    _refused(tmp_path, data, match="not a valid .npy")
    assert not marker.exists()


def test_pickle_in_optimizer_state_is_refused(tmp_path, archive_bytes):
    marker = tmp_path / "pwned"
    members = _members(archive_bytes)
    state = _members(members["optimizer.npz"])
    state["iterations.npy"] = _npy(np.array(_Payload(marker), dtype=object), allow_pickle=True)
    members["optimizer.npz"] = _zip(state)
    _refused(tmp_path, _zip(members), match="iterations")
    assert not marker.exists()


def test_pickle_file_instead_of_archive_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    _refused(tmp_path, pickle.dumps(_Payload(marker)), match="not a valid zip")
    model = _model()
    path = tmp_path / "w.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(UnsafeOrCorruptFileError, match="w.npz"):
        model.load_weights(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------- class names


def _rename_first_layer(name):
    def edit(document):
        document["model"]["config"]["layers"][0]["class_name"] = name

    return edit


def test_unknown_class_name_is_refused(tmp_path, archive_bytes):
    data = _with_config(archive_bytes, _rename_first_layer("EvilLayer"))
    message = _refused(tmp_path, data, match="EvilLayer")
    assert "register_serializable" in message


@pytest.mark.parametrize(
    "name", ["os.system", "builtins.eval", "subprocess.Popen", "axonal.saving.load_model"]
)
def test_module_path_class_name_is_never_imported(tmp_path, archive_bytes, monkeypatch, name):
    calls = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: calls.append(args))
    data = _with_config(archive_bytes, _rename_first_layer(name))
    _refused(tmp_path, data, match="Unknown layer")
    assert calls == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["model"]["config"]["layers"][0]["config"].update(activation="os.system"),
        lambda d: d["model"].update(class_name="posix.system"),
        lambda d: d["compile"]["optimizer"].update(class_name="os.system"),
        lambda d: d["compile"]["loss"][0].update(class_name="os.system"),
        lambda d: d["compile"]["loss"].__setitem__(0, {"function": "os.system", "config": {}}),
        lambda d: d["compile"]["metrics"][0].__setitem__(0, {"class_name": "os.system"}),
        lambda d: d["model"]["config"]["layers"][0]["config"].update(
            kernel_initializer={"class_name": "os.system", "config": {}}
        ),
    ],
    ids=["activation", "model", "optimizer", "loss", "loss_function", "metric", "initializer"],
)
def test_module_paths_anywhere_in_the_config_are_refused(tmp_path, archive_bytes, edit):
    _refused(tmp_path, _with_config(archive_bytes, edit), match="os.system|posix.system")


def test_a_layer_where_a_model_belongs_is_refused(tmp_path, archive_bytes):
    def edit(document):
        document["model"] = document["model"]["config"]["layers"][0]

    _refused(tmp_path, _with_config(archive_bytes, edit), match="not a model")


# ---------------------------------------------------------------------------- member names


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc/passwd", "..\\evil", "C:/evil", "a/../../evil", "evil.py", "config.json/"],
)
def test_bad_outer_member_names_are_refused(tmp_path, archive_bytes, name):
    members = list(_members(archive_bytes).items()) + [(name, b"x")]
    _refused(tmp_path, _zip(members), match="member")


@pytest.mark.parametrize("name", ["../evil.npy", "/abs.npy", "dense\\kernel.npy", "extra.npy"])
def test_bad_array_member_names_are_refused(tmp_path, archive_bytes, name):
    data = _with_weight(archive_bytes, "dense/bias", None, extra={name: _npy(np.zeros(4))})
    _refused(tmp_path, data, match="member")


def test_duplicate_members_are_refused(tmp_path, archive_bytes):
    members = list(_members(archive_bytes).items())
    with pytest.warns(UserWarning):
        data = _zip(members + [members[0]])
    _refused(tmp_path, data, match="twice")


def test_missing_members_are_refused(tmp_path, archive_bytes):
    members = _members(archive_bytes)
    del members["model.weights.npz"]
    _refused(tmp_path, _zip(members), match="model.weights.npz")
    members = _members(archive_bytes)
    del members["config.json"]
    _refused(tmp_path, _zip(members), match="config.json")


# ---------------------------------------------------------------------------- zip bombs


def _patch_declared_size(data: bytes, member: str, size: int) -> bytes:
    """Make the central directory claim ``member`` inflates to ``size`` bytes (a lying header)."""
    data = bytearray(data)
    name = member.encode()
    position = 0
    while True:
        position = data.index(b"PK\x01\x02", position)
        name_length = struct.unpack("<H", data[position + 28 : position + 30])[0]
        if bytes(data[position + 46 : position + 46 + name_length]) == name:
            data[position + 24 : position + 28] = struct.pack("<I", size)
            return bytes(data)
        position += 4


@pytest.mark.parametrize("member", ["config.json", "model.weights.npz", "optimizer.npz"])
def test_member_declaring_a_huge_size_is_refused_before_reading(tmp_path, archive_bytes, member):
    data = _patch_declared_size(archive_bytes, member, 0xFFFFFFF0)
    tracemalloc.start()
    try:
        message = _refused(tmp_path, data, match="refused")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "4294967280" in message
    assert peak < 20 * 1024 * 1024


def _bomb_member(archive: zipfile.ZipFile, name: str, megabytes: int) -> None:
    """A deflated member of ``megabytes`` of zeros, written without holding it in memory."""
    chunk = bytes(1024 * 1024)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        for _ in range(megabytes):
            member.write(chunk)


def test_highly_compressible_big_member_is_refused_before_reading(tmp_path, archive_bytes):
    path = tmp_path / "bomb.axonal"
    members = _members(archive_bytes)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", members["config.json"])
        _bomb_member(archive, "model.weights.npz", 200)
    assert path.stat().st_size < 1024 * 1024
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UnsafeOrCorruptFileError, match="bomb.axonal.*refused"):
            load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < 20 * 1024 * 1024


def test_bomb_inside_the_weights_npz_is_refused(tmp_path, archive_bytes):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        _bomb_member(archive, "dense/kernel.npy", 64)
    members = _members(archive_bytes)
    members["model.weights.npz"] = inner.getvalue()
    _refused(tmp_path, _zip(members), match="dense/kernel.npy.*refused")


def test_high_compression_ratio_is_refused(tmp_path):
    model = Sequential([Input((256,)), layers.Dense(256, kernel_initializer="zeros")])
    model.save(tmp_path / "zeros.axonal")
    members = _members((tmp_path / "zeros.axonal").read_bytes())
    data = _zip(members, compress=zipfile.ZIP_DEFLATED)
    _refused(tmp_path, data, match="zip bomb")


def test_array_larger_than_the_architecture_is_refused(tmp_path, archive_bytes):
    big = _npy(np.zeros((100, 100), dtype="float32"))
    message = _refused(tmp_path, _with_weight(archive_bytes, "dense/kernel", big), match="refused")
    assert "dense/kernel" in message


def test_config_larger_than_the_limit_is_refused(tmp_path, archive_bytes):
    data = _patch_declared_size(archive_bytes, "config.json", saving.MAX_CONFIG_BYTES + 1)
    _refused(tmp_path, data, match="config.json")


# ---------------------------------------------------------------------------- shapes and dtypes


def test_wrong_shape_is_refused_naming_member_expected_and_got(tmp_path, archive_bytes):
    data = _with_weight(archive_bytes, "dense/kernel", _npy(np.zeros((3, 5), "float32")))
    message = _refused(tmp_path, data, match="dense/kernel")
    assert "(3, 4)" in message and "(3, 5)" in message


def test_wrong_dtype_is_refused(tmp_path, archive_bytes):
    data = _with_weight(archive_bytes, "dense/bias", _npy(np.zeros(4, "float64")))
    message = _refused(tmp_path, data, match="dense/bias")
    assert "float32" in message and "float64" in message


def test_structured_dtype_is_refused(tmp_path, archive_bytes):
    value = _npy(np.zeros(4, dtype=[("a", "<f2"), ("b", "<f2")]))
    _refused(tmp_path, _with_weight(archive_bytes, "dense/bias", value), match="structure")


def test_missing_weight_is_refused(tmp_path, archive_bytes):
    _refused(tmp_path, _with_weight(archive_bytes, "dense_1/bias", None), match="dense_1/bias")


def test_truncated_array_data_is_refused(tmp_path, archive_bytes):
    value = _npy(np.zeros((3, 4), "float32"))[:-5]
    _refused(tmp_path, _with_weight(archive_bytes, "dense/kernel", value), match="truncated")


def test_wrong_optimizer_state_shape_is_refused(tmp_path, archive_bytes):
    members = _members(archive_bytes)
    state = _members(members["optimizer.npz"])
    state["dense/kernel/m.npy"] = _npy(np.zeros((4, 3), "float32"))
    members["optimizer.npz"] = _zip(state)
    _refused(tmp_path, _zip(members), match="dense/kernel/m")


def test_unknown_optimizer_state_key_is_refused(tmp_path, archive_bytes):
    members = _members(archive_bytes)
    state = _members(members["optimizer.npz"])
    state["dense/kernel/velocity.npy"] = _npy(np.zeros((3, 4), "float32"))
    members["optimizer.npz"] = _zip(state)
    _refused(tmp_path, _zip(members), match="velocity")


def test_nothing_is_assigned_when_one_array_is_bad(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "w.npz")
    members = _members((tmp_path / "w.npz").read_bytes())
    members["dense/kernel.npy"] = _npy(np.full((3, 4), 7.0, "float32"))
    members["dense_1/bias.npy"] = _npy(np.zeros(3, "float32"))
    (tmp_path / "bad.npz").write_bytes(_zip(members))
    before = model.get_weights()
    with pytest.raises(UnsafeOrCorruptFileError, match="dense_1/bias"):
        model.load_weights(tmp_path / "bad.npz")
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- format and corruption


def test_not_a_zip_file(tmp_path):
    _refused(tmp_path, b"hello, this is not a model\n", match="not a valid zip")
    _refused(tmp_path, b"", match="not a valid zip")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.axonal")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.update(format_version=2), "format version 2"),
        (lambda d: d.update(format_version="1"), "format_version"),
        (lambda d: d.update(format="keras"), "not an axonal file"),
        (lambda d: d.pop("model"), "'model'"),
    ],
)
def test_wrong_format_or_version_is_refused(tmp_path, archive_bytes, edit, match):
    _refused(tmp_path, _with_config(archive_bytes, edit), match=match)


@pytest.mark.parametrize(
    "text",
    [b"\xff\xfe not utf-8", b"{not json", b"[1, 2, 3]", b"[" * 100000 + b"]" * 100000],
    ids=["encoding", "syntax", "not_object", "deep"],
)
def test_bad_config_json_is_refused(tmp_path, archive_bytes, text):
    _refused(tmp_path, _with_member(archive_bytes, "config.json", text), match="config")


def test_model_from_json_refuses_hostile_text():
    with pytest.raises(UnsafeOrCorruptFileError, match="Unknown layer"):
        model_from_json(json.dumps({"class_name": "os.system", "config": {}}))
    with pytest.raises(UnsafeOrCorruptFileError):
        model_from_json("{")
    with pytest.raises(UnsafeOrCorruptFileError, match="more than"):
        model_from_json(" " * (saving.MAX_CONFIG_BYTES + 1))


@pytest.mark.slow
def test_truncation_at_every_offset_is_refused(tmp_path, archive_bytes):
    path = tmp_path / "cut.axonal"
    for length in range(len(archive_bytes)):
        path.write_bytes(archive_bytes[:length])
        with pytest.raises(UnsafeOrCorruptFileError, match="cut.axonal"):
            load_model(path)


def test_truncated_weights_file_is_refused(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "w.npz")
    data = (tmp_path / "w.npz").read_bytes()
    for length in range(0, len(data), 7):
        (tmp_path / "cut.npz").write_bytes(data[:length])
        with pytest.raises(UnsafeOrCorruptFileError, match="cut.npz"):
            model.load_weights(tmp_path / "cut.npz")


def _load_outcome(path):
    """'ok' or 'refused'; any other exception fails the test."""
    try:
        load_model(path)
    except UnsafeOrCorruptFileError as exc:
        assert os.fspath(path) in str(exc)
        return "refused"
    return "ok"


def test_random_byte_flips_are_refused_or_harmless(tmp_path, archive_bytes):
    rng = random.Random(1234)
    path = tmp_path / "flip.axonal"
    outcomes = []
    for _ in range(400):
        data = bytearray(archive_bytes)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        outcomes.append(_load_outcome(path))
    assert outcomes.count("refused") > 200


_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def _mutate(data: bytes, mutations) -> bytes:
    data = bytearray(data)
    for kind, position, value in mutations:
        if not data:
            break
        position %= len(data)
        if kind == "flip":
            data[position] ^= 1 << value
        elif kind == "set":
            data[position] = value
        elif kind == "insert":
            data[position:position] = value
        elif kind == "delete":
            del data[position : position + value]
        else:
            del data[position:]
    return bytes(data)


@settings(
    max_examples=300,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_MUTATION, min_size=1, max_size=6))
def test_fuzz_mutated_archives_raise_only_the_clear_error(tmp_path, archive_bytes, mutations):
    _load_outcome_with_path(tmp_path / "fuzz.axonal", _mutate(archive_bytes, mutations))


def _load_outcome_with_path(path, data):
    path.write_bytes(data)
    return _load_outcome(path)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from([-1, 0, 1, 2, 3, 7, 64, 10**15, 2**63, -(2**63), 0.5, -1e300, 1e300])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["Dense", "os.system", "relu", "same", "float64", "int8", "Sequential"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)


def _json_paths(value, prefix=()):
    """Every (path) to a node of a JSON document."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _json_paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _json_paths(child, prefix + (index,))


def _replace(document, path, value):
    if not path:
        return value
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_fuzz_mutated_configs_raise_only_the_clear_error(tmp_path, archive_bytes, data):
    """Valid zips whose config.json is changed node by node (CRCs stay right)."""
    members = _members(archive_bytes)
    document = json.loads(members["config.json"])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_json_paths(document))
        path = data.draw(st.sampled_from(paths))
        document = _replace(document, path, data.draw(_JSON_VALUES))
    members["config.json"] = json.dumps(document).encode()
    _load_outcome_with_path(tmp_path / "fuzz.axonal", _zip(members))


@settings(
    max_examples=150,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_MUTATION, min_size=1, max_size=4), st.sampled_from(["weights", "optimizer"]))
def test_fuzz_mutated_inner_arrays_raise_only_the_clear_error(
    tmp_path, archive_bytes, mutations, which
):
    """Valid outer zips holding a mutated .npz member."""
    members = _members(archive_bytes)
    name = "model.weights.npz" if which == "weights" else "optimizer.npz"
    members[name] = _mutate(members[name], mutations)
    _load_outcome_with_path(tmp_path / "fuzz.axonal", _zip(members))


def test_a_damaged_deflate_stream_is_refused(tmp_path, archive_bytes):
    members = _members(archive_bytes)
    path = tmp_path / "z.axonal"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            archive.writestr(name, value)
    data = bytearray(path.read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len("config.json")
    data[start + 10 : start + 40] = os.urandom(30)
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeOrCorruptFileError, match="config.json"):
        load_model(path)


# ---------------------------------------------------------------------------- crash safety

_SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from axonal import layers
    from axonal.layers import Input
    from axonal.models import Sequential

    path = sys.argv[1]
    model = Sequential([Input((256,)), layers.Dense(512), layers.Dense(512), layers.Dense(10)])
    model.compile("adam", "mse")
    x = np.ones((4, 256), "float32")
    model.fit(x, np.zeros((4, 10), "float32"), epochs=1, verbose=0)
    model.save(path)
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        for w in model.weights:
            w.data[...] = step
        model.save(path)
    """
)


@pytest.mark.slow
def test_kill_during_save_always_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "live.axonal"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    env = dict(os.environ, PYTHONPATH=SRC)
    rng = random.Random(7)
    torn = 0
    for _ in range(8):
        process = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env
        )
        try:
            assert process.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stdout.close()
        # a kill in the middle of a save leaves its half-written temporary file behind
        leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
        torn += len(leftovers) > 0
        for name in leftovers:
            os.unlink(tmp_path / name)
        model = load_model(path)
        assert model.compiled
        arrays = [w.data for w in model.weights]
        if all(np.all(a == a.flat[0]) for a in arrays):
            # a save from the loop: every weight from the same step, never a mix
            assert len({float(a.flat[0]) for a in arrays}) == 1
    # most saves are spent writing, so some kills must have landed mid-write
    assert torn > 0


_TRAINER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from axonal import callbacks, layers
    from axonal.layers import Input
    from axonal.models import Sequential

    path = sys.argv[1]
    model = Sequential([Input((64,)), layers.Dense(256), layers.Dense(256), layers.Dense(1)])
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 64)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(path)])
    print("ready", flush=True)
    model.fit(x, y, epochs=100000, batch_size=64, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(path)])
    """
)


@pytest.mark.slow
def test_kill_during_checkpointing_always_leaves_a_loadable_file(tmp_path):
    if not hasattr(axonal.callbacks, "ModelCheckpoint"):
        pytest.skip("ModelCheckpoint not available")
    path = tmp_path / "ckpt.axonal"
    script = tmp_path / "trainer.py"
    script.write_text(_TRAINER)
    env = dict(os.environ, PYTHONPATH=SRC)
    rng = random.Random(11)
    for _ in range(5):
        process = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env
        )
        try:
            assert process.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.05, 0.5))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stdout.close()
        assert load_model(path).compiled
