"""axonal.data.Dataset: tf.data semantics (order, cardinality, shuffle buffers, batching),
thread cleanup, file caches without pickle, and bounded memory on a memmap."""

import gc
import json
import threading
import time

import numpy as np
import pytest

import axonal
from axonal.data import AUTOTUNE, INFINITE, UNKNOWN, Dataset, TensorSpec


def values(dataset):
    return [np.asarray(e).tolist() for e in dataset]


# ---- sources ---------------------------------------------------------------------------------


def test_from_tensor_slices_keeps_structure():
    x = np.arange(12.0).reshape(6, 2)
    y = np.arange(6)
    w = np.linspace(0, 1, 6)
    elements = list(Dataset.from_tensor_slices((x, y, w)))
    assert len(elements) == 6
    ex, ey, ew = elements[3]
    np.testing.assert_array_equal(ex, x[3])
    assert ey == 3 and ew == w[3]
    named = list(Dataset.from_tensor_slices({"a": x, "b": y}))
    assert list(named[0]) == ["a", "b"]
    np.testing.assert_array_equal(named[5]["a"], x[5])


def test_from_tensor_slices_list_is_one_array_as_in_tf():
    elements = values(Dataset.from_tensor_slices([[1, 2], [3, 4], [5, 6]]))
    assert elements == [[1, 2], [3, 4], [5, 6]]


def test_from_tensor_slices_refuses_mismatched_rows_and_scalars():
    with pytest.raises(ValueError, match="same number of rows"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="from_tensors"):
        Dataset.from_tensor_slices(np.float32(1.0))


def test_from_tensors_is_one_element():
    ds = Dataset.from_tensors((np.zeros((2, 3)), 1))
    ((x, y),) = list(ds)
    assert x.shape == (2, 3) and y == 1 and len(ds) == 1


def test_from_generator_is_read_again_each_epoch_and_checks_its_signature():
    calls = []

    def gen(n):
        calls.append(n)
        for i in range(n):
            yield np.full(2, i), i

    ds = Dataset.from_generator(gen, args=(3,))
    assert ds.cardinality() == UNKNOWN
    assert len(list(ds)) == 3 and len(list(ds)) == 3 and calls == [3, 3]
    with pytest.raises(TypeError, match="length is unknown"):
        len(ds)
    typed = Dataset.from_generator(
        gen,
        output_signature=(TensorSpec((None,), "float32"), TensorSpec((), "int32")),
        args=(2,),
    )
    x, y = next(iter(typed))
    assert x.dtype == np.float32 and y.dtype == np.int32

    def bad():
        yield np.zeros(2), 0
        yield np.zeros((2, 2)), 0

    checked = Dataset.from_generator(
        bad, output_signature=(TensorSpec((2,), "float32"), TensorSpec((), "int64"))
    )
    with pytest.raises(ValueError, match="element 1 .*shape \\(2, 2\\)"):
        list(checked)


def test_from_generator_refuses_a_generator_object():
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(iter([1, 2]))


def test_range_and_zip_and_concatenate():
    assert values(Dataset.range(2, 8, 3)) == [2, 5]
    zipped = Dataset.zip(Dataset.range(3), Dataset.range(10, 20))
    assert values(zipped) == [[0, 10], [1, 11], [2, 12]]
    assert zipped.cardinality() == 3
    named = Dataset.zip({"a": Dataset.range(2), "b": Dataset.range(2)})
    assert [e["b"] for e in named] == [0, 1]
    both = Dataset.range(2).concatenate(Dataset.range(5, 7))
    assert values(both) == [0, 1, 5, 6] and len(both) == 4
    mixed = Dataset.range(1).concatenate(Dataset.zip(Dataset.range(1), Dataset.range(1)))
    with pytest.raises(ValueError, match="different structures"):
        list(mixed)


# ---- transformations -------------------------------------------------------------------------


def test_map_unpacks_tuples_like_tf():
    ds = Dataset.from_tensor_slices((np.arange(4), np.arange(4) * 10)).map(lambda a, b: a + b)
    assert values(ds) == [0, 11, 22, 33]
    as_dict = Dataset.from_tensor_slices({"a": np.arange(3)}).map(lambda d: d["a"] * 2)
    assert values(as_dict) == [0, 2, 4]


def test_parallel_map_keeps_order(no_thread_leak):
    def slow_square(i):
        # later elements finish first: the output must still be in input order
        time.sleep(0.002 * (10 - int(i) % 10))
        return i * i

    ds = Dataset.range(30).map(slow_square, num_parallel_calls=4)
    assert values(ds) == [i * i for i in range(30)]
    assert values(Dataset.range(5).map(lambda i: -i, num_parallel_calls=AUTOTUNE)) == [
        0,
        -1,
        -2,
        -3,
        -4,
    ]


def test_parallel_map_error_reaches_the_reader(no_thread_leak):
    def fail_at_3(i):
        if i == 3:
            raise RuntimeError("bad element 3")
        return i

    with pytest.raises(RuntimeError, match="bad element 3"):
        list(Dataset.range(10).map(fail_at_3, num_parallel_calls=3))


def test_filter_and_its_unknown_cardinality():
    ds = Dataset.range(10).filter(lambda i: i % 3 == 0)
    assert values(ds) == [0, 3, 6, 9]
    assert ds.cardinality() == UNKNOWN
    assert Dataset.range(3).repeat().filter(lambda i: True).cardinality() == INFINITE


def test_shuffle_is_a_permutation_deterministic_with_a_seed():
    ds = Dataset.range(50).shuffle(50, seed=7)
    first, second = values(ds), values(ds)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert first != second, "reshuffle_each_iteration=True gives a new order each epoch"
    again = Dataset.range(50).shuffle(50, seed=7)
    assert values(again) == first and values(again) == second
    fixed = Dataset.range(50).shuffle(50, seed=7, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)


def test_shuffle_seed_none_follows_set_random_seed():
    from axonal.utils import set_random_seed

    set_random_seed(3)
    a = values(Dataset.range(20).shuffle(20))
    set_random_seed(3)
    b = values(Dataset.range(20).shuffle(20))
    assert a == b


def test_shuffle_buffer_of_one_keeps_order_and_small_buffer_is_local():
    assert values(Dataset.range(10).shuffle(1, seed=0)) == list(range(10))
    # tf semantics: with a buffer of 3, element i comes out no later than position i + 2... and
    # the first element out is one of the first 3 in
    out = values(Dataset.range(100).shuffle(3, seed=1))
    assert out[0] in (0, 1, 2)
    assert all(value <= position + 2 for position, value in enumerate(out))


def test_batch_and_drop_remainder_and_cardinality():
    ds = Dataset.from_tensor_slices((np.arange(10.0).reshape(5, 2), np.arange(5)))
    batches = list(ds.batch(2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    assert ds.batch(2).cardinality() == 3 and ds.batch(2, drop_remainder=True).cardinality() == 2
    assert [b[1].tolist() for b in ds.batch(2, drop_remainder=True)] == [[0, 1], [2, 3]]
    assert Dataset.range(3).repeat().batch(2).cardinality() == INFINITE


def test_batch_refuses_different_shapes_naming_them():
    ds = Dataset.from_generator(lambda: iter([np.zeros(2), np.zeros(3)])).batch(2)
    with pytest.raises(ValueError, match="different shapes.*\\(2,\\).*\\(3,\\).*padded_batch"):
        list(ds)


def test_padded_batch_pads_to_the_longest_or_to_padded_shapes():
    def ragged():
        for n in (1, 3, 2):
            yield np.arange(1, n + 1), n

    ds = Dataset.from_generator(ragged)
    (x1, n1), (x2, n2) = list(ds.padded_batch(2))
    np.testing.assert_array_equal(x1, [[1, 0, 0], [1, 2, 3]])
    np.testing.assert_array_equal(x2, [[1, 2]])
    (x1, _), _ = list(ds.padded_batch(2, padded_shapes=((5,), ()), padding_values=(-1, 0)))
    np.testing.assert_array_equal(x1, [[1, -1, -1, -1, -1], [1, 2, 3, -1, -1]])
    with pytest.raises(ValueError, match="longer than its padded shape"):
        list(ds.padded_batch(2, padded_shapes=((2,), ())))


def test_unbatch_and_rebatch():
    ds = Dataset.from_tensor_slices(np.arange(10)).batch(4)
    assert values(ds.unbatch()) == list(range(10))
    assert ds.unbatch().cardinality() == UNKNOWN
    assert [b.tolist() for b in ds.rebatch(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    pairs = Dataset.from_tensor_slices((np.arange(4), np.arange(4) * 2)).batch(3).unbatch()
    assert values(pairs) == [[0, 0], [1, 2], [2, 4], [3, 6]]


def test_take_skip_repeat_cardinality_follow_tf():
    ds = Dataset.range(10)
    assert values(ds.take(3)) == [0, 1, 2] and ds.take(3).cardinality() == 3
    assert ds.take(-1).cardinality() == 10 and ds.take(20).cardinality() == 10
    assert values(ds.skip(8)) == [8, 9] and ds.skip(20).cardinality() == 0
    assert ds.skip(-1).cardinality() == 0 and values(ds.skip(-1)) == []
    assert values(Dataset.range(2).repeat(3)) == [0, 1, 0, 1, 0, 1]
    assert Dataset.range(2).repeat(3).cardinality() == 6
    forever = Dataset.range(2).repeat()
    assert forever.cardinality() == INFINITE and forever.take(5).cardinality() == 5
    assert values(forever.take(5)) == [0, 1, 0, 1, 0]
    assert forever.skip(3).cardinality() == INFINITE
    assert Dataset.range(0).repeat().cardinality() == 0
    assert values(Dataset.range(0).repeat().take(3)) == []
    with pytest.raises(TypeError, match="infinite"):
        len(forever)
    assert bool(forever) is True


def test_zip_cardinality_follows_tf():
    assert Dataset.zip(Dataset.range(3), Dataset.range(1).repeat()).cardinality() == 3
    assert Dataset.zip(Dataset.range(1).repeat(), Dataset.range(1).repeat()).cardinality() == (
        INFINITE
    )
    unknown = Dataset.range(3).filter(lambda i: True)
    assert Dataset.zip(Dataset.range(3), unknown).cardinality() == UNKNOWN
    assert Dataset.range(3).concatenate(Dataset.range(1).repeat()).cardinality() == INFINITE


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        Dataset.range(3).batch(0)
    with pytest.raises(TypeError, match="count"):
        Dataset.range(3).take(1.5)
    with pytest.raises(ValueError, match="buffer_size"):
        Dataset.range(3).shuffle(0)
    with pytest.raises(TypeError, match="function"):
        Dataset.range(3).map(3)


# ---- prefetch and threads --------------------------------------------------------------------


def test_prefetch_keeps_order_and_stops_its_thread(no_thread_leak):
    ds = Dataset.range(100).map(lambda i: i + 1).prefetch(4)
    assert values(ds) == list(range(1, 101))
    assert values(ds.prefetch(AUTOTUNE).batch(50)) == [
        list(range(1, 51)),
        list(range(51, 101)),
    ]


def test_prefetch_thread_stops_when_iterator_is_closed_or_dropped(no_thread_leak):
    ds = Dataset.range(1).repeat().map(lambda i: i, num_parallel_calls=2).prefetch(2)
    iterator = iter(ds)
    next(iterator)
    assert any(t.name == "axonal-data-prefetch" for t in threading.enumerate())
    iterator.close()
    dropped = iter(ds.prefetch(3))
    next(dropped)
    del dropped
    gc.collect()
    for _element in ds:
        break
    for _element in ds.take(3):
        pass


def test_prefetch_error_is_raised_in_the_reader(no_thread_leak):
    def broken():
        yield np.zeros(1)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        list(Dataset.from_generator(broken).prefetch(2))


# ---- cache -----------------------------------------------------------------------------------


def test_memory_cache_reads_the_source_once():
    calls = []

    def record(i):
        calls.append(int(i))
        return i

    ds = Dataset.range(4).map(record).cache()
    assert values(ds) == [0, 1, 2, 3] and values(ds) == [0, 1, 2, 3]
    assert calls == [0, 1, 2, 3]


def test_memory_cache_of_a_partial_pass_is_not_kept():
    calls = []
    ds = Dataset.range(4).map(lambda i: calls.append(int(i)) or i).cache()
    assert values(ds.take(2)) == [0, 1]
    assert values(ds) == [0, 1, 2, 3]
    assert calls == [0, 1, 0, 1, 2, 3]


def test_file_cache_is_written_without_pickle_and_read_back(tmp_path):
    calls = []

    def record(x, y):
        calls.append(1)
        return {"x": x * 2, "y": y}

    source = Dataset.from_tensor_slices((np.arange(6.0).reshape(3, 2), np.arange(3)))
    prefix = str(tmp_path / "cache" / "train")
    ds = source.map(record).cache(prefix)
    first = list(ds)
    assert len(calls) == 3
    index = json.loads((tmp_path / "cache" / "train.index.json").read_text())
    assert index["count"] == 3
    # every stored element loads with allow_pickle=False
    with np.load(tmp_path / "cache" / "train.000000002.npz", allow_pickle=False) as stored:
        np.testing.assert_array_equal(stored["arr_0"], [8.0, 10.0])
    # a fresh pipeline with the same filename reads the files, not the source
    reread = list(source.map(record).cache(prefix))
    assert len(calls) == 3
    for a, b in zip(first, reread, strict=True):
        assert list(b) == ["x", "y"]
        np.testing.assert_array_equal(a["x"], b["x"])
        assert a["y"] == b["y"] and type(a["y"]) is type(b["y"])


def test_file_cache_of_a_partial_pass_leaves_nothing(tmp_path):
    prefix = str(tmp_path / "part")
    list(Dataset.range(5).cache(prefix).take(2))
    assert list(tmp_path.iterdir()) == []


def test_file_cache_refuses_object_arrays(tmp_path):
    ds = Dataset.from_tensor_slices(np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(TypeError, match="without pickle"):
        list(ds.cache(str(tmp_path / "objects")))


# ---- bounded memory --------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    pytest.skip(f"no {field} in /proc/self/status")


def _anonymous_rss_kib() -> int:
    """Resident anonymous memory (what the process allocated itself): pages of a memmap read
    from disk count in VmRSS too, but as file pages (RssFile) the kernel may drop at will."""
    return _status_kib("RssAnon")


@pytest.mark.slow
def test_batch_and_prefetch_over_a_200_mb_memmap_keep_memory_bounded(tmp_path):
    rows, features = 50_000, 1024  # float32: 200 MiB on disk
    path = tmp_path / "big.dat"
    writer = np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, features))
    for start in range(0, rows, 5_000):
        writer[start : start + 5_000] = 1.0
    writer.flush()
    del writer
    data = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, features))
    labels = np.zeros(rows, dtype=np.int64)
    ds = (
        Dataset.from_tensor_slices((data, labels))
        .shuffle(256, seed=0)
        .batch(500)
        .map(lambda x, y: (x * 2.0, y), num_parallel_calls=2)
        .prefetch(2)
    )
    before = _anonymous_rss_kib()
    peak = before
    total = 0.0
    for number, (x, _) in enumerate(ds):
        total += float(x[:, 0].sum())
        if number % 5 == 0:
            peak = max(peak, _anonymous_rss_kib())
    peak = max(peak, _anonymous_rss_kib())
    assert total == 2.0 * rows
    growth_mib = (peak - before) / 1024
    # a pipeline that materialised the set would add its 200 MiB (twice that with the map's
    # copy); batches of 2 MiB, a few in flight, and a buffer of 256 row views stay far below
    assert growth_mib < 50, f"anonymous RSS grew by {growth_mib:.0f} MiB"


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_batching_slices_directly_gives_what_stacking_rows_gives(drop_remainder):
    rng = np.random.default_rng(0)
    features = {"a": rng.random((23, 3)).astype(np.float32), "b": np.arange(23)}
    labels = rng.integers(0, 4, size=(23, 1))
    direct = Dataset.from_tensor_slices((features, labels)).batch(5, drop_remainder)
    # map() sits between, so these batches are stacked row by row
    stacked = (
        Dataset.from_tensor_slices((features, labels))
        .map(lambda f, y: (f, y))
        .batch(5, drop_remainder)
    )
    got, want = list(direct), list(stacked)
    assert len(got) == len(want) == (4 if drop_remainder else 5)
    for (f1, y1), (f2, y2) in zip(got, want, strict=True):
        for key in ("a", "b"):
            np.testing.assert_array_equal(f1[key], f2[key])
            assert f1[key].dtype == f2[key].dtype
        np.testing.assert_array_equal(y1, y2)
    # a batch is a copy: changing it leaves the source alone
    got[0][0]["a"][...] = -1
    assert (features["a"] >= 0).all()


@pytest.mark.slow
def test_fit_on_a_256_mb_memmap_keeps_the_whole_rss_bounded(tmp_path):
    """File pages count in RSS too: without releasing them, reading the set once would leave
    all 256 MiB resident."""
    rows, features = 262_144, 256  # float32: 256 MiB on disk
    path = tmp_path / "big.dat"
    writer = np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, features))
    for start in range(0, rows, 32_768):
        writer[start : start + 32_768] = 0.5
    writer.flush()
    del writer
    data = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, features))
    labels = (np.arange(rows) % 2).astype(np.int64)
    model = axonal.Sequential(
        [axonal.Input((features,)), axonal.layers.Dense(4), axonal.layers.Dense(2)]
    )
    model.compile("sgd", axonal.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data[:1024], labels[:1024], verbose=0)  # allocations of a first fit
    before = _status_kib("VmRSS")
    peak = [before]

    class Watch(axonal.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 16 == 0:
                peak.append(_status_kib("VmRSS"))

    dataset = Dataset.from_tensor_slices((data, labels)).batch(1024).prefetch(2)
    history = model.fit(dataset, epochs=1, verbose=0, callbacks=[Watch()])
    peak.append(_status_kib("VmRSS"))
    assert len(history.history["loss"]) == 1
    growth_mib = (max(peak) - before) / 1024
    assert growth_mib < 160, f"RSS grew by {growth_mib:.0f} MiB over a 256 MiB memmap"
