"""Datasets from folders of files and from arrays (``keras.utils``'s dataset builders).

``image_dataset_from_directory`` and ``text_dataset_from_directory`` index a folder the way Keras
does (one subfolder per class, sorted names, files sorted, then shuffled with NumPy's
``RandomState(seed)``, the same file order and labels as Keras for the same seed) and return an
``axonal.data.Dataset`` that ``fit`` takes directly. Only paths and labels are held in memory:
files are read and decoded batch by batch as the dataset is iterated. ``split_dataset`` splits
arrays or a dataset in two.
"""

from __future__ import annotations

import os
import random

import numpy as np

from axonal import backend
from axonal.data import AUTOTUNE, Dataset
from axonal.layers.data_format import standardize_data_format
from axonal.layers.preprocessing import _image_ops
from axonal.utils import image_utils

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_LABEL_MODES = ("int", "categorical", "binary", None)
_COLOR_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


def _valid_files(directory: str, follow_links: bool, formats: tuple):
    """(folder, file name) pairs under ``directory``, folders and names sorted."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                yield root, name


def index_directory(
    directory,
    labels,
    formats: tuple,
    class_names=None,
    shuffle: bool = True,
    seed: int | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> tuple:
    """The file paths, labels and class names of a folder, in Keras's order.

    With ``labels="inferred"`` each subfolder (sorted, hidden ones skipped; or ``class_names``
    in their given order) is a class and its files (any depth) get its index; a list of labels
    goes with the files in sorted order; None gives no labels.

    Returns:
        ``(file_paths, labels, class_names)``: labels an int32 array (or the list given, or None).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"Directory {directory!r} does not exist or is not a folder.")
    if labels == "inferred":
        subdirs = [
            name
            for name in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")
        ]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(
                    f"class_names {list(class_names)} do not match the subfolders of "
                    f"{directory!r}: expected {subdirs} or a subset of them."
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError(
                "class_names can be given only with labels='inferred' (with a list of labels "
                "the class names are the sorted labels; with labels=None there are none)."
            )
    filenames: list[str] = []
    file_labels: list[int] = []
    for index, subdir in enumerate(subdirs):
        folder = os.path.join(directory, subdir)
        dirname = os.path.basename(folder)
        for root, name in _valid_files(folder, follow_links, formats):
            relative = os.path.relpath(os.path.join(root, name), folder)
            filenames.append(os.path.join(dirname, relative))
            file_labels.append(index)
    if labels == "inferred":
        labels = np.asarray(file_labels, dtype="int32")
        class_names = list(subdirs)
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                f"labels has {len(labels)} entries but {directory!r} holds {len(filenames)} "
                "files; pass one label per file (in sorted file order)."
            )
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)  # a copy: the caller's list is not shuffled in place
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        if seed is None:
            seed = int(backend.make_rng(None).integers(1e6))
        # the same permutation of paths and labels, as Keras makes it
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def _check_split(validation_split, subset, shuffle: bool, seed) -> None:
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split!r}.")
    if bool(validation_split) != bool(subset):
        raise ValueError("subset and validation_split must be given together.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"subset must be 'training', 'validation' or 'both', got {subset!r}.")
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "validation_split with shuffle=True needs a seed, so that the training and "
            "validation subsets do not overlap."
        )


def _split(samples, labels, validation_split, subset: str) -> tuple:
    """Keras's split: the last ``int(validation_split * n)`` samples are the validation set."""
    if not validation_split:
        return samples, labels
    count = int(validation_split * len(samples))
    if subset == "training":
        print(f"Using {len(samples) - count} files for training.")
        keep = slice(None, -count) if count else slice(None)
    else:
        print(f"Using {count} files for validation.")
        keep = slice(-count, None) if count else slice(0, 0)
    return samples[keep], None if labels is None else labels[keep]


def _check_labels(labels, label_mode, class_names) -> tuple:
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError(
            "labels must be 'inferred', None or a list/tuple of integer labels (one per file, "
            f"in sorted file order), got {labels!r}."
        )
    if labels not in ("inferred", None) and class_names:
        raise ValueError("class_names can be given only with labels='inferred'.")
    if label_mode not in _LABEL_MODES:
        raise ValueError(
            f"label_mode must be 'int', 'categorical', 'binary' or None, got {label_mode!r}."
        )
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def _encoded_labels(labels, label_mode: str, num_classes: int) -> np.ndarray:
    """Labels as Keras yields them: int32, a float32 column (binary) or float32 one-hot."""
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype("float32")[:, None]
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels.astype(np.int64)]
    return labels.astype("int32")


def _paths_dataset(paths, labels, label_mode, num_classes, load, batch_size, shuffle, seed):
    """A dataset of (decoded batch, labels) read lazily from ``paths``."""
    paths = np.asarray(paths, dtype=str)
    if label_mode:
        dataset = Dataset.from_tensor_slices(
            (paths, _encoded_labels(labels, label_mode, num_classes))
        )
    else:
        dataset = Dataset.from_tensor_slices(paths)
    if shuffle:
        buffer = batch_size * 8 if batch_size is not None else 1024
        dataset = dataset.shuffle(buffer, seed=seed)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
        loader = load
    else:

        def loader(path):
            return load(np.asarray([path]))[0]

    if label_mode:
        dataset = dataset.map(lambda path, label: (loader(path), label))
    else:
        dataset = dataset.map(loader)
    # decode the next batches on a background thread while the model trains (as Keras does)
    return dataset.prefetch(AUTOTUNE)


def _image_loader(image_size, color_mode, interpolation, crop, pad, data_format):
    """A function from an array of paths to a float32 batch of decoded, resized images."""
    height, width = image_size

    def load_one(path) -> np.ndarray:
        img = image_utils.img_to_array(
            image_utils.load_img(str(path), color_mode=color_mode), "channels_last", "float32"
        )
        if color_mode == "grayscale" and img.shape[-1] != 1:
            img = img[..., :1]
        batch = img[None]
        in_h, in_w = img.shape[:2]
        if crop:
            top, left, crop_h, crop_w = _image_ops.aspect_crop_box(in_h, in_w, height, width)
            batch = batch[:, top : top + crop_h, left : left + crop_w]
            return _image_ops.resize_array(batch, height, width, interpolation)[0]
        if pad:
            # tf.image.resize_with_pad: resize within the box keeping the aspect ratio, then pad
            ratio = max(in_w / width, in_h / height)
            new_h, new_w = max(int(in_h / ratio), 1), max(int(in_w / ratio), 1)
            resized = _image_ops.resize_array(batch, new_h, new_w, interpolation)[0]
            out = np.zeros((height, width, img.shape[-1]), dtype="float32")
            # tf's offsets come from the unrounded size: floor((target - size / ratio) / 2)
            top = max(int(np.floor((height - in_h / ratio) / 2)), 0)
            left = max(int(np.floor((width - in_w / ratio) / 2)), 0)
            out[top : top + new_h, left : left + new_w] = resized
            return out
        return _image_ops.resize_array(batch, height, width, interpolation)[0]

    def load(paths) -> np.ndarray:
        images = np.stack([load_one(path) for path in paths]).astype("float32", copy=False)
        if data_format == "channels_first":
            images = images.transpose(0, 3, 1, 2)
        return images

    return load


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size=(256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    verbose: bool = True,
    **kwargs,
):
    """A dataset of ``(images, labels)`` batches from a folder of image files, one subfolder
    per class (Keras's ``keras.utils.image_dataset_from_directory``).

    Files (.bmp, .gif, .jpeg, .jpg, .png) are found and labelled as Keras does, and decoded
    with Pillow (the ``images`` extra: ``pip install -e '.[images]'``) a batch at a time as the
    dataset is iterated, so folders larger than memory stream. Images are float32 in [0, 255],
    resized to ``image_size`` with ``interpolation`` (bilinear, nearest or bicubic).

    Args:
        directory: the folder.
        labels: ``"inferred"`` (from the subfolders), a list of integer labels (one per file,
            in sorted path order), or None (images only).
        label_mode: ``"int"`` (int32), ``"categorical"`` (float32 one-hot), ``"binary"``
            (float32 of shape (batch, 1), exactly 2 classes) or None (images only).
        class_names: with inferred labels, the subfolders to use, in the order of their labels.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"`` (3, 4 or 1 channels).
        batch_size: images per batch; None yields single images.
        image_size: ``(height, width)`` (or one int for a square).
        shuffle: shuffle the files (once with ``seed``, Keras's order), and the batches'
            contents again every epoch from a buffer of ``8 * batch_size``.
        seed: the shuffling seed (required with ``validation_split`` and shuffling).
        validation_split, subset: hold out the last fraction of the (shuffled) files;
            ``subset`` is ``"training"``, ``"validation"`` or ``"both"`` (returns the pair).
        interpolation: the resizing method.
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: crop the largest centred window of the target's aspect ratio
            before resizing (no distortion).
        pad_to_aspect_ratio: resize within the target keeping the aspect ratio, then pad with
            zeros (no distortion).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        verbose: print how many files were found.

    Returns:
        An ``axonal.data.Dataset`` with ``class_names`` and ``file_paths`` attributes (a pair
        of them for ``subset="both"``).

    Example:
        >>> train, val = image_dataset_from_directory(
        ...     "photos/", image_size=(64, 64), validation_split=0.2, subset="both", seed=1)
        >>> model.fit(train, validation_data=val, epochs=3)
    """
    fmt = kwargs.pop("format", "tf")
    if kwargs:
        raise TypeError(f"image_dataset_from_directory got unexpected arguments {sorted(kwargs)}.")
    if fmt not in ("tf", "grain"):
        raise ValueError(f"format must be 'tf' or 'grain', got {fmt!r}.")
    labels, label_mode = _check_labels(labels, label_mode, class_names)
    if color_mode not in _COLOR_CHANNELS:
        raise ValueError(f"color_mode must be 'rgb', 'rgba' or 'grayscale', got {color_mode!r}.")
    if isinstance(image_size, (int, np.integer)):
        image_size = (int(image_size), int(image_size))
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"image_size must be (height, width), got {image_size!r}.")
    image_size = (int(image_size[0]), int(image_size[1]))
    interpolation = interpolation.lower()
    if interpolation not in _image_ops.RESIZE_INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {_image_ops.RESIZE_INTERPOLATIONS} in axonal, got "
            f"{interpolation!r}."
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True.")
    _check_split(validation_split, subset, shuffle, seed)
    image_utils.pil_image()  # fail now, naming the extra, rather than at the first batch
    if seed is None:
        seed = int(backend.make_rng(None).integers(1e6))
    paths, labels, class_names = index_directory(
        directory, labels, IMAGE_FORMATS, class_names, shuffle, seed, follow_links, verbose
    )
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            f"label_mode='binary' needs exactly 2 classes, got class_names={class_names}."
        )
    load = _image_loader(
        image_size,
        color_mode,
        interpolation,
        crop_to_aspect_ratio,
        pad_to_aspect_ratio,
        standardize_data_format(data_format),
    )
    num_classes = len(class_names) if class_names else 0

    def build(subset_paths, subset_labels, subset_shuffle, what: str):
        if not subset_paths:
            raise ValueError(
                f"No {what}images found in directory {os.fspath(directory)!r}. Allowed "
                f"formats: {IMAGE_FORMATS}."
            )
        dataset = _paths_dataset(
            subset_paths,
            subset_labels,
            label_mode,
            num_classes,
            load,
            batch_size,
            subset_shuffle,
            seed,
        )
        dataset.class_names = class_names
        dataset.file_paths = list(subset_paths)
        return dataset

    if subset == "both":
        train = _split(paths, labels, validation_split, "training")
        val = _split(paths, labels, validation_split, "validation")
        return [build(*train, shuffle, "training "), build(*val, False, "validation ")]
    paths, labels = _split(paths, labels, validation_split, subset)
    return build(paths, labels, shuffle, "")


def text_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    verbose: bool = True,
    **kwargs,
):
    """A dataset of ``(texts, labels)`` batches from a folder of ``.txt`` files, one subfolder
    per class (Keras's ``keras.utils.text_dataset_from_directory``).

    Texts are NumPy string arrays, read (UTF-8) a batch at a time as the dataset is iterated.
    The arguments are ``image_dataset_from_directory``'s; ``max_length`` keeps at most that
    many characters of each text (Keras counts bytes; the two agree on ASCII text).

    Example:
        >>> train = text_dataset_from_directory("reviews/train", batch_size=32, seed=1)
        >>> [class_name for class_name in train.class_names]  # ['neg', 'pos']
    """
    fmt = kwargs.pop("format", "tf")
    if kwargs:
        raise TypeError(f"text_dataset_from_directory got unexpected arguments {sorted(kwargs)}.")
    if fmt not in ("tf", "grain"):
        raise ValueError(f"format must be 'tf' or 'grain', got {fmt!r}.")
    labels, label_mode = _check_labels(labels, label_mode, class_names)
    _check_split(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = int(backend.make_rng(None).integers(1e6))
    paths, labels, class_names = index_directory(
        directory, labels, (".txt",), class_names, shuffle, seed, follow_links, verbose
    )
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            f"label_mode='binary' needs exactly 2 classes, got class_names={class_names}."
        )

    def load(batch_paths) -> np.ndarray:
        texts = []
        for path in batch_paths:
            with open(str(path), encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            texts.append(text if max_length is None else text[:max_length])
        return np.asarray(texts, dtype=str)

    num_classes = len(class_names) if class_names else 0

    def build(subset_paths, subset_labels, subset_shuffle):
        if not subset_paths:
            raise ValueError(f"No text files found in directory {os.fspath(directory)!r}.")
        dataset = _paths_dataset(
            subset_paths,
            subset_labels,
            label_mode,
            num_classes,
            load,
            batch_size,
            subset_shuffle,
            seed,
        )
        dataset.class_names = class_names
        dataset.file_paths = list(subset_paths)
        return dataset

    if subset == "both":
        train = _split(paths, labels, validation_split, "training")
        val = _split(paths, labels, validation_split, "validation")
        return [build(*train, shuffle), build(*val, False)]
    paths, labels = _split(paths, labels, validation_split, subset)
    return build(paths, labels, shuffle)


def _split_size(size, total: int, what: str):
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise TypeError(f"split_dataset {what} must be an int, a float or None, got {size!r}.")
    if isinstance(size, int) and not 0 < size < total:
        raise ValueError(
            f"split_dataset {what} must be a positive integer smaller than {total} (the "
            f"dataset's length) or a float in (0, 1), got {size!r}."
        )
    if isinstance(size, float) and not 0 < size < 1:
        raise ValueError(f"split_dataset {what} as a fraction must be in (0, 1), got {size!r}.")
    return round(size * total) if isinstance(size, float) else size


def split_dataset(
    dataset, left_size=None, right_size=None, shuffle: bool = False, seed: int | None = None
) -> tuple:
    """Split a dataset in two (Keras's ``keras.utils.split_dataset``).

    Args:
        dataset: an array, a tuple/list/dict of arrays with the same number of rows, or an
            ``axonal.data.Dataset`` (read whole; a batched one is split by samples and the
            halves batched again with its batch size).
        left_size, right_size: sizes of the two parts: an int (samples) or a float (fraction);
            a missing one is the rest.
        shuffle: shuffle the samples first (Python's ``random.Random(seed)``, as Keras does).
        seed: the shuffling seed.

    Returns:
        ``(left, right)``: two ``axonal.data.Dataset``s.

    Example:
        >>> left, right = split_dataset(np.arange(10), left_size=0.8)
        >>> len(list(left)), len(list(right))
        (8, 2)
    """
    samples, batch_size = _as_samples(dataset)
    total = len(samples)
    if left_size is None and right_size is None:
        raise ValueError("split_dataset needs left_size, right_size or both.")
    left = _split_size(left_size, total, "left_size")
    right = _split_size(right_size, total, "right_size")
    both_fractions = isinstance(left_size, float) and isinstance(right_size, float)
    if both_fractions and left_size + right_size > 1:
        raise ValueError("split_dataset left_size + right_size must not exceed 1.")
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"split_dataset sizes {left} + {right} exceed the dataset's {total} samples."
        )
    if left == 0 or right == 0:
        raise ValueError(
            f"split_dataset of {total} samples with left_size={left_size!r} and "
            f"right_size={right_size!r} leaves one side empty."
        )
    if shuffle:
        if seed is None:
            seed = int(backend.make_rng(None).integers(1e6))
        random.Random(seed).shuffle(samples)
    halves = []
    for part in (samples[:left], samples[total - right :]):
        half = Dataset.from_tensor_slices(_stacked(part))
        if batch_size is not None:
            half = half.batch(batch_size)
        halves.append(half)
    return tuple(halves)


def _as_samples(dataset) -> tuple:
    """The samples of ``dataset`` as a list (each a tuple/dict of rows or one row), and the
    batch size to restore (for a batched Dataset)."""
    if isinstance(dataset, Dataset):
        elements = list(dataset.as_numpy_iterator())
        batch_size = _batch_size_of(dataset)
        if batch_size is None:
            return elements, None
        samples = []
        for element in elements:
            samples.extend(_rows(element))
        return samples, batch_size
    if isinstance(dataset, dict):
        return _rows({key: np.asarray(value) for key, value in dataset.items()}), None
    if isinstance(dataset, (list, tuple)) and dataset and not np.isscalar(dataset[0]):
        arrays = tuple(np.asarray(value) for value in dataset)
        if len({len(array) for array in arrays}) != 1:
            raise ValueError(
                "split_dataset got arrays with different numbers of rows: "
                f"{[len(array) for array in arrays]}."
            )
        return _rows(arrays), None
    if isinstance(dataset, (np.ndarray, list)):
        return list(np.asarray(dataset)), None
    raise TypeError(
        "split_dataset takes an array, a tuple/list/dict of arrays or an axonal.data.Dataset, "
        f"got {type(dataset).__name__}."
    )


def _batch_size_of(dataset: Dataset):
    """The batch size of the last ``batch`` step in ``dataset``'s pipeline, or None (Keras
    splits a batched dataset by samples and batches the halves again)."""
    node = dataset
    while node is not None:
        if type(node).__name__ == "_Unbatch":
            return None
        size = getattr(node, "_batch_size", None)
        if size is not None:
            return int(size)
        node = getattr(node, "_input", None)
    return None


def _rows(element) -> list:
    if isinstance(element, dict):
        count = len(next(iter(element.values())))
        return [{key: value[i] for key, value in element.items()} for i in range(count)]
    if isinstance(element, tuple):
        return [tuple(value[i] for value in element) for i in range(len(element[0]))]
    return list(element)


def _stacked(samples: list):
    first = samples[0]
    if isinstance(first, dict):
        return {key: np.stack([sample[key] for sample in samples]) for key in first}
    if isinstance(first, tuple):
        return tuple(np.stack(column) for column in zip(*samples, strict=True))
    return np.stack(samples)


__all__ = [
    "image_dataset_from_directory",
    "index_directory",
    "split_dataset",
    "text_dataset_from_directory",
]
