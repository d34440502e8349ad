"""load: ``load_model`` of a Sequential with very many tiny layers, axonal against Keras 3.

The model: ``Input((4,))`` → ``Dense(8)`` → N layers alternating ``Activation("relu")`` and
``Dropout(0.1)`` → ``Dense(3)``, so N + 2 layers and 75 weights. Each worker builds it in its
``Session`` (untimed), saves it with the library's own ``model.save`` to a temporary directory
(axonal: ``.axonal``; Keras: ``.keras``) and loads it once untimed; a sample is one
``load_model(path)`` (``axonal.saving.load_model``; ``keras.saving.load_model``), file reading,
deserialisation and building included. Per-layer figures divide by the N + 2 layers.

Two sizes, because Keras cannot load the large one in any practical time:

- **shared N** (``settings.load_layers``, 200; quick 20): both libraries load the same model,
  and the ``vs Keras`` ratio is taken on it. Keras's ``Sequential.from_config`` calls ``add``
  once per layer, and each ``add`` rebuilds the whole symbolic graph, so its load grows about
  as N²: measured by hand on the 2-core development machine (torch backend, one load each),
  1.1 s at N = 100, 5.1 s at 200, 46 s at 500, 215 s at 1,000 and 706 s at 2,000 (under a
  load average of 3–5). N = 10,000 would take hours, so 200 keeps Keras's six loads (warm-up and
  five samples) to about half a minute.
- **large N** (``settings.load_layers_large``, 10,000; quick 300): axonal alone, its own
  columns. Each axonal sample also times ``axonal.saving.model_from_json(json)`` on this model,
  with ``json = model.to_json()`` made once at preparation: the architecture alone, no file and
  no weights.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from bench.settings import Settings
from bench.timing import timed
from bench.workloads import Metric, Ratio, best, column

TITLE = (
    "load_model of a deep Sequential: Input(4) → Dense(8) → N × (Activation relu, Dropout 0.1 "
    "alternating) → Dense(3)"
)
METRICS = (
    Metric("load_ms", "load (ms), shared N"),
    Metric("load_us_per_layer", "µs/layer, shared N"),
    Metric("large_load_s", "load (s), large N"),
    Metric("large_load_us_per_layer", "µs/layer, large N"),
    Metric("large_from_json_s", "model_from_json (s), large N"),
)
PRIMARY = "load_ms"
HIGHER_IS_BETTER = False
SAMPLE_KEY = "load_s"
EXTRA_RATIOS = (Ratio("load_ms", "vs Keras", higher_is_better=False, reference="keras"),)
INPUT_UNITS = 4
HIDDEN_UNITS = 8
CLASSES = 3
DROPOUT_RATE = 0.1


def layer_count(n: int) -> int:
    """Layers in the model with ``n`` tiny layers: the two Dense layers and the ``n``."""
    return n + 2


def _axonal_model(n: int, seed: int) -> Any:
    from axonal.layers import Activation, Dense, Dropout, Input
    from axonal.models import Sequential
    from axonal.utils import clear_session, set_random_seed

    clear_session()
    set_random_seed(seed)
    stack: list[Any] = [Input(shape=(INPUT_UNITS,)), Dense(HIDDEN_UNITS)]
    stack += [Activation("relu") if i % 2 == 0 else Dropout(DROPOUT_RATE) for i in range(n)]
    stack.append(Dense(CLASSES))
    return Sequential(stack)


def _keras_model(n: int, seed: int) -> Any:
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    stack: list[Any] = [keras.Input(shape=(INPUT_UNITS,)), layers.Dense(HIDDEN_UNITS)]
    stack += [
        layers.Activation("relu") if i % 2 == 0 else layers.Dropout(DROPOUT_RATE) for i in range(n)
    ]
    stack.append(layers.Dense(CLASSES))
    return keras.Sequential(stack)


def _axonal_load(path: str) -> Any:
    from axonal.saving import load_model

    return load_model(path)


def _keras_load(path: str) -> Any:
    import keras

    return keras.saving.load_model(path)


# per competitor module: (build the model, file suffix, load a file, whether it loads the large N)
_LIBRARIES: dict[str, tuple[Callable[[int, int], Any], str, Callable[[str], Any], bool]] = {
    "axonal_impl": (_axonal_model, ".axonal", _axonal_load, True),
    "keras_impl": (_keras_model, ".keras", _keras_load, False),
}


class Session:
    """The saved model(s) in a temporary directory, each loaded once untimed.

    axonal also saves the large model and keeps its JSON; Keras only the shared-N one.
    """

    def __init__(self, impl: ModuleType, settings: Settings):
        library = impl.__name__.rsplit(".", 1)[-1]
        if library not in _LIBRARIES:
            raise RuntimeError(f"no load_model benchmark for {library}")
        build, suffix, self.load, large = _LIBRARIES[library]
        self.directory = tempfile.TemporaryDirectory(prefix="bench-load-")
        sizes = {"load_s": settings.load_layers}
        if large:
            sizes["large_load_s"] = settings.load_layers_large
        # sample key -> the saved file
        self.paths: dict[str, str] = {}
        self.json: str | None = None
        for key, n in sizes.items():
            model = build(n, settings.seed)
            path = os.path.join(self.directory.name, f"{key}{suffix}")
            model.save(path)
            self.paths[key] = path
            if key == "large_load_s":
                self.json = model.to_json()
            # the warm-up load must give back every layer (the figures are per layer)
            loaded = len(self.load(path).layers)
            if loaded != layer_count(n):
                raise RuntimeError(f"{path}: loaded {loaded} layers, saved {layer_count(n)}")
        if self.json is not None:
            self._from_json()

    def _from_json(self) -> Any:
        from axonal.saving import model_from_json

        assert self.json is not None
        return model_from_json(self.json)

    def sample(self) -> dict[str, float]:
        """One ``load_model`` per saved file; axonal also one ``model_from_json``."""
        result = {key: timed(lambda p=path: self.load(p)) for key, path in self.paths.items()}
        if self.json is not None:
            result["large_from_json_s"] = timed(self._from_json)
        return result


def summarize(samples: Sequence[dict[str, float]], settings: Settings) -> dict[str, Any]:
    """Best load time (ms at the shared N, s at the large one), µs per layer, from_json."""
    layers = layer_count(settings.load_layers)
    load_s = best(samples, "load_s")
    result: dict[str, Any] = {
        "layers": layers,
        "load_ms": load_s * 1e3,
        "load_us_per_layer": load_s / layers * 1e6,
    }
    if all("large_load_s" in sample for sample in samples):
        large_layers = layer_count(settings.load_layers_large)
        large_s = best(samples, "large_load_s")
        result["large_layers"] = large_layers
        result["large_load_s"] = large_s
        result["large_load_us_per_layer"] = large_s / large_layers * 1e6
    if all("large_from_json_s" in sample for sample in samples):
        result["large_from_json_s"] = best(samples, "large_from_json_s")
    for key in ("load_s", "large_load_s", "large_from_json_s"):
        values = column(samples, key)
        if values:
            result[f"samples_{key}"] = values
    return result
