"""keras.io-style custom models, written against axonal's public API as a Keras user writes them:
a variational autoencoder (keras.io "Variational AutoEncoder") and a siamese pair model trained
with a contrastive loss (keras.io "Image similarity estimation using a Siamese Network with a
contrastive loss"), each with its own train_step on a GradientTape, each trained on small
generated data and checked to learn."""

import numpy as np
import pytest

import axonal
from axonal import layers, ops

SEED = 0


@pytest.fixture(autouse=True)
def _fresh():
    axonal.utils.clear_session()
    axonal.utils.set_random_seed(SEED)


# ---------------------------------------------------------------- variational autoencoder


class Sampling(layers.Layer):
    """Draws z from N(z_mean, exp(z_log_var)) by the reparameterization trick.

    keras.io draws epsilon with ``keras.random.normal(..., seed=SeedGenerator(1337))``; axonal
    has no ``axonal.random`` namespace, so the noise comes from a seeded NumPy generator (it
    needs no gradient: only z_mean and z_log_var are differentiated).
    """

    def __init__(self, seed=1337, **kwargs):
        super().__init__(**kwargs)
        self.noise = np.random.default_rng(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = self.noise.standard_normal(size=z_mean.shape).astype("float32")
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


LATENT_DIM = 2


def _vae_parts():
    encoder_inputs = axonal.Input(shape=(4, 4, 1))
    x = layers.Flatten()(encoder_inputs)
    x = layers.Dense(32, activation="relu")(x)
    z_mean = layers.Dense(LATENT_DIM, name="z_mean")(x)
    z_log_var = layers.Dense(LATENT_DIM, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = axonal.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = axonal.Input(shape=(LATENT_DIM,))
    x = layers.Dense(32, activation="relu")(latent_inputs)
    x = layers.Dense(16, activation="sigmoid")(x)
    decoder_outputs = layers.Reshape((4, 4, 1))(x)
    decoder = axonal.Model(latent_inputs, decoder_outputs, name="decoder")
    return encoder, decoder


class VAE(axonal.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = axonal.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = axonal.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = axonal.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        # fit(x) hands Keras's step the batch itself and a generator's (x,) as a sequence:
        # unpack both (see test_fit_on_x_alone_hands_train_step_the_batch_itself)
        if isinstance(data, (tuple, list)):
            data = data[0]
        with axonal.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(axonal.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


def _images(n, seed):
    """4x4 near-binary "images" that are a smooth function of a 2-D standard-normal latent:
    exactly what a 2-D VAE can model, and far from their mean image."""
    projection = np.random.default_rng(100).normal(size=(2, 16))
    offset = np.random.default_rng(101).normal(scale=0.5, size=16)
    z = np.random.default_rng(seed).normal(size=(n, 2))
    pixels = 1.0 / (1.0 + np.exp(-10.0 * (z @ projection + offset)))
    return pixels.reshape(n, 4, 4, 1).astype("float32")


def _check_vae_learned(vae, history, epochs, train, held_out):
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert all(len(values) == epochs for values in history.values())
    losses = history["loss"]
    # the negative ELBO cannot fall to zero (the KL term and the pixels' own entropy stay):
    # ~10.1-10.4 -> ~5.0-5.2 (a factor ~2) on seeds 0-4
    assert losses[-1] < losses[0] / 1.5
    # the three trackers saw the same batches: the epoch means add up as the losses do
    np.testing.assert_allclose(
        losses,
        np.add(history["reconstruction_loss"], history["kl_loss"]),
        rtol=1e-5,
    )
    # the latent carries information (no posterior collapse): KL ~2.3 nats on seeds 0-4
    assert history["kl_loss"][-1] > 0.5
    # held-out images decoded from their z_mean beat the best constant guess, the mean image,
    # by far (squared error ratio 0.05-0.07 on seeds 0-4)
    z_mean, _, _ = vae.encoder.predict(held_out, verbose=0)
    reconstruction = vae.decoder.predict(z_mean, verbose=0)
    assert reconstruction.shape == held_out.shape
    vae_error = np.mean((reconstruction - held_out) ** 2)
    mean_image_error = np.mean((train.mean(axis=0) - held_out) ** 2)
    assert vae_error < 0.25 * mean_image_error


def test_a_vae_with_a_tape_train_step_learns_to_reconstruct():
    train, held_out = _images(1024, SEED), _images(256, SEED + 50)
    encoder, decoder = _vae_parts()
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=axonal.optimizers.Adam(0.01))
    history = vae.fit(train, epochs=30, batch_size=64, verbose=0).history
    _check_vae_learned(vae, history, 30, train, held_out)
    # z is a noisy draw around z_mean: the Sampling layer ran
    z_mean, z_log_var, z = encoder.predict(held_out[:64], verbose=0)
    assert z.shape == z_mean.shape == z_log_var.shape == (64, LATENT_DIM)
    assert not np.allclose(z, z_mean)


def test_a_vae_trains_from_a_generator_with_steps_per_epoch():
    train, held_out = _images(1024, SEED), _images(256, SEED + 50)
    order = np.random.default_rng(SEED)
    pulled = []

    def batches(batch_size=64):
        # endless, reshuffled each pass; Keras wants a generator to yield tuples: (x,)
        while True:
            shuffled = train[order.permutation(len(train))]
            for start in range(0, len(train), batch_size):
                pulled.append(start)
                yield (shuffled[start : start + batch_size],)

    encoder, decoder = _vae_parts()
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=axonal.optimizers.Adam(0.01))
    history = vae.fit(batches(), steps_per_epoch=16, epochs=30, verbose=0).history
    _check_vae_learned(vae, history, 30, train, held_out)
    assert int(vae.optimizer.iterations) == 16 * 30
    assert len(pulled) >= 16 * 30


class _Probe(axonal.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1)
        self.seen = []

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        self.seen.append(data)
        return {"loss": 0.0}


def test_fit_on_x_alone_hands_train_step_the_batch_itself():
    x = np.ones((8, 3), "float32")
    model = _Probe()
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    assert len(model.seen) == 2
    for data in model.seen:
        assert not isinstance(data, (tuple, list))
        assert tuple(data.shape) == (4, 3)


# ---------------------------------------------------------------- siamese pair model


def euclidean_distance(a, b):
    sum_square = ops.sum(ops.square(a - b), axis=1, keepdims=True)
    return ops.sqrt(ops.maximum(sum_square, axonal.config.epsilon()))


def contrastive_loss(y_true, distance, margin=1.0):
    """Pulls same-cluster pairs (y=1) together, pushes the others at least ``margin`` apart."""
    positive = y_true * ops.square(distance)
    negative = (1.0 - y_true) * ops.square(ops.maximum(margin - distance, 0.0))
    return ops.mean(positive + negative)


class SiameseModel(axonal.Model):
    """One embedding tower applied to both inputs; the output is their distance."""

    def __init__(self, tower, margin=1.0, **kwargs):
        super().__init__(**kwargs)
        self.tower = tower
        self.margin = margin
        self.loss_tracker = axonal.metrics.Mean(name="loss")
        self.positive_tracker = axonal.metrics.Mean(name="positive_distance")
        self.negative_tracker = axonal.metrics.Mean(name="negative_distance")
        self.accuracy_tracker = axonal.metrics.BinaryAccuracy(name="pair_accuracy")

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.positive_tracker,
            self.negative_tracker,
            self.accuracy_tracker,
        ]

    def call(self, inputs, training=False):
        a, b = inputs
        return euclidean_distance(
            self.tower(a, training=training), self.tower(b, training=training)
        )

    def train_step(self, data):
        (a, b), y = data
        with axonal.GradientTape() as tape:
            distance = self((a, b), training=True)
            loss = contrastive_loss(y, distance, self.margin)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.loss_tracker.update_state(loss)
        self.positive_tracker.update_state(distance, sample_weight=y)
        self.negative_tracker.update_state(distance, sample_weight=1.0 - y)
        return {
            "loss": self.loss_tracker.result(),
            "positive_distance": self.positive_tracker.result(),
            "negative_distance": self.negative_tracker.result(),
        }

    def test_step(self, data):
        (a, b), y = data
        distance = self((a, b), training=False)
        self.loss_tracker.update_state(contrastive_loss(y, distance, self.margin))
        # a pair is called "same" when it is closer than half the margin
        similarity = ops.maximum(1.0 - distance / self.margin, 0.0)
        self.accuracy_tracker.update_state(y, similarity)
        return {
            "loss": self.loss_tracker.result(),
            "pair_accuracy": self.accuracy_tracker.result(),
        }


CLUSTERS, FEATURES, SIGNAL = 4, 16, 2
# a fixed rotation hides the clusters' 2 signal axes among 14 axes of unit noise
_MIX = np.linalg.qr(np.random.default_rng(8).normal(size=(FEATURES, FEATURES)))[0]


def _clusters(n, seed):
    """Points of 4 tight 2-D clusters (the corners of a square) plus 14 dimensions of noise
    as wide as the clusters' spread, rotated together: raw distances mostly measure noise."""
    centers = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLUSTERS, size=n)
    x = rng.normal(size=(n, FEATURES))
    x[:, :SIGNAL] = centers[labels] + rng.normal(scale=0.3, size=(n, SIGNAL))
    return (x @ _MIX).astype("float32"), labels


def _triplets(labels, seed):
    """For every point in random order: another point of its cluster and a point of another
    cluster."""
    rng = np.random.default_rng(seed)
    anchors = rng.permutation(len(labels))
    others = [np.flatnonzero(labels != k) for k in range(CLUSTERS)]
    positives = np.array(
        [
            rng.choice(np.flatnonzero((labels == labels[i]) & (np.arange(len(labels)) != i)))
            for i in anchors
        ]
    )
    negatives = np.array([rng.choice(others[labels[i]]) for i in anchors])
    return anchors, positives, negatives


def _pairs(x, labels, seed):
    """([first, second], y): half same-cluster pairs (y=1), half different-cluster (y=0)."""
    anchors, positives, negatives = _triplets(labels, seed)
    first = np.concatenate([x[anchors], x[anchors]])
    second = np.concatenate([x[positives], x[negatives]])
    y = np.concatenate([np.ones(len(x)), np.zeros(len(x))]).astype("float32")[:, None]
    return [first, second], y


def _closer_within_clusters(embed, x, labels, seed):
    """Fraction of held-out triplets whose same-cluster pair is closer than the other pair."""
    anchors, positives, negatives = _triplets(labels, seed)
    a, p, n = embed(x[anchors]), embed(x[positives]), embed(x[negatives])
    return np.mean(np.linalg.norm(a - p, axis=1) < np.linalg.norm(a - n, axis=1))


def test_a_siamese_model_with_a_contrastive_train_step_separates_clusters():
    x, labels = _clusters(512, SEED)
    held_x, held_labels = _clusters(256, SEED + 50)
    pairs, y = _pairs(x, labels, SEED)
    held_pairs, held_y = _pairs(held_x, held_labels, SEED + 50)
    tower = axonal.Sequential(
        [
            axonal.Input((FEATURES,)),
            layers.Dense(32, activation="relu"),
            layers.Dense(8),
        ],
        name="tower",
    )
    model = SiameseModel(tower)
    model.compile(optimizer=axonal.optimizers.Adam(0.01))
    history = model.fit(
        pairs,
        y,
        epochs=20,
        batch_size=64,
        validation_data=(held_pairs, held_y),
        verbose=0,
    ).history
    # the train step's keys, and the test step's under val_
    assert set(history) == {
        "loss",
        "positive_distance",
        "negative_distance",
        "val_loss",
        "val_pair_accuracy",
    }
    assert all(len(values) == 20 for values in history.values())
    # ~0.8-1.1 -> ~0.02-0.03 on seeds 0-4
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    # ~0.18 vs ~1.1 on seeds 0-4
    assert history["positive_distance"][-1] < 0.3 * history["negative_distance"][-1]

    result = model.evaluate(held_pairs, held_y, batch_size=64, verbose=0, return_dict=True)
    assert set(result) == {"loss", "pair_accuracy"}
    # the last epoch's validation ran the same test_step on the same pairs
    assert result["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    assert result["pair_accuracy"] == pytest.approx(history["val_pair_accuracy"][-1])
    assert result["pair_accuracy"] > 0.85  # 0.94-0.96 on seeds 0-4
    loss, pair_accuracy = model.evaluate(held_pairs, held_y, batch_size=64, verbose=0)
    assert (loss, pair_accuracy) == pytest.approx((result["loss"], result["pair_accuracy"]))

    # raw distances barely tell the clusters apart (0.61-0.67); the learned embedding does
    # (0.98-0.99 on seeds 0-4)
    raw = _closer_within_clusters(lambda v: v, held_x, held_labels, SEED + 1)
    learned = _closer_within_clusters(
        lambda v: tower.predict(v, verbose=0), held_x, held_labels, SEED + 1
    )
    assert raw < 0.8
    assert learned > 0.9
    # the distance the model outputs is the distance between the tower's embeddings
    first, second = held_pairs
    difference = tower.predict(first[:32], verbose=0) - tower.predict(second[:32], verbose=0)
    np.testing.assert_allclose(
        model.predict([first[:32], second[:32]], verbose=0)[:, 0],
        np.linalg.norm(difference, axis=1),
        rtol=1e-4,
        atol=1e-5,
    )
