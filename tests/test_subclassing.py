"""Custom layers and models written the Keras way, and ops/operators on symbolic tensors."""

import numpy as np

import axonal
from axonal import ops
from axonal.layers import Dense, Input, Layer
from axonal.models import Model
from axonal.registry import register


@register("layer", "TestScale")
class Scale(Layer):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


class Block(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Dense(4, activation="relu")
        self.heads = [Dense(2), Dense(2)]

    def call(self, inputs, training=False):
        h = self.inner(inputs)
        return self.heads[0](h) + self.heads[1](h)


class TwoLayer(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Dense(8, activation="relu")
        self.block = Block()
        self.out = Dense(2, activation="softmax")

    def call(self, inputs, training=False):
        return self.out(self.block(self.hidden(inputs)))


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def test_custom_layer_add_weight_keyword_form_trains_and_round_trips():
    layer = Scale(3)
    inputs = Input(shape=(4,))
    out = Dense(2, activation="softmax")(layer(inputs))
    assert layer(np.ones((2, 4), "float32")).shape == (2, 3)
    assert [w.name for w in layer.weights] == ["variable", "bias"]
    model = Model(inputs, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = layer.get_weights()[0].copy()
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0)
    assert not np.allclose(before, layer.get_weights()[0])
    clone = Scale.from_config(layer.get_config())
    assert clone.units == 3 and clone.name == layer.name


def test_subclassed_model_finds_attribute_layers_and_trains(capsys):
    model = TwoLayer()
    x, y = _data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, verbose=0)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Block", "Dense"]
    # hidden (2) + block: inner (2) + two heads (4) + out (2)
    assert len(model.trainable_weights) == 10 == len(model.weights)
    assert len(model.layers[1].weights) == 6
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (64, 2)
    assert len(model.evaluate(x, y, verbose=0)) == 2
    model.summary()
    text = capsys.readouterr().out
    assert "Block" in text and "Dense" in text


def test_residual_model_with_operators_and_ops_trains_and_saves(tmp_path):
    inputs = Input(shape=(4,))
    x = Dense(8)(inputs)
    x += Dense(8)(x)
    x = ops.relu(x)
    x = (-x + 1.0) * 0.5 - x / 2.0
    x = ops.concatenate([x, 2.0 * x], axis=-1)
    out = Dense(2, activation="softmax")(x)
    model = Model(inputs, out)
    assert model.compute_output_shape((None, 4)) == (None, 2)
    names = [type(layer).__name__ for layer in model.layers]
    assert "TensorOperation" in names
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    xs, ys = _data()
    history = model.fit(xs, ys, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    path = tmp_path / "residual.axonal"
    axonal.saving.save_model(model, path)
    loaded = axonal.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0), 1e-5)


def test_matmul_and_reversed_operators_on_symbolic_tensors():
    inputs = Input(shape=(3,))
    w = np.arange(6, dtype="float32").reshape(3, 2)
    y = 1.0 - (inputs @ w) / 2.0
    model = Model(inputs, y)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), 1.0 - (x @ w) / 2.0, rtol=1e-6)


def test_subclassed_model_nests_in_a_functional_model():
    inner = TwoLayer()
    inputs = Input(shape=(4,))
    outputs = inner(inputs)
    assert outputs.shape == (None, 2)
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    assert len(model.trainable_weights) == 10
