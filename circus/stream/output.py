"""The output of one watcher: its stdout and stderr streams and their redirector.

A stream is built from its configuration (``stdout_stream`` /
``stderr_stream``, see :func:`circus.stream.get_stream`), opened when the
watcher starts and closed when it stops; a ``set`` puts a new one in place
(``swap``). The redirector, which reads the processes' pipes, exists once a
process has a pipe.

A process gets a pipe for an output that has a stream, and also, while the
watcher's ``log_buffer_size`` is above 0, for one that has none and is not
closed (``close_child_stdout`` / ``close_child_stderr``): circusd then feeds
the ring and writes the bytes on to its own stdout or stderr
(:mod:`circus.stream.inherited`). With ``log_buffer_size = 0`` such an output
is inherited from circusd, as in Circus 0.19.
"""

import asyncio
import logging

from circus.stream import get_stream
from circus.stream.inherited import pass_through
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
        self.watcher = watcher
        self._inherited = pass_through()
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
        old, piped = self.streams[name], self.pipes(name)
        self.confs[name], self.streams[name] = conf, new
        if self._redirector is None and new is not None and running:
            # The watcher ran without any pipe: nothing reads the pipes of
            # the processes the reload spawns unless a redirector exists.
            self._redirector = self._new_redirector()
        if self._redirector is not None:
            self._redirector.set_stream(name, self._target(name))
        if running:
            _call_optional(new, "open")
            _call_optional(old, "close")
        # Processes spawned with a pipe for this stream, or without, must be replaced.
        return piped != self.pipes(name)

    def pipes(self, name):
        """True when the processes need a pipe for stream ``name`` (see the module)."""
        if self.streams[name] is not None:
            return True
        if self.ring is None or self.ring.size == 0:
            return False
        return not getattr(self.watcher, "close_child_" + name, False)

    def _target(self, name):
        """What the redirector gives the output ``name`` to: its stream, else circusd's own fd."""
        stream = self.streams[name]
        return stream if stream is not None else self._inherited[name]

    def open(self):
        """At the watcher's start: open the streams, read the pipes from now on."""
        if self._redirector is None and any(self.pipes(name) for name in NAMES):
            self._redirector = self._new_redirector()
        for name, stream in self.streams.items():
            if self._redirector is not None:
                self._redirector.set_stream(name, self._target(name))
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
        return Redirector(self._target("stdout"), self._target("stderr"), loop=asyncio.get_running_loop(),
                          tap=self.ring.feed if self.ring else None)

    def add_process(self, process):
        if self._redirector is None and (process.stdout is not None or process.stderr is not None):
            # log_buffer_size went above 0 while the watcher ran without pipes.
            self._redirector = self._new_redirector()
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
