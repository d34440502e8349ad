"""Image preprocessing and augmentation layers: values against Keras 3 (torch backend) where they
are deterministic, gradients against finite differences, and the augmentation contract (the
identity outside training, seeded draws, shapes, value ranges, configs)."""

import numpy as np
import pytest

import axonal
from axonal import layers
from axonal.models import Sequential
from axonal.utils import set_random_seed
from gradcheck import gradcheck

AUGMENTATIONS = {
    "RandomFlip": lambda **kw: layers.RandomFlip(**kw),
    "RandomRotation": lambda **kw: layers.RandomRotation(0.2, **kw),
    "RandomZoom": lambda **kw: layers.RandomZoom(0.3, **kw),
    "RandomTranslation": lambda **kw: layers.RandomTranslation(0.2, 0.3, **kw),
    "RandomCrop": lambda **kw: layers.RandomCrop(5, 6, **kw),
    "RandomContrast": lambda **kw: layers.RandomContrast(0.5, **kw),
    "RandomBrightness": lambda **kw: layers.RandomBrightness(0.3, **kw),
}


@pytest.fixture(autouse=True)
def _fresh():
    axonal.utils.clear_session()
    set_random_seed(0)


def _images(shape, seed=0, scale=255.0):
    return (np.random.default_rng(seed).random(shape) * scale).astype("float32")


def _keras():
    return pytest.importorskip("keras")


# ------------------------------------------------------------------ Resizing and CenterCrop


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("aspect", ["stretch", "crop", "pad"])
@pytest.mark.parametrize("sizes", [(7, 9, 3, 4), (4, 5, 11, 13), (6, 10, 6, 10), (5, 3, 12, 2)])
def test_resizing_equals_keras(interpolation, antialias, aspect, sizes):
    keras = _keras()
    h, w, out_h, out_w = sizes
    x = _images((2, h, w, 3))
    kwargs = dict(
        interpolation=interpolation,
        antialias=antialias,
        crop_to_aspect_ratio=aspect == "crop",
        pad_to_aspect_ratio=aspect == "pad",
        fill_value=7.0,
    )
    expected = np.asarray(keras.layers.Resizing(out_h, out_w, **kwargs)(x))
    got = layers.Resizing(out_h, out_w, **kwargs)(x).data
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_resizing_channels_first_unbatched_and_integer_images_equal_keras():
    keras = _keras()
    x = _images((3, 6, 8))
    expected = np.asarray(keras.layers.Resizing(4, 3, data_format="channels_first")(x))
    got = layers.Resizing(4, 3, data_format="channels_first")(x).data
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    # uint8 images come back as uint8, rounded (a value at .5 may round either way in float32)
    pixels = _images((2, 5, 7, 3)).astype("uint8")
    expected = np.asarray(keras.layers.Resizing(3, 4)(pixels))
    got = layers.Resizing(3, 4)(pixels).data
    assert got.dtype == np.uint8 == expected.dtype
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("aspect", ["stretch", "crop", "pad"])
def test_resizing_is_differentiable(interpolation, aspect):
    layer = layers.Resizing(
        3,
        5,
        interpolation=interpolation,
        crop_to_aspect_ratio=aspect == "crop",
        pad_to_aspect_ratio=aspect == "pad",
        dtype="float64",
    )
    x = np.random.default_rng(1).normal(size=(2, 4, 6, 2))
    gradcheck(lambda t: layer(t), [x])


def test_center_crop_is_differentiable_and_equals_keras():
    keras = _keras()
    for h, w, out_h, out_w in [(7, 9, 3, 4), (4, 5, 6, 3), (3, 3, 5, 5), (6, 6, 6, 6)]:
        x = _images((2, h, w, 3))
        expected = np.asarray(keras.layers.CenterCrop(out_h, out_w)(x))
        got = layers.CenterCrop(out_h, out_w)(x).data
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    layer = layers.CenterCrop(3, 2, dtype="float64")
    gradcheck(lambda t: layer(t), [np.random.default_rng(2).normal(size=(1, 5, 5, 2))])
    small = layers.CenterCrop(6, 6, dtype="float64")  # smaller input: crop to aspect + resize
    gradcheck(lambda t: small(t), [np.random.default_rng(3).normal(size=(1, 4, 5, 2))])


def test_resizing_and_center_crop_in_a_sequential_model_know_their_output_shape():
    model = Sequential(
        [
            layers.Input((10, 12, 3)),
            layers.Resizing(8, 8),
            layers.CenterCrop(6, 4),
            layers.RandomFlip(),
            layers.Flatten(),
        ]
    )
    assert model.output_shape == (None, 6 * 4 * 3)
    assert model.predict(_images((2, 10, 12, 3)), verbose=0).shape == (2, 72)


def test_resizing_rejects_bad_arguments():
    with pytest.raises(ValueError, match="interpolation"):
        layers.Resizing(2, 2, interpolation="lanczos3")
    with pytest.raises(ValueError, match="only one of"):
        layers.Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="height"):
        layers.Resizing(0, 2)
    with pytest.raises(ValueError, match="rank 3"):
        layers.Resizing(2, 2)(np.zeros((2, 3), "float32"))


# ------------------------------------------------------------------ augmentation geometry


GEOMETRY = [
    ("RandomRotation", ((0.1, 0.1),), {}),
    ("RandomRotation", ((-0.3, -0.3),), {}),
    ("RandomZoom", ((0.25, 0.25),), {}),
    ("RandomZoom", ((-0.3, -0.3), (0.2, 0.2)), {}),
    ("RandomTranslation", ((0.25, 0.25), (-0.2, -0.2)), {}),
]


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("name,args,extra", GEOMETRY)
def test_fixed_affine_augmentations_equal_keras(name, args, extra, fill_mode, interpolation):
    keras = _keras()
    x = _images((2, 7, 9, 3))
    kwargs = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=3.0, **extra)
    expected = np.asarray(getattr(keras.layers, name)(*args, **kwargs)(x, training=True))
    got = getattr(layers, name)(*args, **kwargs)(x, training=True).data
    # float32 coordinates in Keras, float64 here: values agree to a few float32 ulps of 255
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-3)


def test_fixed_color_augmentations_equal_keras():
    keras = _keras()
    x = _images((3, 5, 6, 3))
    # factor (-f, f) gives the fixed contrast factor 1 + f in Keras 3 (minval 1 - low)
    for factor in [(-0.5, 0.5), (0.0, 0.0)]:
        expected = np.asarray(keras.layers.RandomContrast(factor)(x, training=True))
        got = layers.RandomContrast(factor)(x, training=True).data
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    expected = np.asarray(keras.layers.RandomBrightness((0.1, 0.1))(x, training=True))
    got = layers.RandomBrightness((0.1, 0.1))(x, training=True).data
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_random_crop_of_small_images_equals_keras_and_inference_passes_through():
    keras = _keras()
    for shape in [(2, 3, 5, 3), (2, 2, 2, 3), (2, 4, 3, 1), (1, 3, 3, 2)]:
        x = _images(shape)
        expected = np.asarray(keras.layers.RandomCrop(3, 3)(x, training=True))
        got = layers.RandomCrop(3, 3)(x, training=True).data
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    # at inference Keras 3.15 returns the images as they are (not a centre crop)
    x = _images((2, 7, 9, 3))
    expected = np.asarray(keras.layers.RandomCrop(3, 3)(x, training=False))
    np.testing.assert_array_equal(layers.RandomCrop(3, 3)(x, training=False).data, expected)


def test_random_crop_while_training_takes_one_window_of_the_batch():
    x = _images((3, 7, 9, 2))
    out = layers.RandomCrop(4, 5, seed=3)(x, training=True).data
    assert out.shape == (3, 4, 5, 2)
    windows = [
        (top, left)
        for top in range(4)
        for left in range(5)
        if np.array_equal(out, x[:, top : top + 4, left : left + 5])
    ]
    assert len(windows) == 1


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip_flips_whole_images_both_ways_at_once(mode):
    x = _images((64, 4, 5, 2))
    out = layers.RandomFlip(mode, seed=5)(x, training=True).data
    flipped = {
        "horizontal": x[:, :, ::-1],
        "vertical": x[:, ::-1],
        "horizontal_and_vertical": x[:, ::-1, ::-1],
    }[mode]
    same = np.all(out == x, axis=(1, 2, 3))
    flip = np.all(out == flipped, axis=(1, 2, 3))
    assert np.all(same | flip)
    assert 10 < flip.sum() < 54  # about half of them


def test_color_augmentations_stay_in_value_range():
    x = _images((32, 4, 4, 3), scale=1.0)
    contrast = layers.RandomContrast(0.9, value_range=(0, 1), seed=1)(x, training=True).data
    bright = layers.RandomBrightness(0.9, value_range=(0, 1), seed=1)(x, training=True).data
    for out in (contrast, bright):
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert not np.allclose(out, x)
    # a single number f draws a contrast factor in [1, 1 + f] (Keras 3's rule): away from the
    # clip bounds the spread around each channel's mean never shrinks
    wide = layers.RandomContrast(0.9, value_range=(-10, 10), seed=2)(x, training=True).data
    assert np.all(wide.std(axis=(1, 2)) >= x.std(axis=(1, 2)) * (1 - 1e-6))


# ------------------------------------------------------------------ the augmentation contract


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_is_the_identity_outside_training(name):
    x = _images((2, 8, 9, 3))
    layer = AUGMENTATIONS[name](seed=1)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    # a direct call augments, as Keras's augmentation layers default to training=True
    direct, trained = layer(x).data, AUGMENTATIONS[name](seed=1)(x, training=True).data
    np.testing.assert_array_equal(direct, trained)
    if name != "RandomCrop":  # its output shape differs between training and inference
        model = Sequential([layers.Input((8, 9, 3)), AUGMENTATIONS[name](seed=1)])
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)
        np.testing.assert_array_equal(model(x).data, x)  # a model's mode defaults to False


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_integer_images_come_back_with_keras_dtypes(name):
    keras = _keras()
    pixels = _images((2, 8, 9, 3)).astype("uint8")
    theirs = {
        "RandomFlip": keras.layers.RandomFlip(),
        "RandomRotation": keras.layers.RandomRotation(0.2),
        "RandomZoom": keras.layers.RandomZoom(0.3),
        "RandomTranslation": keras.layers.RandomTranslation(0.2, 0.3),
        "RandomCrop": keras.layers.RandomCrop(5, 6),
        "RandomContrast": keras.layers.RandomContrast(0.5),
        "RandomBrightness": keras.layers.RandomBrightness(0.3),
    }[name]
    expected = str(theirs(pixels, training=False).dtype).replace("torch.", "")
    out = AUGMENTATIONS[name]()(pixels, training=False).data
    assert out.dtype == np.dtype(expected)
    np.testing.assert_array_equal(out, pixels)


def test_augmentation_in_an_input_pipeline_and_inside_another_layer():
    x = _images((4, 6, 6, 3))
    flip = layers.RandomFlip(seed=3)
    # Keras's "augment in the tf.data pipeline" pattern: the layer called directly in map()
    dataset = axonal.data.Dataset.from_tensor_slices(x).batch(4).map(lambda b: flip(b))
    augmented = next(iter(dataset))
    np.testing.assert_array_equal(augmented, layers.RandomFlip(seed=3)(x, training=True).data)
    assert not np.array_equal(augmented, x)

    class Wrapper(layers.Layer):
        def __init__(self):
            super().__init__()
            self.flip = layers.RandomFlip(seed=3)

        def call(self, inputs):
            return self.flip(inputs)  # no training passed: no augmentation

    np.testing.assert_array_equal(Wrapper()(x).data, x)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_is_seeded_and_draws_anew_each_call(name):
    x = _images((4, 8, 9, 3))
    first, second = AUGMENTATIONS[name](seed=7), AUGMENTATIONS[name](seed=7)
    a1, a2 = first(x, training=True).data, first(x, training=True).data
    b1, b2 = second(x, training=True).data, second(x, training=True).data
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    expected_shape = (4, 5, 6, 3) if name == "RandomCrop" else x.shape
    assert a1.shape == expected_shape and a1.dtype == np.float32
    # unseeded layers follow axonal.utils.set_random_seed
    set_random_seed(3)
    c = AUGMENTATIONS[name]()(x, training=True).data
    set_random_seed(3)
    np.testing.assert_array_equal(AUGMENTATIONS[name]()(x, training=True).data, c)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_takes_single_images_and_channels_first(name):
    x = _images((8, 9, 3))
    out = AUGMENTATIONS[name](seed=2)(x, training=True).data
    assert out.shape == ((5, 6, 3) if name == "RandomCrop" else x.shape)
    first = np.ascontiguousarray(_images((2, 8, 9, 3)).transpose(0, 3, 1, 2))
    last = first.transpose(0, 2, 3, 1)
    a = AUGMENTATIONS[name](seed=2, data_format="channels_first")(first, training=True).data
    b = AUGMENTATIONS[name](seed=2)(last, training=True).data
    np.testing.assert_allclose(a.transpose(0, 2, 3, 1), b, rtol=1e-6, atol=1e-4)


LAYER_ARGS = {
    "Resizing": ((3, 4), {}),
    "CenterCrop": ((3, 4), {}),
    "RandomFlip": (("horizontal",), {"seed": 1}),
    "RandomRotation": ((0.2,), {"seed": 1, "fill_mode": "wrap"}),
    "RandomZoom": ((0.2, (-0.1, 0.3)), {"seed": 1}),
    "RandomTranslation": ((0.1, (-0.2, 0.1)), {"seed": 1}),
    "RandomCrop": ((3, 4), {"seed": 1}),
    "RandomContrast": ((0.5,), {"seed": 1, "value_range": (0, 1)}),
    "RandomBrightness": (((-0.2, 0.4),), {"seed": 1}),
}


@pytest.mark.parametrize("name", sorted(LAYER_ARGS))
def test_configs_have_keras_keys_and_values(name):
    keras = _keras()
    args, kwargs = LAYER_ARGS[name]
    ours = getattr(layers, name)(*args, **kwargs).get_config()
    theirs = getattr(keras.layers, name)(*args, **kwargs).get_config()
    common = set(theirs) - {"dtype", "name", "trainable"}
    assert common <= set(ours)
    for key in common:
        value = theirs[key]
        expected = list(value) if isinstance(value, tuple) else value
        got = list(ours[key]) if isinstance(ours[key], tuple) else ours[key]
        assert got == expected, key
    rebuilt = getattr(layers, name).from_config(ours)
    assert rebuilt.get_config() == ours


def test_augmentation_arguments_are_checked_like_keras():
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation(1.5)
    with pytest.raises(ValueError, match="factor"):
        layers.RandomContrast(-0.1)
    with pytest.raises(ValueError, match="height_factor"):
        layers.RandomZoom(-1.0)
    with pytest.raises(ValueError, match="width_factor"):
        layers.RandomTranslation(0.1, 1.5)
    with pytest.raises(ValueError, match="fill_mode"):
        layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation"):
        layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="mode"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="value_range"):
        layers.RandomBrightness(0.1, value_range=5)


def test_a_model_with_augmentation_trains_and_predicts_deterministically():
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")
    model = Sequential(
        [
            layers.Input((8, 8, 3)),
            layers.RandomFlip("horizontal", seed=1),
            layers.RandomRotation(0.05, seed=2),
            layers.RandomBrightness(0.1, value_range=(0, 1), seed=3),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.slow
def test_a_keras_archive_with_image_layers_loads_and_predicts_the_same(tmp_path):
    keras = _keras()
    pytest.importorskip("h5py")
    from axonal.saving import load_model

    inputs = keras.Input((9, 11, 3))
    x = keras.layers.Resizing(8, 10, interpolation="bicubic")(inputs)
    x = keras.layers.RandomFlip("horizontal", seed=1)(x)
    x = keras.layers.RandomRotation(0.1)(x)
    x = keras.layers.RandomZoom(0.2, 0.1)(x)
    x = keras.layers.RandomTranslation(0.1, 0.2)(x)
    x = keras.layers.RandomContrast(0.3)(x)
    x = keras.layers.RandomBrightness(0.2)(x)
    x = keras.layers.RandomCrop(8, 10)(keras.layers.CenterCrop(8, 10)(x))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    images = _images((2, 9, 11, 3))
    expected = np.asarray(model.predict(images, verbose=0))
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-3)
