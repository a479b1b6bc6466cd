"""A closed-loop HTTP load generator: a fresh connection for every request.

``concurrency`` clients each connect, send one ``GET`` with
``Connection: close``, read the whole answer and start again, until the
run is stopped. Every request ends in exactly one outcome, so nothing a
server drops goes unnoticed:

``ok``        a ``200`` status line was read before the server closed;
``refused``   the connection could not be made;
``reset``     the server closed (or reset) without a status line;
``bad``       an answer that is not ``200``;
``timeout``   no full answer within ``timeout`` seconds.
"""

import asyncio
import dataclasses
import math
import time

OUTCOMES = ("ok", "refused", "reset", "bad", "timeout")


@dataclasses.dataclass
class Tally:
    """Outcomes and latencies (seconds, ``ok`` requests only) of a run."""

    counts: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    latencies: list = dataclasses.field(default_factory=list)
    failures: list = dataclasses.field(default_factory=list)  # (monotonic start, outcome)

    @property
    def total(self):
        return sum(self.counts.values())

    @property
    def failed(self):
        return self.total - self.counts["ok"]

    def percentile(self, p):
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def summary(self):
        lost = ", ".join("%s %d" % (k, v) for k, v in self.counts.items() if k != "ok" and v)
        return "%d requests, %d failed%s, p99 %.0f ms, max %.0f ms" % (
            self.total, self.failed, " (%s)" % lost if lost else "",
            self.percentile(99) * 1000, self.percentile(100) * 1000)


async def fetch(host, port, timeout):
    """One request on a fresh connection; returns (outcome, seconds)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                return "refused", time.monotonic() - started
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host.encode())
                answer = await reader.read()
            except OSError:
                answer = b""
            finally:
                writer.close()
    except TimeoutError:
        return "timeout", time.monotonic() - started
    if not answer:
        return "reset", time.monotonic() - started
    if not answer.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 ")):
        return "bad", time.monotonic() - started
    return "ok", time.monotonic() - started


async def _client(host, port, timeout, stop, tally):
    while not stop.is_set():
        started = time.monotonic()
        outcome, seconds = await fetch(host, port, timeout)
        tally.counts[outcome] += 1
        if outcome == "ok":
            tally.latencies.append(seconds)
        else:
            tally.failures.append((started, outcome))


class Load:
    """``async with Load(host, port) as tally:`` runs the clients for the block's duration.

    Leaving the block stops the clients after their request in flight has
    ended, so each request started is counted once.
    """

    def __init__(self, host, port, concurrency=32, timeout=5.0):
        self.host, self.port = host, port
        self.concurrency, self.timeout = concurrency, timeout
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._tasks = []

    async def __aenter__(self):
        self._tasks = [
            asyncio.ensure_future(_client(self.host, self.port, self.timeout, self._stop, self.tally))
            for _ in range(self.concurrency)
        ]
        return self.tally

    async def __aexit__(self, *exc):
        self._stop.set()
        await asyncio.gather(*self._tasks)
