"""``keras.applications`` under ``axonal run-keras``: nothing here yet.

axonal has none of Keras's ``keras.applications`` names; this module exists so that using one fails
with ``MissingKerasFeature`` naming it (docs/keras-coverage.md lists them), not with an
error about a missing axonal module.
"""

from __future__ import annotations

__all__: list[str] = []


def __getattr__(name: str):
    """Name the Keras feature when ``name`` is a Keras name axonal lacks (axonal._missing)."""
    from axonal._missing import missing_attribute

    raise missing_attribute(__name__, name)
