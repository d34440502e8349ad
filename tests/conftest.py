"""Settings every test module shares, applied before any of them is imported."""

import os

# Real Keras is a test oracle (the `reference` extra pins keras and torch): it must run on the
# torch backend, the one the extra installs, whatever the machine's KERAS_BACKEND says. Keras
# reads the variable once, at its first import, so it is set here, before any test imports it.
os.environ["KERAS_BACKEND"] = "torch"
