"""The output of one watcher: its stdout and stderr streams and their redirector.

A stream is built from its configuration (``stdout_stream`` /
``stderr_stream``, see :func:`circus.stream.get_stream`), opened when the
watcher starts and closed when it stops; a ``set`` puts a new one in place
(``swap``). The redirector, which reads the processes' pipes, exists while
the watcher runs with at least one stream.
"""

import asyncio
import logging

from circus.stream import get_stream
from circus.stream.logring import LogRing
from circus.stream.redirector import Redirector

logger = logging.getLogger("circus.stream")

NAMES = ("stdout", "stderr")


class WatcherOutput:
    """The ``stdout`` and ``stderr`` streams of watcher ``owner``.

    With the ``watcher`` given, what the pipes give is also kept in its
    ``ring`` (:class:`circus.stream.logring.LogRing`), for ``logs``.
    """

    def __init__(self, owner, stdout_conf=None, stderr_conf=None, watcher=None):
        self.owner = owner
        self.confs = {"stdout": dict(stdout_conf or {}), "stderr": dict(stderr_conf or {})}
        self.streams = {name: self.build(name, self.confs[name]) for name in NAMES}
        self.ring = LogRing(watcher) if watcher is not None else None
        self._redirector = None

    def build(self, name, conf):
        """The stream ``conf`` describes, or None; ValueError if it cannot be built."""
        if not conf:
            return None
        return get_stream(conf, label="watcher %r: %s_stream" % (self.owner, name))

    def plan(self, checked):
        """``{name: (conf, stream)}`` of the streams ``checked`` ({key: value}) changes."""
        planned = {}
        for name in NAMES:
            whole, prefix = name + "_stream", name + "_stream."
            dotted = {k[len(prefix):]: v for k, v in checked.items() if k.startswith(prefix)}
            if whole not in checked and not dotted:
                continue
            conf = dict(checked[whole] or {}) if whole in checked else dict(self.confs[name])
            conf.update(dotted)
            planned[name] = (conf, self.build(name, conf))
        return planned

    def swap(self, name, conf, new, running):
        """Put stream ``new`` (built from ``conf``) in place; True when the processes must be replaced.

        ``running``: the watcher is not stopped, so the new stream is opened
        and the old one closed now.
        """
        old = self.streams[name]
        self.confs[name], self.streams[name] = conf, new
        if self._redirector is None and new is not None and running:
            # The watcher ran without any stream: nothing reads the pipes of
            # the processes the reload spawns unless a redirector exists.
            self._redirector = self._new_redirector()
        if self._redirector is not None:
            self._redirector.set_stream(name, new)
        if running:
            _call_optional(new, "open")
            _call_optional(old, "close")
        # Processes spawned without a pipe for this stream must be replaced.
        return (old is None) != (new is None)

    def pipes(self, name):
        """True when the processes need a pipe for stream ``name``."""
        return self.streams[name] is not None

    def open(self):
        """At the watcher's start: open the streams, read the pipes from now on."""
        if not any(self.streams.values()):
            return
        if self._redirector is None:
            self._redirector = self._new_redirector()
        for name, stream in self.streams.items():
            self._redirector.set_stream(name, stream)
            _call_optional(stream, "open")

    def close(self):
        """At the watcher's stop: read the pipes to their end, then close the streams."""
        if self._redirector is not None:
            self._redirector.close_all()
        for stream in self.streams.values():
            _call_optional(stream, "close")

    def hand_over(self, pids):
        """Before circusd re-executes itself: what the pipes of ``pids`` hold now
        reaches the streams, which are closed; the pipes stay open, for the new image."""
        if self._redirector is not None:
            for pid in pids:
                self._redirector.drain_process(pid)
            self._redirector.flush()
        for stream in self.streams.values():
            _call_optional(stream, "close")

    def _new_redirector(self):
        return Redirector(loop=asyncio.get_running_loop(), tap=self.ring.feed if self.ring else None)

    def add_process(self, process):
        if self._redirector is not None:
            self._redirector.add_process(process)

    def drain_process(self, pid):
        if self._redirector is not None:
            self._redirector.drain_process(pid)


def _call_optional(obj, method):
    """Call ``obj.method()`` if it exists; a user stream's failure is logged, not raised."""
    func = getattr(obj, method, None)
    if func is None:
        return
    try:
        func()
    except Exception:
        logger.exception("%r.%s() failed", obj, method)
