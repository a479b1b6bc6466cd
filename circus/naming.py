"""Import an object from its dotted name (``pkg.mod.attr`` or ``pkg.mod:attr``)."""

import importlib


class ImportStringError(ImportError):
    """A dotted name that does not lead to an object."""


def resolve_name(name, silent=False, reload=False):
    """Return the object ``name`` designates; ``silent`` returns None on failure."""
    try:
        return _resolve(name, reload)
    except ImportStringError:
        if silent:
            return None
        raise


def _resolve(name, reload):
    name = name.strip()
    if ":" in name:
        module_name, _, attr_path = name.partition(":")
        module = _import(module_name, name, reload)
        return _walk(module, attr_path.split("."), name)
    parts = name.split(".")
    # Import the longest importable prefix, then walk the attributes.
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not module_name.startswith(exc.name):
                raise ImportStringError("cannot import %r: %s" % (name, exc)) from exc
            continue
        except Exception as exc:
            raise ImportStringError("cannot import %r: %s" % (name, exc)) from exc
        if reload:
            module = importlib.reload(module)
        return _walk(module, parts[cut:], name)
    raise ImportStringError("cannot import %r: no module named %r" % (name, parts[0]))


def _import(module_name, name, reload):
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ImportStringError("cannot import %r: %s" % (name, exc)) from exc
    return importlib.reload(module) if reload else module


def _walk(obj, attrs, name):
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ImportStringError("cannot import %r: no attribute %r" % (name, attr)) from None
    return obj
