"""Keras's object-serialization names: ``register_keras_serializable``, ``get_registered_name``,
``get_custom_objects``, ``serialize_keras_object`` and their kin.

Keras programs reach these through ``keras.saving`` and ``keras.utils``. They are thin views of
axonal's registry (``axonal.registry``) and of ``saving.register_serializable``: a registered
class or function is found by any of its names, and its Keras name is ``'package>name'``.

Example:
    >>> @register_keras_serializable(package="MyLayers")
    ... class Scale(Layer):
    ...     def call(self, inputs):
    ...         return inputs * 2.0
    >>> get_registered_name(Scale)
    'MyLayers>Scale'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axonal import registry


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Keras's name for ``axonal.saving.register_serializable`` (same arguments, same effect)."""
    from axonal.saving import register_serializable

    return register_serializable(package=package, name=name)


def _keras_entries() -> dict[str, Any]:
    """Every ``'package>name'`` registry entry (what ``register_keras_serializable`` adds)."""
    # the tables as they are: a user's entry is there already, and listing every built-in name
    # (registered_names) would import the whole library
    return {
        name: entry
        for table in registry.snapshot().values()
        for name, entry in sorted(table.items())
        if ">" in name
    }


def _keras_names_of(obj: Any) -> list[str]:
    """The ``'package>name'`` entries under which ``obj`` is registered."""
    return sorted(name for name, entry in _keras_entries().items() if entry is obj)


def get_registered_name(obj: Any) -> str:
    """``'package>name'`` for an object registered with ``register_keras_serializable``, else
    its ``__name__`` (Keras's rule)."""
    names = _keras_names_of(obj)
    return names[0] if names else getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(
    name: str, custom_objects: dict | None = None, module_objects: dict | None = None
) -> Any:
    """The object registered as ``name`` (``custom_objects`` first, then the registry, then
    ``module_objects``), or None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for kind in registry.kinds():
        found = registry.get_entry(kind, name)
        if found is not None:
            return found
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


class _CustomObjects(dict):
    """The user-registered objects by Keras name; adding an entry registers it (Keras 2's
    ``get_custom_objects()["swish"] = swish`` idiom)."""

    def __setitem__(self, name: str, obj: Any) -> None:
        register_keras_serializable(name=name)(obj)
        super().__setitem__(name, obj)

    def update(self, *args, **kwargs) -> None:
        for name, obj in dict(*args, **kwargs).items():
            self[name] = obj


def get_custom_objects() -> dict:
    """The custom objects registered so far, ``{'package>name': object}``.

    Assigning into the returned dict registers the object under that name, as adding to Keras's
    global dict does.
    """
    objects = _CustomObjects()
    dict.update(objects, _keras_entries())  # the plain update: these are registered already
    return objects


def serialize_keras_object(obj: Any) -> Any:
    """A JSON-ready description of ``obj``: ``{'class_name', 'config'}`` for an object with
    ``get_config``, a function's registered name, plain values (None, numbers, strings, lists,
    dicts) as they are."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if hasattr(obj, "get_config"):
        description = registry.serialize(obj)
        description["registered_name"] = get_registered_name(type(obj))
        return description
    if callable(obj):
        return get_registered_name(obj)
    raise TypeError(f"Cannot serialize {obj!r}: it has no get_config and is not a function.")


def deserialize_keras_object(
    config: Any, custom_objects: dict | None = None, module_objects: dict | None = None, **kwargs
) -> Any:
    """Rebuild what ``serialize_keras_object`` described (a registered name gives the object)."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects, module_objects)
        if found is None:
            raise ValueError(f"Unknown object {config!r}: register it or pass custom_objects.")
        return found
    if isinstance(config, list):
        return [deserialize_keras_object(item, custom_objects, module_objects) for item in config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Cannot deserialize {config!r:.120}: expected a 'class_name' entry.")
    names = [config["class_name"], config.get("registered_name")]
    for name in filter(None, names):
        cls = get_registered_object(name, custom_objects, module_objects)
        if cls is not None:
            return cls.from_config(config.get("config", {}))
    raise ValueError(
        f"Unknown class {config['class_name']!r}: register it with "
        "register_keras_serializable or pass custom_objects."
    )


__all__ = [
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
    "serialize_keras_object",
]
