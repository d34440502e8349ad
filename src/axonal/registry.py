"""String names to classes and functions, per kind, and the JSON config round trip.

Every user-facing object (layer, activation, loss, metric, optimizer, initializer, regularizer)
is registered under a kind and one or more names. Deserialisation resolves class names only
through this table — never by importing a module path — so a config read from a file cannot make
axonal run code it does not already have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_TABLES: dict[str, dict[str, Any]] = {}
# (kind, name) -> the module whose import registers it: names of subpackages that load on first
# use (axonal.privacy's DPOptimizer), so a saved file naming one still loads in a fresh process
_DEFERRED: dict[tuple[str, str], str] = {}
# names longer than this are shown cut short and get no "did you mean" (difflib is quadratic)
_SUGGEST_MAX_CHARS = 200
# the objects being rebuilt, outermost first, for naming where in a config an error arose
_REBUILDING = threading.local()


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


def defer(kind: str, name: str, module: str) -> None:
    """Say that importing ``module`` registers ``name`` under ``kind``; ``lookup`` imports it.

    Example:
        >>> defer("optimizer", "DPOptimizer", "axonal.privacy")
    """
    _DEFERRED[(kind, name)] = module


def registered_names(kind: str) -> list[str]:
    """Return the sorted names registered under ``kind`` (deferred ones included)."""
    deferred = {name for (table, name) in _DEFERRED if table == kind}
    return sorted(set(_TABLES.get(kind, {})) | deferred)


def unknown_name_error(kind: str, name: str) -> ValueError:
    """Build the error for an unknown name: names it, suggests close ones, lists the valid ones."""
    valid = registered_names(kind)
    if len(name) > _SUGGEST_MAX_CHARS:
        shown = f"{name[:_SUGGEST_MAX_CHARS]!r}... ({len(name)} characters)"
        return ValueError(f"Unknown {kind}: {shown}. Valid names: {', '.join(valid)}.")
    import difflib  # here, not at the top: `import axonal` stays light

    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Unknown {kind}: {name!r}.{hint} Valid names: {', '.join(valid)}.")


def lookup(kind: str, name: str, custom_objects: dict | None = None) -> Any:
    """Return the object registered as ``name`` under ``kind`` (custom objects first)."""
    if not isinstance(name, str):
        raise ValueError(f"A {kind} name must be a string, got {type(name).__name__} {name!r:.80}.")
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    table = _TABLES.get(kind, {})
    if name in table:
        return table[name]
    if (kind, name) in _DEFERRED:
        import importlib

        importlib.import_module(_DEFERRED[(kind, name)])
        return _TABLES[kind][name]
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
    class_name = config["class_name"]
    settings = config.get("config", {})
    name = settings.get("name") if isinstance(settings, dict) else None
    label = f"{class_name}" + (f" '{name}'" if isinstance(name, str) else "")
    stack = _REBUILDING.__dict__.setdefault("stack", [])
    stack.append(label[:_SUGGEST_MAX_CHARS])
    try:
        cls = lookup(kind, class_name, custom_objects)
        if not isinstance(settings, dict):
            raise ValueError(f"the config of {label} is not an object, got {settings!r:.80}.")
        return cls.from_config(settings)
    except Exception as exc:
        # the innermost object being rebuilt is where the config went wrong
        if not hasattr(exc, "config_path"):
            try:
                exc.config_path = " > ".join(stack)
            except AttributeError:
                pass
        raise
    finally:
        stack.pop()


def config_path(exc: BaseException) -> str | None:
    """Where in a config ``exc`` was raised (``"Sequential 'm' > Dense 'dense_3'"``), when it
    was raised while ``deserialize`` rebuilt an object; else None."""
    return getattr(exc, "config_path", None)


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
