"""keras.ops.image: patches, resize, crop, pad and grayscale against Keras 3; gradients of the
differentiable ones against finite differences."""

import numpy as np
import pytest

import axonal
from axonal import ops
from axonal.gradcheck import check_gradients

IMAGES = np.random.default_rng(0).random((2, 7, 9, 3))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: ops.image.extract_patches(x, (3, 2), strides=(2, 3)),
        lambda x: ops.image.crop_images(x, 1, 2, 3, 4),
        lambda x: ops.image.pad_images(x, 1, 2, 0, 3),
        ops.image.rgb_to_grayscale,
    ],
)
def test_differentiable_image_ops_match_finite_differences(fn):
    check_gradients(fn, IMAGES).assert_ok()


def test_vit_patches_are_row_major_pixel_vectors():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    patches = ops.image.extract_patches(x, 2).data
    assert patches.shape == (2, 2, 2, 12)
    np.testing.assert_array_equal(patches[0, 0, 1], x[0, 0:2, 2:4].reshape(-1))
    # one image without a batch axis gives one image's patches
    assert ops.image.extract_patches(x[0], 2).data.shape == (2, 2, 12)


def test_unsupported_settings_are_named():
    with pytest.raises(ValueError, match="channels_first"):
        ops.image.resize(IMAGES, (4, 4), data_format="channels_first")
    with pytest.raises(ValueError, match="padding='valid'"):
        ops.image.extract_patches(IMAGES, 2, padding="same")
    with pytest.raises(ValueError, match="'bilinear' and 'nearest'"):
        ops.image.resize(IMAGES, (4, 4), interpolation="bicubic")


def test_image_ops_match_keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = IMAGES.astype("float32")

    def theirs(t):
        return keras.ops.convert_to_numpy(t)

    for size, strides, dilation in [(2, None, 1), ((3, 2), (2, 3), 1), (2, None, 2)]:
        np.testing.assert_array_equal(
            ops.image.extract_patches(x, size, strides=strides, dilation_rate=dilation).data,
            theirs(
                keras.ops.image.extract_patches(x, size, strides=strides, dilation_rate=dilation)
            ),
        )
    for interpolation in ("bilinear", "nearest"):
        for size in [(14, 18), (4, 5), (7, 4)]:
            np.testing.assert_allclose(
                ops.image.resize(x, size, interpolation=interpolation).data,
                theirs(keras.ops.image.resize(x, size, interpolation=interpolation)),
                rtol=1e-5,
                atol=1e-6,
            )
    np.testing.assert_allclose(
        ops.image.rgb_to_grayscale(x).data, theirs(keras.ops.image.rgb_to_grayscale(x)), rtol=1e-6
    )
    np.testing.assert_array_equal(
        ops.image.pad_images(x, 1, 2, 3, 4).data, theirs(keras.ops.image.pad_images(x, 1, 2, 3, 4))
    )
    np.testing.assert_array_equal(
        ops.image.crop_images(x, 1, 2, 3, 4).data,
        theirs(keras.ops.image.crop_images(x, 1, 2, 3, 4)),
    )


def test_a_vit_style_patch_model_learns():
    axonal.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    images = rng.random((600, 8, 8, 1)).astype("float32")
    labels = images[:, :4, :4].mean(axis=(1, 2, 3)) > images[:, 4:, 4:].mean(axis=(1, 2, 3))
    inputs = axonal.Input((8, 8, 1))
    patches = axonal.layers.Reshape((4, 16))(ops.image.extract_patches(inputs, 4))
    tokens = axonal.layers.Dense(16)(patches)
    attended = axonal.layers.MultiHeadAttention(num_heads=2, key_dim=8)(tokens, tokens)
    pooled = axonal.layers.Flatten()(axonal.layers.LayerNormalization()(tokens + attended))
    model = axonal.Model(inputs, axonal.layers.Dense(2, activation="softmax")(pooled))
    model.compile(
        axonal.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(images, labels.astype("int64"), epochs=30, batch_size=32, verbose=0,
                        validation_split=0.25)  # fmt: skip
    # which quadrant is brighter: 0.88-0.96 over seeds 0-2 (chance is 0.5)
    assert history.history["val_accuracy"][-1] >= 0.85


# ---------------------------------------------------------------- issue 18 additions

RNG = np.random.default_rng(3)
RGB = RNG.random((2, 6, 7, 3)).astype("float32")
RGB[0, 0, 0] = [0.5, 0.5, 0.5]  # grey: hue and saturation 0
RGB[0, 0, 1] = [0.9, 0.2, 0.9]  # a tie between red and blue
HSV = RNG.random((2, 5, 4, 3)).astype("float32")
VOL = RNG.random((2, 5, 6, 4, 2)).astype("float32")
AFFINE = np.array([1.1, 0.2, -1.0, -0.1, 0.9, 0.5, 0.0, 0.0], "float32")
# no output pixel lands on a half-way source coordinate, where nearest rounding is fragile
AFFINE_NEAREST = np.array([1.07, 0.23, -0.93, -0.11, 0.91, 0.47, 0.0, 0.0], "float32")
POINTS_START = np.array([[0, 0], [6, 0], [0, 5], [6, 5]], "float32")
POINTS_END = np.array([[0.5, 0.2], [5.5, 0.4], [0.3, 4.5], [6.2, 5.1]], "float32")
COORDS = np.stack([RNG.uniform(-2, 8, size=(4, 5)), RNG.uniform(-2, 9, size=(4, 5))]).astype(
    "float32"
)

# name -> (call taking the ops.image namespace, inputs): compared with Keras values and dtypes
KERAS_CASES = {
    "rgb_to_hsv": (lambda o, x: o.rgb_to_hsv(x), [RGB]),
    "rgb_to_hsv_cf": (lambda o, x: o.rgb_to_hsv(x, "channels_first"), [RGB.transpose(0, 3, 1, 2)]),
    "hsv_to_rgb": (lambda o, x: o.hsv_to_rgb(x), [HSV]),
    "hsv_to_rgb_single": (lambda o, x: o.hsv_to_rgb(x), [HSV[0]]),
    # Keras 3.15's torch gaussian_blur mixes axes on channels-last input (a point spreads along
    # one row only), so its channels-first path is the oracle; the layouts agree below
    "gaussian_blur_cf_sigmas": (
        lambda o, x: o.gaussian_blur(x, (5, 5), (1.0, 2.0), "channels_first"),
        [RGB.transpose(0, 3, 1, 2)],
    ),
    "gaussian_blur_cf": (
        lambda o, x: o.gaussian_blur(x, data_format="channels_first"),
        [RGB.transpose(0, 3, 1, 2)],
    ),
    "sobel_edges": (lambda o, x: o.sobel_edges(x), [RGB]),
    "ssim": (lambda o, a, b: o.ssim(a, b, filter_size=3), [RGB, RGB * 0.8 + 0.1]),
    "ssim_single": (lambda o, a, b: o.ssim(a, b, 2.0, filter_size=5), [RGB[0], RGB[1]]),
    "map_coordinates_linear": (
        lambda o, x, c: o.map_coordinates(x, c, 1),
        [RGB[0, :, :, 0], COORDS],
    ),
    "map_coordinates_nearest": (
        lambda o, x, c: o.map_coordinates(x, c, 0),
        [RGB[0, :, :, 0], COORDS],
    ),
    **{
        f"map_coordinates_{mode}": (
            lambda o, x, c, mode=mode: o.map_coordinates(x, c, 1, fill_mode=mode, fill_value=0.5),
            [RGB[0, :, :, 0], COORDS],
        )
        for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
    },
    "affine_transform": (lambda o, x, t: o.affine_transform(x, t), [RGB[0], AFFINE]),
    "affine_transform_nearest_reflect": (
        lambda o, x, t: o.affine_transform(x, t, "nearest", "reflect"),
        [RGB, np.stack([AFFINE_NEAREST, AFFINE_NEAREST])],
    ),
    "affine_transform_batch_cf": (
        lambda o, x, t: o.affine_transform(x, t, fill_value=0.3, data_format="channels_first"),
        [RGB.transpose(0, 3, 1, 2), np.stack([AFFINE, AFFINE * 0.9])],
    ),
    "perspective_transform": (
        lambda o, x, s, e: o.perspective_transform(x, s, e),
        [RGB, POINTS_START, POINTS_END],
    ),
    "perspective_transform_nearest": (
        lambda o, x, s, e: o.perspective_transform(x, s, e, "nearest", 0.5),
        [RGB[0], POINTS_START, POINTS_END],
    ),
    "extract_patches_3d": (lambda o, v: o.extract_patches_3d(v, (2, 3, 2)), [VOL]),
    **{
        f"scale_and_translate_{method}_{antialias}": (
            lambda o, x, method=method, antialias=antialias: o.scale_and_translate(
                x, (2, 9, 4, 3), (1.4, 0.6), (0.3, -0.5), (1, 2), method, antialias
            ),
            [RGB],
        )
        for method in ("linear", "cubic", "lanczos3", "lanczos5")
        for antialias in (True, False)
    },
    "scale_and_translate_int": (
        lambda o, x: o.scale_and_translate(
            x, (2, 3, 7, 3), (0.5, 1.0), (0.0, 0.0), (1, 2), "cubic"
        ),
        [(RGB * 200).astype("uint8")],
    ),
    "extract_patches_3d_strided": (
        lambda o, v: o.extract_patches_3d(v, 2, strides=(1, 2, 1), dilation_rate=(2, 1, 1)),
        [VOL],
    ),
    "extract_patches_3d_cf": (
        lambda o, v: o.extract_patches_3d(v, 2, data_format="channels_first"),
        [VOL.transpose(0, 4, 1, 2, 3)],
    ),
}


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_new_image_ops_match_keras_values_and_dtypes(name):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras oracle runs on its torch backend")
    fn, inputs = KERAS_CASES[name]
    ours = np.asarray(fn(ops.image, *inputs).data)
    theirs = keras.ops.convert_to_numpy(
        fn(keras.ops.image, *[keras.ops.convert_to_tensor(a) for a in inputs])
    )
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "name, fn, inputs",
    [
        ("rgb_to_hsv", ops.image.rgb_to_hsv, [RGB[1:, :3, :3] * 0.8 + 0.1]),
        ("hsv_to_rgb", ops.image.hsv_to_rgb, [HSV[:1, :3] * 0.9 + 0.05]),
        ("gaussian_blur", lambda x: ops.image.gaussian_blur(x, (3, 5), (1.0, 2.0)), [RGB[:1]]),
        ("sobel_edges", ops.image.sobel_edges, [RGB[:1]]),
        ("ssim", lambda a, b: ops.image.ssim(a, b, filter_size=3), [RGB[:1], RGB[1:]]),
        ("map_coordinates", lambda x: ops.image.map_coordinates(x, COORDS, 1), [RGB[0, :, :, 0]]),
        ("affine_transform", lambda x: ops.image.affine_transform(x, AFFINE), [RGB[:1]]),
        (
            "perspective_transform",
            lambda x: ops.image.perspective_transform(x, POINTS_START, POINTS_END),
            [RGB[:1]],
        ),
        (
            "elastic_transform",
            lambda x: ops.image.elastic_transform(x, 2.0, 1.0, seed=1),
            [RGB[:1]],
        ),
        ("extract_patches_3d", lambda v: ops.image.extract_patches_3d(v, 2), [VOL[:1]]),
        (
            "scale_and_translate",
            lambda x: ops.image.scale_and_translate(
                x, (1, 8, 4, 3), (1.4, 0.6), (0.3, -0.5), (1, 2), "lanczos3"
            ),
            [RGB[:1]],
        ),
    ],
)
def test_new_image_ops_gradients_match_finite_differences(name, fn, inputs):
    inputs = [np.asarray(a, np.float64) for a in inputs]
    check_gradients(fn, inputs if len(inputs) > 1 else inputs[0]).assert_ok()


def test_gaussian_blur_layouts_agree_and_a_point_spreads_as_the_kernel():
    first = ops.image.gaussian_blur(RGB.transpose(0, 3, 1, 2), (5, 3), (1.0, 2.0), "channels_first")
    last = ops.image.gaussian_blur(RGB, (5, 3), (1.0, 2.0))
    np.testing.assert_allclose(last.data, first.data.transpose(0, 2, 3, 1), rtol=1e-6)
    point = np.zeros((1, 7, 7, 1), "float32")
    point[0, 3, 3, 0] = 1
    spread = ops.image.gaussian_blur(point, (5, 3), (1.0, 2.0)).data[0, :, :, 0]
    # kernel_size and sigma are (x, y), as Keras: 5 columns with sigma 1, 3 rows with sigma 2
    cols = np.exp(-0.5 * (np.arange(5) - 2.0) ** 2)
    rows = np.exp(-0.5 * ((np.arange(3) - 1.0) / 2.0) ** 2)
    want = np.outer(rows / rows.sum(), cols / cols.sum())
    np.testing.assert_allclose(spread[2:5, 1:6], want, rtol=1e-6)
    assert spread.sum() == pytest.approx(1.0, rel=1e-6)


def test_hsv_round_trip_and_elastic_transform_is_seeded():
    back = ops.image.hsv_to_rgb(ops.image.rgb_to_hsv(RGB)).data
    np.testing.assert_allclose(back, RGB, atol=1e-6)
    first = ops.image.elastic_transform(RGB, seed=7).data
    np.testing.assert_array_equal(ops.image.elastic_transform(RGB, seed=7).data, first)
    assert not np.allclose(ops.image.elastic_transform(RGB, seed=8).data, first)
    # no displacement is the identity
    np.testing.assert_allclose(ops.image.elastic_transform(RGB, alpha=0.0, seed=1).data, RGB)
    assert first.dtype == np.float32 and first.shape == RGB.shape


def test_new_image_ops_work_on_symbolic_tensors_and_save(tmp_path):
    inputs = axonal.Input((6, 7, 3))
    hsv = ops.image.rgb_to_hsv(ops.image.gaussian_blur(inputs))
    warped = ops.image.affine_transform(hsv, AFFINE)
    outputs = ops.image.sobel_edges(warped)
    model = axonal.Model(inputs, outputs)
    want = ops.image.sobel_edges(
        ops.image.affine_transform(ops.image.rgb_to_hsv(ops.image.gaussian_blur(RGB)), AFFINE)
    ).data
    np.testing.assert_allclose(model.predict(RGB, verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "image.axonal")
    loaded = axonal.models.load_model(tmp_path / "image.axonal")
    np.testing.assert_allclose(loaded.predict(RGB, verbose=0), want, rtol=1e-5, atol=1e-6)
