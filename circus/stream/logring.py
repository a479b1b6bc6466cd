"""The last lines a watcher's processes wrote, kept in memory for ``logs``.

Every chunk the redirector reads from a pipe (see ``circus.stream.redirector``)
is also given to the watcher's ring, on the loop, before any stream sees it:
its complete lines are kept, oldest dropped first, so that the text of the
lines kept (each with its newline) stays within ``log_buffer_size`` bytes
(0: keep nothing). The part after a chunk's last newline waits for the rest
of its line; a line longer than the whole ring is cut into pieces that fill
it, and what is left at end of file is a line of its own.

The lines of each chunk are also published on the event channel as
``log.<watcher>.<stdout|stderr>`` (see :meth:`LogRing.feed`): a PUB socket
drops what a slow subscriber cannot take, so following never slows
circusd or a worker down.
"""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

if TYPE_CHECKING:
    from circus.watcher import Watcher


class Line(NamedTuple):
    time: float
    pid: int
    stream: str
    text: str
    cost: int  # bytes counted against log_buffer_size


class LogRing:
    """The output lines of ``watcher``, bounded by its ``log_buffer_size``."""

    def __init__(self, watcher: Watcher):
        self.watcher = watcher
        self._lines: collections.deque[Line] = collections.deque()
        self._bytes = 0
        self._partial: dict[tuple[int, str], bytes] = {}  # (pid, stream) -> start of a line

    @property
    def size(self) -> int:
        return max(0, int(getattr(self.watcher, "log_buffer_size", 0) or 0))

    def feed(self, entry: dict) -> None:
        """Take one redirector entry ``{'data', 'pid', 'name'}``; ``data`` empty: end of file."""
        size = self.size
        if size == 0:
            self.clear()
            return
        key = (entry["pid"], entry["name"])
        data = self._partial.pop(key, b"") + entry["data"]
        pieces = data.split(b"\n")
        rest = pieces.pop()
        if not entry["data"]:  # end of file: what is left is a line
            rest, pieces = b"", pieces + ([rest] if rest else [])
        longest = max(size - 1, 1)  # a piece and its newline fill the ring
        while len(rest) > longest:
            pieces.append(rest[:longest])
            rest = rest[longest:]
        if rest:
            self._partial[key] = rest
        if pieces:
            self._add(entry["pid"], entry["name"], [p.decode("utf-8", "replace") for p in pieces], size)

    def _add(self, pid: int, stream: str, texts: list[str], size: int) -> None:
        now = time.time()
        for text in texts:
            line = Line(now, pid, stream, text, len(text.encode("utf-8", "replace")) + 1)
            self._lines.append(line)
            self._bytes += line.cost
        self._trim(size)
        self._publish(pid, stream, now, texts)

    def _trim(self, size: int) -> None:
        while self._bytes > size:
            self._bytes -= self._lines.popleft().cost

    def _publish(self, pid: int, stream: str, now: float, texts: list[str]) -> None:
        arbiter = self.watcher.arbiter
        if arbiter is None:
            return
        payload = {"watcher": self.watcher.name, "pid": pid, "stream": stream, "time": now, "lines": texts}
        arbiter.publish("log.%s.%s" % (self.watcher.res_name, stream), payload)

    def hand_over(self) -> dict[str, Any]:
        """The lines kept and the lines begun, as JSON, for the next image of circusd (circus.upgrade)."""
        return {"lines": [[line.time, line.pid, line.stream, line.text] for line in self._lines],
                "partial": [[pid, stream, data.decode("latin-1")] for (pid, stream), data in self._partial.items()]}

    def take_over(self, carried: Optional[dict[str, Any]]) -> None:
        """Keep what :meth:`hand_over` gave, before any new line."""
        for when, pid, stream, text in (carried or {}).get("lines", []):
            line = Line(when, pid, stream, text, len(text.encode("utf-8", "replace")) + 1)
            self._lines.append(line)
            self._bytes += line.cost
        for pid, stream, data in (carried or {}).get("partial", []):
            self._partial[(pid, stream)] = data.encode("latin-1")
        self._trim(self.size)

    def clear(self) -> None:
        self._lines.clear()
        self._bytes = 0
        self._partial.clear()

    @property
    def bytes(self) -> int:
        """The bytes the lines kept count for (at most ``log_buffer_size``)."""
        return self._bytes

    def lines(self, count: Optional[int] = None, stream: Optional[str] = None) -> list[dict[str, Any]]:
        """The last ``count`` lines (all by default) of ``stream`` (both by default), oldest first."""
        self._trim(self.size)  # log_buffer_size may have been lowered by a set since the last line
        kept = [line for line in self._lines if stream is None or line.stream == stream]
        if count is not None:
            kept = kept[-count:] if count else []
        return [{"watcher": self.watcher.name, "pid": line.pid, "stream": line.stream,
                 "time": line.time, "line": line.text} for line in kept]
