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
# kind -> the modules whose import registers its built-in names. axonal loads most of itself on
# first use (axonal/__init__.py), so a name may not be registered yet when a saved file asks for
# it in a fresh process; ``lookup`` then imports these, in order, until one has registered it
_PROVIDERS: dict[str, tuple[str, ...]] = {}
# the kinds whose providers have all been imported with every member (``registered_names``)
_COMPLETE: set[str] = set()
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


def defer(kind: str, *modules: str) -> None:
    """Say that importing ``modules`` registers the built-in names of ``kind``.

    A ``lookup`` of a name not registered yet imports them in turn and asks each for the name
    as an attribute, so a package that loads its members on first use (``axonal.layers``)
    imports only the module that defines (and registers) it.

    Example:
        >>> defer("optimizer", "axonal.optimizers", "axonal.privacy")
    """
    _PROVIDERS[kind] = _PROVIDERS.get(kind, ()) + modules
    _COMPLETE.discard(kind)


def _load_provider_of(kind: str, name: str) -> Any:
    """Import ``kind``'s providers until one registers ``name``; the object, or None."""
    import importlib

    for module_name in _PROVIDERS.get(kind, ()):
        module = importlib.import_module(module_name)
        if not name.startswith("_") and name in dir(module):
            # the attribute loads the member's module when the package loads it lazily (dir
            # lists those names; a miss would build the error of a missing Keras name)
            getattr(module, name)
        if name in _TABLES.get(kind, {}):
            return _TABLES[kind][name]
    return None


def registered_names(kind: str) -> list[str]:
    """Return the sorted names registered under ``kind``, the built-in ones of modules not
    loaded yet included (this imports them)."""
    if kind not in _COMPLETE:
        import importlib

        for module_name in _PROVIDERS.get(kind, ()):
            module = importlib.import_module(module_name)
            for member in getattr(module, "__all__", ()):
                getattr(module, member)
        _COMPLETE.add(kind)
    return sorted(_TABLES.get(kind, {}))


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
    found = _load_provider_of(kind, name)
    if found is not None:
        return found
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
    """The kinds that have registered names (or built-in ones in modules not loaded yet)."""
    return list(dict.fromkeys([*_TABLES, *_PROVIDERS]))


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
    """Put the tables back as ``snapshot`` found them, but for the built-in names of axonal's
    modules first loaded since then: their modules will not run again to register them."""
    loaded = {
        kind: {
            name: obj
            for name, obj in table.items()
            if name not in saved.get(kind, {})
            and str(getattr(obj, "__module__", "")).startswith("axonal.")
        }
        for kind, table in _TABLES.items()
    }
    _TABLES.clear()
    _TABLES.update({kind: dict(table) for kind, table in saved.items()})
    for kind, table in loaded.items():
        _TABLES.setdefault(kind, {}).update(table)
