"""Data utilities: datasets from folders, time series windows, splits, image files and cached
downloads, checked against Keras 3 where its code runs without TensorFlow (file indexing, image
files, resizing) and against Keras's documented rules otherwise. No test uses the network."""

import hashlib
import io
import os
import random
import tarfile
import zipfile

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.data import Dataset
from axonal.models import Sequential
from axonal.utils import (
    array_to_img,
    get_file,
    image_dataset_from_directory,
    img_to_array,
    load_img,
    save_img,
    split_dataset,
    text_dataset_from_directory,
    timeseries_dataset_from_array,
)
from axonal.utils.file_utils import FileNotAvailableError

PIL = pytest.importorskip("PIL.Image")

CLASSES = {"cat": 4, "dog": 3, "zebra": 5}
SIZES = [(6, 8), (9, 5), (7, 7), (4, 10), (12, 6)]


@pytest.fixture(autouse=True)
def _fresh():
    axonal.utils.clear_session()
    axonal.utils.set_random_seed(0)


@pytest.fixture
def image_dir(tmp_path):
    """Class folders of small RGB PNGs (various sizes, random pixels), plus files and folders
    that must be skipped (a hidden folder, a text file)."""
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name, count in CLASSES.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            h, w = SIZES[i % len(SIZES)]
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            # one file per class in a nested folder: found recursively, labelled by its class
            target = folder / "nested" if i == 0 else folder
            target.mkdir(exist_ok=True)
            PIL.fromarray(pixels).save(target / f"img_{i}.png")
        (folder / "notes.txt").write_text("not an image")
    hidden = root / ".hidden"
    hidden.mkdir()
    PIL.fromarray(np.zeros((4, 4, 3), np.uint8)).save(hidden / "x.png")
    return root


def _keras_index(directory, **kwargs):
    pytest.importorskip("keras")
    from keras.src.utils import dataset_utils

    return dataset_utils.index_directory(str(directory), formats=(".png",), **kwargs)


def _reference_image(path, size, interpolation="bilinear"):
    """Keras's decode (Pillow through keras.utils) and resize (keras.ops.image on torch, the
    same half-pixel rule as the tf.image.resize Keras's loader uses)."""
    keras = pytest.importorskip("keras")
    x = keras.utils.img_to_array(keras.utils.load_img(path))
    return np.asarray(keras.ops.image.resize(x, size, interpolation=interpolation))


# ------------------------------------------------------------------ image_dataset_from_directory


@pytest.mark.parametrize("shuffle", [False, True])
def test_files_labels_and_class_names_follow_keras(image_dir, shuffle):
    ds = image_dataset_from_directory(
        image_dir, image_size=(5, 6), shuffle=shuffle, seed=11, verbose=False
    )
    paths, labels, names = _keras_index(image_dir, labels="inferred", shuffle=shuffle, seed=11)
    assert ds.class_names == names == ["cat", "dog", "zebra"]
    assert ds.file_paths == paths
    assert len(paths) == sum(CLASSES.values())
    if not shuffle:
        got = np.concatenate([y for _, y in ds])
        np.testing.assert_array_equal(got, labels)


def test_images_and_labels_equal_keras_decoding_and_resizing(image_dir, no_thread_leak):
    ds = image_dataset_from_directory(
        image_dir, image_size=(5, 6), batch_size=4, shuffle=False, verbose=False
    )
    batches = list(ds)
    assert len(batches) == len(ds) == 3
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert images.dtype == np.float32 and images.shape == (12, 5, 6, 3)
    assert labels.dtype == np.int32
    for image, path in zip(images, ds.file_paths, strict=True):
        np.testing.assert_allclose(image, _reference_image(path, (5, 6)), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(labels, [0] * 4 + [1] * 3 + [2] * 5)


def test_label_modes_and_explicit_labels(image_dir):
    common = dict(image_size=(4, 4), shuffle=False, verbose=False, batch_size=None)
    categorical = image_dataset_from_directory(image_dir, label_mode="categorical", **common)
    first_image, first_label = next(iter(categorical))
    assert first_image.shape == (4, 4, 3)
    np.testing.assert_array_equal(first_label, np.float32([1, 0, 0]))
    binary = image_dataset_from_directory(
        image_dir, label_mode="binary", class_names=["zebra", "dog"], **common
    )
    assert binary.class_names == ["zebra", "dog"]
    labels = np.stack([y for _, y in binary])
    assert labels.dtype == np.float32 and labels.shape == (8, 1)
    np.testing.assert_array_equal(labels[:, 0], [0] * 5 + [1] * 3)
    no_labels = image_dataset_from_directory(image_dir, labels=None, **common)
    assert next(iter(no_labels)).shape == (4, 4, 3)
    # with a list of labels every file counts, hidden folders too (as in Keras): 13 of them
    given = list(range(13))[::-1]
    explicit = image_dataset_from_directory(image_dir, labels=given, **common)
    paths, keras_labels, names = _keras_index(image_dir, labels=given, shuffle=False)
    assert explicit.class_names == names
    np.testing.assert_array_equal([y for _, y in explicit], keras_labels)
    with pytest.raises(ValueError, match="binary"):
        image_dataset_from_directory(image_dir, label_mode="binary", **common)


def test_validation_split_and_both_subsets(image_dir):
    kwargs = dict(image_size=(4, 4), validation_split=0.25, seed=3, verbose=False)
    train, val = image_dataset_from_directory(image_dir, subset="both", **kwargs)
    paths, _, _ = _keras_index(image_dir, labels="inferred", shuffle=True, seed=3)
    assert train.file_paths == paths[:-3] and val.file_paths == paths[-3:]
    alone = image_dataset_from_directory(image_dir, subset="validation", **kwargs)
    assert alone.file_paths == val.file_paths
    assert sum(len(x) for x, _ in val) == 3
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(image_dir, validation_split=0.2, subset="training")


def test_shuffling_is_seeded_and_reshuffles_each_epoch(image_dir):
    ds = image_dataset_from_directory(
        image_dir, image_size=(4, 4), batch_size=3, seed=5, verbose=False
    )
    again = image_dataset_from_directory(
        image_dir, image_size=(4, 4), batch_size=3, seed=5, verbose=False
    )
    first = np.concatenate([x for x, _ in ds])
    np.testing.assert_array_equal(first, np.concatenate([x for x, _ in again]))
    second = np.concatenate([x for x, _ in ds])
    assert not np.array_equal(first, second)
    key = np.lexsort(first.reshape(len(first), -1).T)
    np.testing.assert_array_equal(first[key], second[np.lexsort(second.reshape(len(second), -1).T)])


def test_color_modes_aspect_ratio_and_channels_first(image_dir):
    keras = pytest.importorskip("keras")
    common = dict(image_size=(4, 6), shuffle=False, verbose=False, batch_size=None)
    gray = image_dataset_from_directory(image_dir, color_mode="grayscale", **common)
    assert next(iter(gray))[0].shape == (4, 6, 1)
    rgba = image_dataset_from_directory(image_dir, color_mode="rgba", **common)
    assert next(iter(rgba))[0].shape == (4, 6, 4)
    cropped = image_dataset_from_directory(image_dir, crop_to_aspect_ratio=True, **common)
    for (image, _), path in zip(cropped, cropped.file_paths, strict=True):
        x = keras.utils.img_to_array(keras.utils.load_img(path))
        expected = np.asarray(keras.preprocessing.image.smart_resize(x, (4, 6)))
        np.testing.assert_allclose(image, expected, rtol=1e-5, atol=1e-3)
    padded = image_dataset_from_directory(image_dir, pad_to_aspect_ratio=True, **common)
    # the first file is 9x5: in a 4x6 box it becomes 4x2 (ratio 2.25) at column
    # floor((6 - 5 / 2.25) / 2) = 1, as tf.image.resize_with_pad places it
    image, _ = next(iter(padded))
    x = keras.utils.img_to_array(keras.utils.load_img(padded.file_paths[0]))
    np.testing.assert_allclose(
        image[:, 1:3], _reference_image(padded.file_paths[0], (4, 2)), rtol=1e-5, atol=1e-3
    )
    assert np.all(image[:, [0, 3, 4, 5]] == 0) and x.shape == (9, 5, 3)
    first = image_dataset_from_directory(image_dir, data_format="channels_first", **common)
    np.testing.assert_array_equal(
        next(iter(first))[0],
        next(iter(image_dataset_from_directory(image_dir, **common)))[0].transpose(2, 0, 1),
    )


def test_a_cnn_fits_directly_on_a_directory_dataset(image_dir):
    train, val = image_dataset_from_directory(
        image_dir,
        image_size=(8, 8),
        batch_size=4,
        validation_split=0.25,
        subset="both",
        seed=1,
        verbose=False,
    )
    model = Sequential(
        [
            layers.Input((8, 8, 3)),
            layers.Rescaling(1.0 / 255),
            layers.RandomFlip("horizontal", seed=1),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(len(train.class_names)),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert "val_loss" in history.history
    assert model.predict(val, verbose=0).shape == (3, 3)


def test_missing_pillow_names_the_extra(image_dir, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match="pip install pillow"):
        image_dataset_from_directory(image_dir, verbose=False)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_img(image_dir / "cat" / "img_1.png")


# ------------------------------------------------------------------ text_dataset_from_directory


def test_text_dataset_reads_labelled_texts(tmp_path):
    for label, texts in {"neg": ["bad film", "dull"], "pos": ["great", "loved it", "fun"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    ds = text_dataset_from_directory(
        tmp_path, batch_size=2, shuffle=False, max_length=4, verbose=False
    )
    assert ds.class_names == ["neg", "pos"]
    texts = np.concatenate([x for x, _ in ds])
    labels = np.concatenate([y for _, y in ds])
    assert list(texts) == ["bad ", "dull", "grea", "love", "fun"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])


# ------------------------------------------------------------------ timeseries


def _windows(data, targets, length, stride, rate, start, end):
    """Keras's rule, written out: window i starts at start + i * stride (relative to data)."""
    end = len(data) if end is None else end
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    starts = range(0, count, stride)
    xs = [data[start + s : start + s + length * rate : rate] for s in starts]
    ys = [targets[start + s] for s in starts] if targets is not None else None
    return np.array(xs), None if ys is None else np.array(ys)


@pytest.mark.parametrize(
    "length,stride,rate,start,end,batch",
    [(3, 1, 1, None, None, 4), (5, 2, 3, 2, 40, 3), (4, 3, 2, 5, None, None), (10, 1, 2, 0, 30, 7)],
)
def test_timeseries_windows_and_targets_follow_keras(length, stride, rate, start, end, batch):
    data = np.arange(50 * 2).reshape(50, 2).astype("float32")
    targets = np.arange(50) * 10
    ds = timeseries_dataset_from_array(
        data,
        targets,
        sequence_length=length,
        sequence_stride=stride,
        sampling_rate=rate,
        batch_size=batch,
        start_index=start,
        end_index=end,
    )
    if batch is None:
        xs = np.stack([x for x, _ in ds])
        ys = np.stack([y for _, y in ds])
    else:
        xs = np.concatenate([x for x, _ in ds])
        ys = np.concatenate([y for _, y in ds])
        assert all(len(x) <= batch for x, _ in ds)
    want_x, want_y = _windows(data, targets, length, stride, rate, start or 0, end)
    np.testing.assert_array_equal(xs, want_x)
    np.testing.assert_array_equal(ys, want_y)
    assert xs.dtype == np.float32


def test_timeseries_keras_docstring_examples():
    # "predict the next value": 100 steps, windows of 10 sampled every 2, targets shifted by 20
    data = np.arange(100)
    ds = timeseries_dataset_from_array(
        data[:-20], data[20:], sequence_length=10, sampling_rate=2, batch_size=None
    )
    first_x, first_y = next(iter(ds))
    np.testing.assert_array_equal(first_x, np.arange(0, 20, 2))
    assert first_y == 20
    # targets shorter than the data bound the number of windows
    ds = timeseries_dataset_from_array(data, data[:5], sequence_length=3, batch_size=8)
    assert sum(len(y) for _, y in ds) == 5
    windows_only = timeseries_dataset_from_array(np.arange(10), None, 3, batch_size=4)
    np.testing.assert_array_equal(
        next(iter(windows_only)), [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    )


def test_timeseries_shuffle_uses_numpy_random_state_and_keeps_every_window():
    data = np.arange(30)
    ds = timeseries_dataset_from_array(
        data, data, sequence_length=4, batch_size=5, shuffle=True, seed=9
    )
    batches = list(ds)  # one epoch (each pass reshuffles within a buffer, as tf's shuffle)
    xs = np.concatenate([x for x, _ in batches])
    ys = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(xs[:, 0], ys)  # targets stay with their windows
    np.testing.assert_array_equal(np.sort(ys), np.arange(27))
    again = timeseries_dataset_from_array(
        data, data, sequence_length=4, batch_size=5, shuffle=True, seed=9
    )
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), ys)
    assert not np.array_equal(np.concatenate([y for _, y in ds]), ys)


def test_timeseries_checks_its_arguments():
    data = np.arange(10)
    with pytest.raises(ValueError, match="start_index"):
        timeseries_dataset_from_array(data, None, 3, start_index=10)
    with pytest.raises(ValueError, match="end_index"):
        timeseries_dataset_from_array(data, None, 3, start_index=5, end_index=4)
    with pytest.raises(ValueError, match="sampling_rate"):
        timeseries_dataset_from_array(data, None, 3, sampling_rate=0)
    with pytest.raises(ValueError, match="sequence_stride"):
        timeseries_dataset_from_array(data, None, 3, sequence_stride=10)


# ------------------------------------------------------------------ split_dataset


def test_split_dataset_sizes_order_and_shuffle():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    left, right = split_dataset((x, y), left_size=0.7)
    assert isinstance(left, Dataset)
    np.testing.assert_array_equal([b for _, b in left], np.arange(7))
    np.testing.assert_array_equal([b for _, b in right], np.arange(7, 10))
    left, right = split_dataset(x, left_size=2, right_size=3)
    np.testing.assert_array_equal(np.stack(list(right)), x[-3:])
    # shuffled as Keras does: Python's random with the seed, on the list of samples
    order = list(range(10))
    random.Random(4).shuffle(order)
    left, right = split_dataset((x, y), right_size=0.4, shuffle=True, seed=4)
    np.testing.assert_array_equal([b for _, b in left], order[:6])
    np.testing.assert_array_equal([b for _, b in right], order[6:])
    left, right = split_dataset({"a": x, "b": y}, left_size=5)
    assert sorted(next(iter(left))) == ["a", "b"]


def test_split_dataset_of_a_batched_dataset_keeps_its_batch_size():
    ds = Dataset.from_tensor_slices(np.arange(10)).batch(3)
    left, right = split_dataset(ds, left_size=0.5)
    assert [list(b) for b in left] == [[0, 1, 2], [3, 4]]
    assert [list(b) for b in right] == [[5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="left_size"):
        split_dataset(np.arange(4), left_size=4)
    with pytest.raises(ValueError, match="left_size, right_size"):
        split_dataset(np.arange(4))


# ------------------------------------------------------------------ image files


def test_image_files_round_trip_as_keras(tmp_path):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    x = rng.random((6, 9, 3)).astype("float32") * 100
    path = tmp_path / "a.png"
    save_img(path, x)
    keras.utils.save_img(tmp_path / "b.png", x)
    ours, theirs = (
        img_to_array(load_img(path)),
        keras.utils.img_to_array(keras.utils.load_img(tmp_path / "b.png")),
    )
    np.testing.assert_array_equal(ours, theirs)
    for kwargs in [
        dict(target_size=(4, 5)),
        dict(target_size=(4, 4), interpolation="bilinear", keep_aspect_ratio=True),
        dict(color_mode="grayscale", target_size=(3, 7), interpolation="bicubic"),
        dict(color_mode="rgba"),
    ]:
        np.testing.assert_array_equal(
            img_to_array(load_img(path, **kwargs)),
            keras.utils.img_to_array(keras.utils.load_img(path, **kwargs)),
        )
    for array in [x, x[..., :1], x[..., :1] * 100, np.concatenate([x, x[..., :1]], -1)]:
        np.testing.assert_array_equal(
            np.asarray(array_to_img(array)), np.asarray(keras.utils.array_to_img(array))
        )
    first = img_to_array(load_img(io.BytesIO(path.read_bytes())), data_format="channels_first")
    assert first.shape == (3, 6, 9)


# ------------------------------------------------------------------ get_file


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_get_file_copies_a_file_url_into_the_cache(tmp_path, monkeypatch):
    source = tmp_path / "source" / "data.csv"
    source.parent.mkdir()
    source.write_bytes(b"a,b\n1,2\n")
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "home"))
    path = get_file(origin=source.as_uri(), file_hash=_sha256(b"a,b\n1,2\n"))
    assert path == str(tmp_path / "home" / "datasets" / "data.csv")
    assert open(path, "rb").read() == b"a,b\n1,2\n"
    other = get_file("renamed.csv", source.as_uri(), cache_dir=tmp_path / "c", cache_subdir="x")
    assert other == str(tmp_path / "c" / "x" / "renamed.csv")


def test_get_file_uses_a_cached_file_and_explains_where_to_put_a_missing_one(tmp_path):
    unreachable = (tmp_path / "nowhere" / "weights.h5").as_uri()
    cached = tmp_path / "datasets" / "weights.h5"
    cached.parent.mkdir()
    cached.write_bytes(b"cached")
    assert get_file("weights.h5", unreachable, cache_dir=tmp_path) == str(cached)
    md5 = hashlib.md5(b"cached").hexdigest()
    assert get_file("weights.h5", unreachable, md5_hash=md5, cache_dir=tmp_path) == str(cached)
    with pytest.raises(FileNotAvailableError, match=str(tmp_path / "datasets" / "other.h5")):
        get_file("other.h5", unreachable, cache_dir=tmp_path)
    # a cached file with the wrong hash is fetched again; here that fails, and says so
    with pytest.raises(FileNotAvailableError, match="could not download"):
        get_file("weights.h5", unreachable, file_hash="0" * 64, cache_dir=tmp_path)


def test_get_file_extracts_archives(tmp_path):
    members = tmp_path / "payload"
    members.mkdir()
    (members / "a.txt").write_text("alpha")
    tar_path = tmp_path / "bundle.tar.gz"
    with tarfile.open(tar_path, "w:gz") as archive:
        archive.add(members / "a.txt", arcname="bundle/a.txt")
    zip_path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.write(members / "a.txt", arcname="b.txt")
    cache = tmp_path / "cache"
    folder = get_file("bundle.tar.gz", tar_path.as_uri(), extract=True, cache_dir=cache)
    assert folder == str(cache / "datasets" / "bundle_extracted")
    assert open(os.path.join(folder, "bundle", "a.txt")).read() == "alpha"
    folder = get_file("zipped", zip_path.as_uri(), extract=True, cache_dir=cache)
    assert open(os.path.join(folder, "b.txt")).read() == "alpha"
    with pytest.raises(ValueError, match="path"):
        get_file(os.path.join("sub", "x"), zip_path.as_uri(), cache_dir=cache)
