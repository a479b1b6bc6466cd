"""Where a watcher's stdout and stderr go.

A stream is any callable taking one mapping ``{'data': bytes, 'pid': int,
'name': 'stdout' | 'stderr'}``; it may have ``open()`` (called when the
watcher starts) and ``close()`` (when it stops).  ``get_stream`` builds one
from a ``stdout_stream`` / ``stderr_stream`` configuration.
"""

import queue
from typing import Any, Mapping

from circus.interfaces import Stream
from circus.naming import resolve_name
from circus.stream.console import FancyStdoutStream, StdoutStream
from circus.stream.file_stream import (
    FileStream,
    TimedRotatingFileStream,
    WatchedFileStream,
    warn_ignored,
)

__all__ = [
    "Stream",
    "get_stream",
    "FileStream",
    "WatchedFileStream",
    "TimedRotatingFileStream",
    "QueueStream",
    "StdoutStream",
    "FancyStdoutStream",
    "Redirector",
]


class QueueStream(queue.Queue):
    """A ``queue.Queue`` that receives every entry (the whole mapping)."""

    def __init__(self, **ignored):
        warn_ignored("QueueStream", ignored)
        super().__init__()

    def __call__(self, entry):
        self.put(entry)


#: Stream classes a configuration may name without a dotted path.
BUILTIN = {
    cls.__name__: cls
    for cls in (
        FileStream,
        WatchedFileStream,
        TimedRotatingFileStream,
        QueueStream,
        StdoutStream,
        FancyStdoutStream,
    )
}


def get_stream(conf: Mapping[str, Any], label: str = "stream") -> Stream:
    """Build the stream a configuration mapping describes; ``conf`` is not changed.

    ``stream``: a ready callable, used as is.  ``class``: a built-in name
    (``FileStream``, case-sensitive) or a dotted path (``pkg.mod.Class``),
    instantiated with the other keys as keyword arguments (strings from an
    ini file are converted by the built-ins).  No class but a ``filename``
    means ``FileStream``.  ``label`` names the option in error messages
    (``stdout_stream``).  Raises ``ValueError`` naming the problem.
    """
    options = dict(conf)
    ready = options.pop("stream", None)
    if ready is not None:
        if not callable(ready):
            raise ValueError("%s: 'stream' must be callable, got %r" % (label, ready))
        return ready
    cls = _stream_class(options.pop("class", None), options, label)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ValueError("%s: %s rejected its options: %s" % (label, _name(cls), exc)) from None


def _stream_class(name, options, label):
    if name is None or (isinstance(name, str) and not name.strip()):
        if options.get("filename"):
            return FileStream
        raise ValueError("%s needs a class or a filename (e.g. class = FileStream)" % label)
    if not isinstance(name, str):
        if callable(name):
            return name
        raise ValueError("%s class: %r is not a class name" % (label, name))
    name = name.strip()
    if "." not in name and ":" not in name:
        try:
            return BUILTIN[name]
        except KeyError:
            raise ValueError(
                "%s class: unknown stream class %r; built-in: %s (or give a dotted path "
                "such as mypackage.streams.MyStream)" % (label, name, ", ".join(BUILTIN))
            ) from None
    try:
        cls = resolve_name(name)
    except ImportError as exc:
        raise ValueError("%s class: %s" % (label, exc)) from None
    if not callable(cls):
        raise ValueError("%s class: %r is not callable" % (label, name))
    return cls


def _name(cls):
    return getattr(cls, "__qualname__", repr(cls))


def __getattr__(name):
    # Imported on first use: the Redirector needs the event loop machinery,
    # which a plugin using only the stream classes does not.
    if name == "Redirector":
        from circus.stream.redirector import Redirector

        return Redirector
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
