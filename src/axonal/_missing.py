"""Honest errors for Keras names axonal does not have yet.

Each module that ``axonal run-keras`` stands in for (``keras.layers`` -> ``axonal.layers``...)
ends with a module-level ``__getattr__`` (PEP 562) that calls ``missing_attribute``. DESIGN.md
rules out ``__getattr__`` magic, and this is the one, narrow exception: it is only reached for
a name the module does not define, resolves nothing, and only chooses the error. A name Keras
has (``_keras_names.KERAS_NAMES``, generated from the installed Keras by
``docs/keras_coverage.py``) raises ``MissingKerasFeature``, which names the Keras feature and
points to the coverage report; any other name gets Python's usual ``AttributeError``. Both are
AttributeErrors, so ``hasattr`` and ``getattr(module, name, default)`` behave as before.

The same hook is where a package loads a name on first use (``lazy_attribute``): ``axonal``,
``axonal.layers``, ``axonal.layers.preprocessing``, ``axonal.models`` and ``axonal.primitives``
list the names they load lazily, with the module that defines each, in one ``_LAZY`` table.
That is the second and last use of ``__getattr__``; without it every ``import axonal`` would
compile and run the whole library (a fifth of a second where no bytecode cache can be written),
where a program uses a few of its modules.

This module imports nothing from axonal (the generated name list only when an error needs it),
so every module, the backend included, may use it.

Example:
    >>> import axonal.layers
    >>> hasattr(axonal.layers, "TFSMLayer")
    False
"""

from __future__ import annotations

import importlib
import sys

COVERAGE_REPORT = "docs/keras-coverage.md"

# axonal module -> the Keras module it stands in for, where the names differ (the inverse of
# keras_compat._ALIASES; tests/test_missing_keras_names.py checks the two agree)
_KERAS_MODULE = {
    "axonal": "",
    "axonal.schedules": "optimizers.schedules",
}


def keras_module_of(axonal_module: str) -> str:
    """The Keras module (``'layers'``, ``''`` for ``keras``) ``axonal_module`` stands in for."""
    if axonal_module in _KERAS_MODULE:
        return _KERAS_MODULE[axonal_module]
    return axonal_module.removeprefix("axonal.")


def is_keras_name(axonal_module: str, name: str) -> bool:
    """Whether Keras's counterpart of ``axonal_module`` has the public name ``name``."""
    if name.startswith("_"):
        # no public name does (and the import below asks run-keras's finder about one)
        return False
    # here, not at the top: the 1,400-line table is compiled only when an error needs it
    from axonal._keras_names import KERAS_NAMES

    return name in KERAS_NAMES.get(keras_module_of(axonal_module), ())


def missing_message(axonal_module: str, name: str) -> str:
    """What ``MissingKerasFeature`` says for ``axonal_module.name``."""
    keras_module = keras_module_of(axonal_module)
    keras_name = "keras." + (keras_module + "." if keras_module else "") + name
    return (
        f"{keras_name} is a Keras feature that axonal does not support yet "
        f"({axonal_module} has no {name!r}); {COVERAGE_REPORT} lists every Keras name axonal "
        "has and lacks."
    )


class MissingKerasFeature(AttributeError):
    """A Keras name axonal does not have yet (an AttributeError, so ``hasattr`` is False).

    Example:
        >>> import axonal
        >>> try:
        ...     axonal.layers.TFSMLayer
        ... except axonal.MissingKerasFeature as error:
        ...     print(error.name)
        TFSMLayer
    """


class MissingKerasImport(ImportError):
    """``from keras.<module> import <name>`` under ``axonal run-keras`` for a Keras name axonal
    does not have yet (an ImportError, as the ``from`` import raises)."""


def missing_attribute(axonal_module: str, name: str) -> AttributeError:
    """The error a module's ``__getattr__`` raises for ``name``: ``MissingKerasFeature`` for a
    Keras name, else the ``AttributeError`` Python itself would raise."""
    if is_keras_name(axonal_module, name):
        return MissingKerasFeature(missing_message(axonal_module, name), name=name)
    return AttributeError(f"module {axonal_module!r} has no attribute {name!r}", name=name)


def lazy_attribute(package: str, lazy: dict[str, str], name: str) -> object:
    """What the ``__getattr__`` of ``package`` returns for ``name``: the lazily loaded member.

    ``lazy`` maps each name the package loads on first use to where it lives: a module path
    (``"axonal.layers.core"``: the attribute ``name`` of that module, or the module itself when
    it is ``package.name``), or ``"module:attribute"`` for a member known by another name
    there. The member is stored on the package, so the hook runs once per name. Any other name
    raises ``missing_attribute``'s error.

    Example:
        >>> lazy_attribute("axonal.layers", {"Dense": "axonal.layers.core"}, "Dense").__name__
        'Dense'
    """
    target = lazy.get(name)
    if target is None:
        raise missing_attribute(package, name)
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    if module_name == f"{package}.{name}":
        member = module
    else:
        member = getattr(module, attribute or name)
    setattr(sys.modules[package], name, member)
    return member


def lazy_dir(namespace: dict[str, object], lazy: dict[str, str]) -> list[str]:
    """What the ``__dir__`` of a package with lazily loaded members returns: its names, loaded
    or not."""
    return sorted(set(namespace) | set(lazy))
