"""Pump the stdout and stderr pipes of a watcher's processes into its streams.

Each pipe is a reader on the event loop; every chunk becomes one entry
``{'data': bytes, 'pid': int, 'name': 'stdout'|'stderr'}`` handed to the
stream of that name. A pipe is read until end of file, also after its process
was reaped, so the last bytes a worker wrote are never lost.
"""

import asyncio
import logging
import os

logger = logging.getLogger("circus.stream")

CHUNK = 64 * 1024


class Redirector:
    def __init__(self, stdout_stream=None, stderr_stream=None, loop=None):
        self.streams = {"stdout": stdout_stream, "stderr": stderr_stream}
        self.loop = loop or asyncio.get_event_loop()
        self._pipes = {}  # fd -> (pid, name, file object)

    def set_stream(self, name, stream):
        self.streams[name] = stream

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
        stream = self.streams.get(name)
        if stream is None:
            return
        try:
            stream(entry)
        except Exception:
            logger.exception("the %s stream failed on output of %d", name, entry["pid"])

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
        for pid in {owner for owner, _, _ in self._pipes.values()}:
            self.close_process(pid)

    def _close(self, fd):
        _, _, pipe = self._pipes.pop(fd)
        self.loop.remove_reader(fd)
        pipe.close()
