"""Pump the stdout and stderr pipes of a watcher's processes into its streams.

Each pipe is a reader on the event loop; every chunk becomes one entry
``{'data': bytes, 'pid': int, 'name': 'stdout'|'stderr'}`` handed to the
stream of that name. A pipe is read until end of file, also after its process
was reaped, so the last bytes a worker wrote are never lost.

Streams are called from a writer thread of their own, in order: a slow
stream (a full disk, a network filesystem) queues output in memory instead
of stalling circusd's loop or the workers writing to their pipes.
"""

import asyncio
import collections
import logging
import os
import threading

from circus.interfaces import StreamEntry

logger = logging.getLogger("circus.stream")

CHUNK = 64 * 1024
# A writer thread with nothing to do for this long ends; the next entry starts one.
WRITER_IDLE = 5.0
# Queued output beyond this is worth a warning (nothing is dropped).
BACKLOG_WARNING = 64 * 1024 * 1024
FLUSH_TIMEOUT = 10.0


class StreamWriter:
    """Calls one stream with queued entries, in order, from a thread of its own."""

    def __init__(self, stream, name):
        self.stream = stream
        self.name = name
        self._queue: collections.deque[StreamEntry] = collections.deque()
        self._cond = threading.Condition()
        self._thread = None
        self._busy = False
        self._backlog = 0
        self._warned = False

    def put(self, entry):
        with self._cond:
            self._queue.append(entry)
            self._backlog += len(entry["data"])
            if self._backlog > BACKLOG_WARNING and not self._warned:
                self._warned = True
                logger.warning(
                    "the %s stream is slow: %d bytes of output are waiting for it",
                    self.name,
                    self._backlog,
                )
            self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="circus-%s-writer" % self.name, daemon=True
                )
                self._thread.start()

    def _run(self):
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(WRITER_IDLE)
                if not self._queue:
                    self._thread = None
                    return
                entry = self._queue.popleft()
                self._busy = True
            try:
                self.stream(entry)
            except Exception:
                logger.exception("the %s stream failed on output of %d", self.name, entry["pid"])
            with self._cond:
                self._busy = False
                self._backlog -= len(entry["data"])
                if self._backlog < BACKLOG_WARNING // 2:
                    self._warned = False
                self._cond.notify_all()

    def flush(self, timeout=FLUSH_TIMEOUT):
        """Wait until every queued entry reached the stream; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)


class Redirector:
    """Reads the pipes of processes into the streams' writers.

    ``tap``, when set, is called on the loop with every entry as it is read
    and with ``{'data': b'', ...}`` when a pipe reaches end of file.
    """

    def __init__(self, stdout_stream=None, stderr_stream=None, loop=None, tap=None):
        self.loop = loop or asyncio.get_event_loop()
        self.tap = tap
        self._writers = {}
        self._pipes = {}  # fd -> (pid, name, file object)
        self.set_stream("stdout", stdout_stream)
        self.set_stream("stderr", stderr_stream)

    @property
    def streams(self):
        return {name: writer.stream for name, writer in self._writers.items()}

    def set_stream(self, name, stream):
        """Use ``stream`` for ``name`` from now on; what the old one got is flushed first."""
        old = self._writers.pop(name, None)
        if old is not None:
            self._flush(old)
        if stream is not None:
            self._writers[name] = StreamWriter(stream, name)

    def flush(self):
        """Wait until every stream got everything read so far."""
        for writer in self._writers.values():
            self._flush(writer)

    @staticmethod
    def _flush(writer):
        if not writer.flush():
            logger.warning("the %s stream did not take its output within %ss", writer.name, FLUSH_TIMEOUT)

    def add_process(self, process):
        for name in ("stdout", "stderr"):
            pipe = getattr(process, name)
            if pipe is None:
                continue
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self._pipes[fd] = (process.pid, name, pipe)
            self.loop.add_reader(fd, self._on_readable, fd)

    def _on_readable(self, fd):
        self._read(fd, once=True)

    def _read(self, fd, once):
        """Read what the pipe holds (one chunk if ``once``); close it at end of file."""
        pid, name, _ = self._pipes[fd]
        while True:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                logger.warning("reading the %s of %d failed: %s", name, pid, exc)
                data = b""
            if not data:
                self._close(fd)
                return
            self._emit(name, {"data": data, "pid": pid, "name": name})
            if once:
                return

    def _emit(self, name, entry):
        self._tap(entry)
        writer = self._writers.get(name)
        if writer is not None:
            writer.put(entry)

    def drain_process(self, pid):
        """Read what the pipes of ``pid`` hold now; close those at end of file."""
        for fd in [fd for fd, (owner, _, _) in self._pipes.items() if owner == pid]:
            self._read(fd, once=False)

    def close_process(self, pid):
        """Drain and close the pipes of ``pid`` even if something still holds them open."""
        self.drain_process(pid)
        for fd in [fd for fd, (owner, _, _) in self._pipes.items() if owner == pid]:
            self._close(fd)

    def close_all(self):
        """Drain and close every pipe, then wait until the streams got it all."""
        for pid in {owner for owner, _, _ in self._pipes.values()}:
            self.close_process(pid)
        self.flush()

    def _close(self, fd):
        pid, name, pipe = self._pipes.pop(fd)
        self.loop.remove_reader(fd)
        pipe.close()
        self._tap({"data": b"", "pid": pid, "name": name})

    def _tap(self, entry):
        if self.tap is None:
            return
        try:
            self.tap(entry)
        except Exception:  # the streams must get the output whatever the tap does
            logger.exception("the output tap failed on output of %d", entry["pid"])
