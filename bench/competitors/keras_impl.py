"""Keras 3 on whichever backend ``KERAS_BACKEND`` names (the runner sets it).

The idiomatic program: ``keras.Sequential`` with an ``Input``, Dense layers, a softmax output,
``compile(loss="sparse_categorical_crossentropy")`` and ``fit(verbose=0)``. Keras's own advice
for one small batch is ``model(x)`` rather than ``predict``; both are timed. CNNs are
channels-last, Keras's default ``data_format``, whatever the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy


def setup(threads: int | None = None) -> str:
    """Import Keras; return ``version (backend)``."""
    import keras

    return f"{keras.__version__} ({keras.backend.backend()})"


def native(array: numpy.ndarray) -> numpy.ndarray:
    """Keras takes NumPy arrays."""
    return array


def build(sizes: Sequence[int], seed: int) -> Any:
    """A compiled ``keras.Sequential``: ReLU hidden layers, softmax output, sparse CE, Adam."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input(shape=(sizes[0],))]
    layers += [keras.layers.Dense(units, activation="relu") for units in sizes[1:-1]]
    layers.append(keras.layers.Dense(sizes[-1], activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
    )
    return model


def native_images(array: numpy.ndarray) -> numpy.ndarray:
    """Keras takes channels-last images as NumPy arrays."""
    return array


def build_cnn(
    input_shape: Sequence[int], layers: Sequence[tuple[Any, ...]], classes: int, seed: int
) -> Any:
    """A compiled ``keras.Sequential`` CNN (see ``bench.workloads.cnn.LAYERS``), softmax output."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    stack: list[Any] = [keras.Input(shape=tuple(input_shape))]
    for spec in layers:
        if spec[0] == "conv":
            _, filters, size, padding = spec
            stack.append(keras.layers.Conv2D(filters, size, padding=padding, activation="relu"))
        elif spec[0] == "pool":
            stack.append(keras.layers.MaxPooling2D(pool_size=spec[1]))
        elif spec[0] == "flatten":
            stack.append(keras.layers.Flatten())
        else:
            stack.append(keras.layers.Dense(spec[1], activation="relu"))
    stack.append(keras.layers.Dense(classes, activation="softmax"))
    model = keras.Sequential(stack)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
    )
    return model


def build_transformer(model: Any, seed: int) -> Any:
    """A compiled functional transformer-encoder classifier (``bench.workloads.transformer``)."""
    import keras
    from keras import layers

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tokens = keras.Input(shape=(model.sequence,), dtype="int32")
    embedded = layers.Embedding(model.vocabulary, model.model_dim)(tokens)
    attended = layers.MultiHeadAttention(num_heads=model.heads, key_dim=model.key_dim)(
        embedded, embedded
    )
    hidden = layers.LayerNormalization()(layers.Add()([embedded, attended]))
    wide = layers.Dense(model.ff_dim, activation="relu")(hidden)
    hidden = layers.LayerNormalization()(
        layers.Add()([hidden, layers.Dense(model.model_dim)(wide)])
    )
    pooled = layers.GlobalAveragePooling1D()(hidden)
    outputs = layers.Dense(model.classes, activation="softmax")(pooled)
    network = keras.Model(tokens, outputs)
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
    )
    return network


def native_series(array: numpy.ndarray) -> numpy.ndarray:
    """Keras takes ``(n, steps, features)`` series as they are (channels-last)."""
    return array


def build_conv1d_ts(model: Any, seed: int) -> Any:
    """The compiled Conv1D time-series classifier (``bench.workloads.conv1d_ts``)."""
    import keras

    from bench.workloads import conv1d_ts

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return conv1d_ts.build_keras_api(keras, model)


def build_bilstm_imdb(model: Any, seed: int) -> Any:
    """The compiled Bidirectional-LSTM classifier (``bench.workloads.bilstm_imdb``)."""
    import keras

    from bench.workloads import bilstm_imdb

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return bilstm_imdb.build_keras_api(keras, model)


def fit(model: Any, x: numpy.ndarray, y: numpy.ndarray, epochs: int, batch_size: int) -> None:
    """``model.fit`` with no output; it shuffles every epoch by default."""
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


def predict_one(model: Any) -> Callable[[numpy.ndarray], Any]:
    """``model.predict(x, verbose=0)``."""

    def call(x: numpy.ndarray) -> Any:
        return model.predict(x, verbose=0)

    return call


def call_one(model: Any) -> Callable[[numpy.ndarray], Any]:
    """``model(x, training=False)``: Keras's recommended call for one small batch."""

    def call(x: numpy.ndarray) -> Any:
        return model(x, training=False)

    return call


def predict_many(model: Any, x: numpy.ndarray, batch_size: int | None) -> Any:
    """``model.predict`` over all rows; ``batch_size=None`` keeps the default (32)."""
    return model.predict(x, batch_size=batch_size, verbose=0)
