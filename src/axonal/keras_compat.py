"""Run a program written for Keras 3 on axonal, unchanged.

``python -m axonal.keras_compat script.py [args]`` or ``axonal run-keras script.py [args]`` runs
the script with ``keras``, ``keras.*``, ``tensorflow.keras`` and ``tensorflow.keras.*`` resolved
to axonal's modules (``keras.layers`` → ``axonal.layers``, ``keras.ops`` → ``axonal.ops``…).
``import tensorflow as tf`` gives a stub: ``tf.keras`` and the few TensorFlow names axonal has
its own counterpart for (``_TF_NAMES``: ``tf.data.Dataset``, ``tf.data.AUTOTUNE``,
``tf.GradientTape``…) work, any other attribute raises ``NotImplementedError`` naming it when
called. Nothing is changed outside the run: the import hook and the aliased modules are removed
afterwards.

Not supported (a script using them fails with an error naming the missing piece):
    - TensorFlow APIs other than ``tf.keras`` and ``_TF_NAMES`` (``tf.constant``,
      ``tf.random.set_seed``, ``tf.function``, ``tf.data.TFRecordDataset``…) and
      backend-specific code (JAX / PyTorch tensors).
    - Keras features axonal has not implemented: distribution strategies, mixed precision,
      ``Lambda`` layers in saved files, and every Keras name ``docs/keras-coverage.md`` lists
      as missing. Using one (``keras.layers.TFSMLayer``, ``from keras.applications import
      ResNet50``) raises ``axonal.MissingKerasFeature`` (an AttributeError) or, for a ``from``
      import, ``MissingKerasImport`` (an ImportError), naming the Keras feature.

Example:
    >>> from axonal import keras_compat
    >>> keras_compat.run("train.py", ["--epochs", "2"])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
import types
from collections.abc import Sequence

from axonal._missing import MissingKerasImport, is_keras_name, missing_message

# keras submodule -> axonal module (the ones that are not the same name)
_ALIASES = {
    "": "axonal",
    "optimizers.schedules": "axonal.schedules",
}


def _target(keras_name: str) -> str:
    """The axonal module for ``keras.<keras_name>`` ('' for ``keras`` itself)."""
    if keras_name in _ALIASES:
        return _ALIASES[keras_name]
    return "axonal." + keras_name


def _split(fullname: str) -> str | None:
    """The part after ``keras`` / ``tensorflow.keras``, or None when not a Keras name."""
    for prefix in ("tensorflow.keras", "keras"):
        if fullname == prefix:
            return ""
        if fullname.startswith(prefix + "."):
            return fullname[len(prefix) + 1 :]
    return None


# TensorFlow name -> the axonal object that stands in for it under run-keras; every other
# ``tensorflow.*`` name (but ``tensorflow.keras``, the alias of ``axonal``) is a failing stub
_TF_NAMES = {
    "tensorflow.GradientTape": "axonal.GradientTape",
    "tensorflow.TensorSpec": "axonal.data.TensorSpec",
    "tensorflow.data.Dataset": "axonal.data.Dataset",
    "tensorflow.data.AUTOTUNE": "axonal.data.AUTOTUNE",
    "tensorflow.data.INFINITE_CARDINALITY": "axonal.data.INFINITE",
    "tensorflow.data.UNKNOWN_CARDINALITY": "axonal.data.UNKNOWN",
    "tensorflow.data.experimental.AUTOTUNE": "axonal.data.AUTOTUNE",
    "tensorflow.data.experimental.INFINITE_CARDINALITY": "axonal.data.INFINITE",
    "tensorflow.data.experimental.UNKNOWN_CARDINALITY": "axonal.data.UNKNOWN",
}

# the stub packages that hold those names, so ``import tensorflow.data`` and
# ``from tensorflow.data.experimental import AUTOTUNE`` work like the attribute path
_TF_PACKAGES = {
    name.rsplit(".", depth)[0] for name in _TF_NAMES for depth in range(1, name.count("."))
}


def _tf_counterpart(name: str):
    """The axonal object ``_TF_NAMES`` maps the TensorFlow name ``name`` to."""
    module, _, attr = _TF_NAMES[name].rpartition(".")
    return getattr(importlib.import_module(module), attr)


class _TensorFlowStub(types.ModuleType):
    """``tensorflow`` or one of its packages: ``tensorflow.keras`` and ``_TF_NAMES`` resolve to
    axonal; any other name is a stub that names itself and fails when called."""

    def __init__(self, name: str = "tensorflow"):
        super().__init__(name)
        self.__path__ = []  # a package, so ``tensorflow.keras`` can be imported

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        name = f"{self.__name__}.{attr}"
        if name in _TF_NAMES:
            return _tf_counterpart(name)
        # through the import system, so ``tf.data`` is the module ``import tensorflow.data`` gives
        if name == "tensorflow.keras" or name in _TF_PACKAGES:
            return importlib.import_module(name)
        return _TensorFlowStub(name)

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(_tf_message(self.__name__))

    def __repr__(self) -> str:
        return f"<axonal stub for {self.__name__}>"


def _tf_message(name: str) -> str:
    """Why ``name`` (a ``tensorflow.*`` name) fails, and what does work instead."""
    return (
        f"{name} is not supported by axonal's Keras compatibility; only tensorflow.keras and "
        f"{', '.join(_TF_NAMES)} are (resolved to axonal). Replace the TensorFlow call with "
        "NumPy or axonal code."
    )


# axonal modules that got a __path__ as a Keras alias; uninstall removes it again
_ADDED_PATHS: list = []


class _Loader(importlib.abc.Loader):
    def __init__(self, target: str | None):
        self.target = target

    def create_module(self, spec):
        if self.target is None:
            return _TensorFlowStub(spec.name)
        try:
            module = importlib.import_module(self.target)
        except ImportError as error:
            parent, _, leaf = (_split(spec.name) or "").rpartition(".")
            if is_keras_name(_target(parent), leaf):
                # a Keras submodule axonal lacks (keras.distribution): say so by its Keras name
                raise MissingKerasImport(
                    missing_message(_target(parent), leaf), name=spec.name
                ) from error
            raise ImportError(
                f"{spec.name} is not available in axonal's Keras compatibility (no module "
                f"{self.target}): {error}"
            ) from error
        self._saved = (module.__spec__, hasattr(module, "__path__"))
        return module

    def exec_module(self, module):
        # the import system stamps the alias's spec on the module: put axonal's back (a
        # __path__ it may add stays while the script runs, for submodules; uninstall drops it)
        if self.target is not None:
            spec, had_path = self._saved
            module.__spec__ = spec
            if not had_path:
                _ADDED_PATHS.append(module)


class KerasFinder(importlib.abc.MetaPathFinder):
    """Resolve ``keras`` / ``tensorflow.keras`` to axonal modules, ``tensorflow`` and the
    packages of ``_TF_NAMES`` (``tensorflow.data``…) to stubs."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("axonal."):
            return _missing_submodule(fullname, path)
        if fullname == "tensorflow" or fullname in _TF_PACKAGES:
            return importlib.util.spec_from_loader(fullname, _Loader(None), is_package=True)
        rest = _split(fullname)
        if rest is None:
            if fullname.startswith("tensorflow."):
                raise NotImplementedError(_tf_message(fullname))
            return None
        return importlib.util.spec_from_loader(fullname, _Loader(_target(rest)), is_package=True)


def _missing_submodule(fullname: str, path) -> None:
    """``from keras.layers import TFSMLayer`` looks for a submodule ``axonal.layers.TFSMLayer``
    once the attribute is missing (the aliased modules are packages); for a Keras name with no
    such module, fail there with the Keras name rather than Python's 'cannot import name ...
    from axonal.layers', which would hide what is missing."""
    parent, _, name = fullname.rpartition(".")
    if not is_keras_name(parent, name):
        return None
    # a real submodule of that name (axonal.ops.numpy) imports as usual
    if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
        return None
    raise MissingKerasImport(missing_message(parent, name), name=fullname)


def _is_ours(name: str) -> bool:
    return name in ("keras", "tensorflow") or name.startswith(("keras.", "tensorflow."))


def install() -> KerasFinder:
    """Put the import hook first on ``sys.meta_path``; returns it (for ``uninstall``)."""
    finder = KerasFinder()
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder: KerasFinder) -> None:
    """Remove the hook and every ``keras`` / ``tensorflow`` name it put in ``sys.modules``."""
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    for name in [n for n in sys.modules if _is_ours(n)]:
        del sys.modules[name]
    while _ADDED_PATHS:
        module = _ADDED_PATHS.pop()
        if hasattr(module, "__path__"):
            del module.__path__


def run(script_path: str, argv: Sequence[str] = ()) -> dict:
    """Run ``script_path`` as ``__main__`` with Keras names resolved to axonal.

    ``sys.argv`` is ``[script_path, *argv]`` during the run; the hook, the aliases and
    ``sys.argv`` are restored afterwards. Returns the script's globals.

    Raises:
        ValueError: a ``keras`` or ``tensorflow`` module that is not axonal's is already imported.
    """
    real = [n for n in sys.modules if _is_ours(n)]
    if real:
        raise ValueError(
            f"run-keras needs 'keras' and 'tensorflow' unimported, but {real[0]} is loaded."
        )
    saved_argv = sys.argv
    sys.argv = [str(script_path), *argv]
    finder = install()
    try:
        return runpy.run_path(str(script_path), run_name="__main__")
    finally:
        uninstall(finder)
        sys.argv = saved_argv


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m axonal.keras_compat SCRIPT [ARGS...]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m axonal.keras_compat SCRIPT [ARGS...]")
        return 0 if args else 2
    try:
        run(args[0], args[1:])
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
