"""Keras's model surface around custom training: model.input/output, layer.output,
clone_model, and the input-rank adjustment of functional models."""

import numpy as np
import pytest

import axonal
from axonal import layers


def _images(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8)).astype("float32"), rng.integers(0, 3, n)


def _conv_model():
    inputs = axonal.Input((8, 8, 1))
    hidden = layers.Flatten()(layers.Conv2D(2, 3, name="conv")(inputs))
    return axonal.Model(inputs, layers.Dense(3, activation="softmax", name="probs")(hidden))


def test_images_without_a_channel_axis_fit_an_input_that_declares_one():
    x, y = _images()
    model = _conv_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(x[..., None], verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(x[:2], verbose=0), expected[:2])
    np.testing.assert_array_equal(np.asarray(model(x[:4])), expected[:4])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        model.evaluate(x[..., None], y, verbose=0)
    )


def test_a_trailing_axis_of_one_is_dropped_and_other_ranks_are_refused():
    inputs = axonal.Input((4,))
    model = axonal.Model(inputs, layers.Dense(2)(inputs))
    x = np.ones((3, 4, 1), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x[..., 0], verbose=0))
    with pytest.raises(ValueError, match=r"expects samples of shape \(4,\)"):
        model.predict(np.ones((3, 4, 2), "float32"), verbose=0)


def test_model_input_and_output_are_the_symbolic_tensors():
    model = _conv_model()
    assert model.input is model.inputs[0]
    assert model.output is model.outputs[0]
    assert model.input.shape == (None, 8, 8, 1)
    first = axonal.Input((2,), name="a")
    second = axonal.Input((3,), name="b")
    joined = layers.Concatenate()([first, second])
    two = axonal.Model({"a": first, "b": second}, [layers.Dense(1)(joined), joined])
    assert two.input == {"a": first, "b": second}
    assert two.output == two.outputs and len(two.output) == 2


def test_a_feature_extractor_from_a_sequential_layers_output():
    model = axonal.Sequential(
        [axonal.Input((4,)), layers.Dense(5, activation="relu", name="hidden"), layers.Dense(2)]
    )
    x = np.random.default_rng(1).random((6, 4)).astype("float32")
    extractor = axonal.Model(model.inputs, model.get_layer("hidden").output)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(
        extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), rtol=1e-6
    )
    assert model.output.shape == (None, 2)


def test_a_subclassed_model_and_an_uncalled_layer_have_no_symbolic_tensors():
    class Net(axonal.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="subclassed model"):
        _ = Net().input
    with pytest.raises(ValueError, match="never been called on a symbolic input"):
        _ = layers.Dense(3).output


def test_clone_model_has_the_architecture_and_fresh_weights():
    model = _conv_model()
    clone = axonal.models.clone_model(model)
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    assert [a.name for a in clone.layers] == [b.name for b in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers, strict=True))
    assert not clone.compiled
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    clone.set_weights(model.get_weights())
    x, _ = _images(4)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_clone_model_of_a_sequential_and_of_shared_layers():
    model = axonal.Sequential([axonal.Input((3,)), layers.Dense(4), layers.Dense(1)])
    clone = axonal.models.clone_model(model)
    assert isinstance(clone, axonal.Sequential) and clone.input_shape == (None, 3)
    shared = layers.Dense(2, name="shared")
    a, b = axonal.Input((3,)), axonal.Input((3,))
    siamese = axonal.Model([a, b], layers.Subtract()([shared(a), shared(b)]))
    twin = axonal.models.clone_model(siamese)
    assert len(twin.weights) == len(siamese.weights) == 2  # still one shared Dense
    twin.set_weights(siamese.get_weights())
    x = np.random.default_rng(2).random((5, 3)).astype("float32")
    np.testing.assert_allclose(
        twin.predict([x, x[::-1]], verbose=0), siamese.predict([x, x[::-1]], verbose=0)
    )


def test_clone_model_can_share_layers_and_take_new_inputs():
    model = _conv_model()
    same = axonal.models.clone_model(model, clone_function=lambda layer: layer)
    assert all(a is b for a, b in zip(same.layers, model.layers, strict=True))
    new_input = axonal.Input((8, 8, 1), name="pixels")
    other = axonal.models.clone_model(model, input_tensors=new_input)
    assert other.input is new_input
    with pytest.raises(ValueError, match="1 inputs"):
        axonal.models.clone_model(model, input_tensors=[new_input, new_input])


def test_the_rank_adjustment_agrees_with_keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    inputs = keras.Input((8, 8, 1))
    theirs = keras.Model(inputs, keras.layers.Flatten()(inputs))
    x, _ = _images(3)
    np.testing.assert_array_equal(np.asarray(theirs.predict(x, verbose=0)), x.reshape(3, 64))
    inputs = axonal.Input((8, 8, 1))
    ours = axonal.Model(inputs, layers.Flatten()(inputs))
    np.testing.assert_array_equal(ours.predict(x, verbose=0), x.reshape(3, 64))


def test_get_layer_by_name_or_index():
    model = _conv_model()
    assert model.get_layer("conv") is model.layers[0]
    assert model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match="No layer named 'nope'.*conv"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 7"):
        model.get_layer(index=7)
