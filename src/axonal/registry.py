"""String names to classes and functions, per kind, and the JSON config round trip.

Every user-facing object (layer, activation, loss, metric, optimizer, initializer, regularizer)
is registered under a kind and one or more names. Deserialisation resolves class names only
through this table — never by importing a module path — so a config read from a file cannot make
axonal run code it does not already have.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

_TABLES: dict[str, dict[str, Any]] = {}


def register(kind: str, *names: str) -> Callable:
    """Class/function decorator: register the object under ``kind`` with the given names.

    With no names the object's ``__name__`` is used.

    Example:
        >>> @register("activation", "my_act")
        ... def my_act(x):
        ...     return x
    """

    def decorator(obj):
        table = _TABLES.setdefault(kind, {})
        for name in names or (obj.__name__,):
            table[name] = obj
        return obj

    return decorator


def registered_names(kind: str) -> list[str]:
    """Return the sorted names registered under ``kind``."""
    return sorted(_TABLES.get(kind, {}))


def unknown_name_error(kind: str, name: str) -> ValueError:
    """Build the error for an unknown name: names it, suggests close ones, lists the valid ones."""
    valid = registered_names(kind)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Unknown {kind}: {name!r}.{hint} Valid names: {', '.join(valid)}.")


def lookup(kind: str, name: str, custom_objects: dict | None = None) -> Any:
    """Return the object registered as ``name`` under ``kind`` (custom objects first)."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    table = _TABLES.get(kind, {})
    if name in table:
        return table[name]
    raise unknown_name_error(kind, name)


def serialize(obj: Any) -> dict:
    """Return ``{'class_name': ..., 'config': ...}`` for an object with ``get_config``."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(kind: str, config: dict, custom_objects: dict | None = None) -> Any:
    """Rebuild an object from ``serialize``'s output, resolving the class through the registry."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Cannot deserialize {kind}: expected a dict with 'class_name' and 'config', "
            f"got {config!r}."
        )
    cls = lookup(kind, config["class_name"], custom_objects)
    return cls.from_config(config.get("config", {}))


def kinds() -> list[str]:
    """The kinds that have registered names."""
    return list(_TABLES)


def get_entry(kind: str, name: str) -> Any:
    """The object registered as ``name`` under ``kind``, or None (no error, no suggestion)."""
    return _TABLES.get(kind, {}).get(name)


def set_entry(kind: str, name: str, obj: Any) -> None:
    """Register ``obj`` as ``name`` under ``kind``; None removes the name."""
    table = _TABLES.setdefault(kind, {})
    if obj is None:
        table.pop(name, None)
    else:
        table[name] = obj


def snapshot() -> dict:
    """A copy of every table, for ``restore`` (tests and temporary scopes)."""
    return {kind: dict(table) for kind, table in _TABLES.items()}


def restore(saved: dict) -> None:
    """Put the tables back as ``snapshot`` found them."""
    _TABLES.clear()
    _TABLES.update({kind: dict(table) for kind, table in saved.items()})
