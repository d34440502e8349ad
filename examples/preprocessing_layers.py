"""Raw data in, predictions out: preprocessing layers inside the model (Keras 3 style).

Two programs on generated data, each saved and reloaded with its vocabularies and statistics:

1. a table with a numeric, an integer-categorical and a string-categorical column: one Input per
   column -> Normalization / IntegerLookup / StringLookup (one-hot) -> concatenate -> Dense;
2. a review classifier from raw strings: TextVectorization -> Embedding ->
   GlobalAveragePooling1D -> Dense.
"""

import numpy as np

import axonal
from axonal import layers


def table_data(rng, n):
    """A made-up housing table: buyers like large flats, not in 'lyon', and older people buy."""
    age = rng.normal(50, 12, size=(n, 1)).astype("float32")
    rooms = rng.integers(1, 6, size=(n, 1))
    city = np.array(["paris", "lyon", "nice", "brest"])[rng.integers(0, 4, size=(n, 1))]
    score = (age[:, 0] - 50) / 12 + 1.5 * (rooms[:, 0] >= 3) - 2.0 * (city[:, 0] == "lyon")
    bought = (score + rng.normal(0, 0.3, size=n) > 0.2).astype("float32")
    return {"age": age, "rooms": rooms, "city": city}, bought


def review_data(rng, n):
    """Short reviews: two opinion words among filler words, label 1 for a positive one."""
    positive = ["great", "good", "lovely", "excellent", "fun"]
    negative = ["bad", "awful", "boring", "poor", "dull"]
    filler = ["the", "movie", "was", "a", "plot", "and", "actors", "really", "film"]
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(filler, size=5)) + list(
            rng.choice(positive if label else negative, size=2)
        )
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(label)
    return np.array(texts), np.array(labels, dtype="float32")


def table_model(train):
    """One Input per column, each encoded by a preprocessing layer adapted to the training data."""
    normalizer = layers.Normalization()
    normalizer.adapt(train["age"])
    rooms_lookup = layers.IntegerLookup(output_mode="one_hot")
    rooms_lookup.adapt(train["rooms"])
    city_lookup = layers.StringLookup(output_mode="one_hot")
    city_lookup.adapt(train["city"])
    age = axonal.Input((1,), name="age")
    rooms = axonal.Input((1,), dtype="int64", name="rooms")
    city = axonal.Input((1,), dtype="string", name="city")
    features = layers.concatenate([normalizer(age), rooms_lookup(rooms), city_lookup(city)])
    hidden = layers.Dense(16, activation="relu")(features)
    output = layers.Dense(1, activation="sigmoid")(hidden)
    return axonal.Model({"age": age, "rooms": rooms, "city": city}, output)


def text_model(train_texts):
    """Raw strings in: the vocabulary is learned from the training texts."""
    vectorize = layers.TextVectorization(max_tokens=100, output_sequence_length=10)
    vectorize.adapt(train_texts)
    text = axonal.Input((1,), dtype="string")
    x = layers.Embedding(100, 8)(vectorize(text))
    x = layers.GlobalAveragePooling1D()(x)
    return axonal.Model(text, layers.Dense(1, activation="sigmoid")(x))


def train_and_reload(model, x_train, y_train, x_test, y_test, epochs, path):
    model.compile(axonal.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.save(path)
    reloaded = axonal.models.load_model(path)
    assert np.array_equal(reloaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0))
    return accuracy


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    tables, bought = table_data(rng, 1500)
    train = {name: column[:1200] for name, column in tables.items()}
    test = {name: column[1200:] for name, column in tables.items()}
    table_accuracy = train_and_reload(
        table_model(train), train, bought[:1200], test, bought[1200:], 30, "table.axonal"
    )
    print(f"Table test accuracy: {table_accuracy:.3f}")
    texts, labels = review_data(rng, 1000)
    text_accuracy = train_and_reload(
        text_model(texts[:800]), texts[:800], labels[:800], texts[800:], labels[800:], 10,
        "reviews.axonal",
    )  # fmt: skip
    print(f"Review test accuracy: {text_accuracy:.3f}")
    accuracy = min(table_accuracy, text_accuracy)
