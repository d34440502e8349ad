"""axonal, written the way its README writes Keras programs: Sequential, compile, fit, predict.

``compile`` keeps its default ``jit_compile="auto"``: with numba installed (the ``fast`` extra), a
large model's optimizer update runs as one compiled loop; ``axonal_numpy_impl`` is the same code
with ``jit_compile=False``, axonal on NumPy alone.

CNNs are channels-last, ``(batch, height, width, channels)``, with Keras's layer names; the
transformer is a functional ``Model`` over ``Input``s and layer calls, as in Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy


def setup(threads: int | None = None) -> str:
    """Import axonal; return its version. ``threads`` is ignored (NumPy's BLAS decides)."""
    import axonal

    return axonal.__version__


def native(array: numpy.ndarray) -> numpy.ndarray:
    """axonal takes NumPy arrays as they are."""
    return array


def load_runtime() -> None:
    """Load what axonal otherwise loads on its first large update, pooling, normalization or
    ReLU op: numba and its kernels."""
    from axonal import conv_kernels, kernels, pointwise_kernels

    kernels.prepare("float32")
    conv_kernels.prepare("float32")
    pointwise_kernels.prepare("float32")


def build(sizes: Sequence[int], seed: int, jit_compile: bool | str = "auto") -> Any:
    """A compiled ``Sequential`` of Dense layers: ReLU hidden, softmax output, sparse CE, Adam.

    ``jit_compile`` is ``Model.compile``'s: "auto" uses numba's kernels where installed.
    """
    from axonal.layers import Dense
    from axonal.models import Sequential
    from axonal.optimizers import Adam
    from axonal.utils import clear_session, set_random_seed

    clear_session()
    set_random_seed(seed)
    layers = [Dense(sizes[1], input_dim=sizes[0], activation="relu")]
    layers += [Dense(units, activation="relu") for units in sizes[2:-1]]
    layers.append(Dense(sizes[-1], activation="softmax"))
    model = Sequential(layers)
    model.compile(
        optimizer=Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def native_images(array: numpy.ndarray) -> numpy.ndarray:
    """axonal takes channels-last images as they are."""
    return array


def build_cnn(
    input_shape: Sequence[int],
    layers: Sequence[tuple[Any, ...]],
    classes: int,
    seed: int,
    jit_compile: bool | str = "auto",
) -> Any:
    """A compiled ``Sequential`` CNN (see ``bench.workloads.cnn.LAYERS``), softmax output."""
    from axonal.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
    from axonal.models import Sequential
    from axonal.optimizers import Adam
    from axonal.utils import clear_session, set_random_seed

    clear_session()
    set_random_seed(seed)
    stack: list[Any] = [Input(shape=tuple(input_shape))]
    for spec in layers:
        if spec[0] == "conv":
            _, filters, size, padding = spec
            stack.append(Conv2D(filters, size, padding=padding, activation="relu"))
        elif spec[0] == "pool":
            stack.append(MaxPooling2D(pool_size=spec[1]))
        elif spec[0] == "flatten":
            stack.append(Flatten())
        else:
            stack.append(Dense(spec[1], activation="relu"))
    stack.append(Dense(classes, activation="softmax"))
    model = Sequential(stack)
    model.compile(
        optimizer=Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def build_transformer(model: Any, seed: int, jit_compile: bool | str = "auto") -> Any:
    """A compiled functional transformer-encoder classifier (``bench.workloads.transformer``).

    Embedding → MultiHeadAttention self-attention, Add, LayerNormalization → Dense(relu),
    Dense, Add, LayerNormalization → GlobalAveragePooling1D → Dense(softmax); sparse CE, Adam.
    """
    import axonal
    from axonal import layers
    from axonal.optimizers import Adam
    from axonal.utils import clear_session, set_random_seed

    clear_session()
    set_random_seed(seed)
    tokens = axonal.Input((model.sequence,), dtype="int32")
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
    network = axonal.Model(tokens, outputs)
    network.compile(
        optimizer=Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return network


def native_series(array: numpy.ndarray) -> numpy.ndarray:
    """axonal takes ``(n, steps, features)`` series as they are."""
    return array


def build_conv1d_ts(model: Any, seed: int) -> Any:
    """The compiled Conv1D time-series classifier (``bench.workloads.conv1d_ts``)."""
    import axonal
    from axonal.utils import clear_session, set_random_seed
    from bench.workloads import conv1d_ts

    clear_session()
    set_random_seed(seed)
    return conv1d_ts.build_keras_api(axonal, model)


def build_bilstm_imdb(model: Any, seed: int) -> Any:
    """The compiled Bidirectional-LSTM classifier (``bench.workloads.bilstm_imdb``)."""
    import axonal
    from axonal.utils import clear_session, set_random_seed
    from bench.workloads import bilstm_imdb

    clear_session()
    set_random_seed(seed)
    return bilstm_imdb.build_keras_api(axonal, model)


def fit(model: Any, x: numpy.ndarray, y: numpy.ndarray, epochs: int, batch_size: int) -> None:
    """``model.fit`` with no output; it shuffles every epoch by default."""
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


def predict_one(model: Any) -> Callable[[numpy.ndarray], Any]:
    """``model.predict(x, verbose=0)``, the Keras call."""

    def call(x: numpy.ndarray) -> Any:
        return model.predict(x, verbose=0)

    return call


def predict_many(model: Any, x: numpy.ndarray, batch_size: int | None) -> Any:
    """``model.predict`` over all rows; ``batch_size=None`` keeps the default (32)."""
    return model.predict(x, batch_size=batch_size, verbose=0)
