"""The figures of a running arbiter in the Prometheus text exposition format (0.0.4).

``await exposition(arbiter)`` gives the text ``/metrics`` serves (see
:mod:`circus.observability`): per watcher its process count, whether it is
active, and its restart and failed-start counters (kept by
``circus.crashloop.StartFailures``); per process its CPU time, resident
memory, start time and open fds, read with psutil; circusd's own process
figures under the standard ``process_*`` names.

Reading /proc costs tens of microseconds per process: the reads are sliced
(``circus.procinfo.Slicer``) so a scrape of thousands of processes never
holds the loop for more than one slice. A process that vanished between the
listing and the read is left out of that scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import psutil

from circus.procinfo import Slicer

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Family:
    """One metric family: ``# HELP``, ``# TYPE``, then its samples."""

    name: str
    kind: str  # "gauge" or "counter"
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: object) -> None:
        self.samples.append(({k: str(v) for k, v in labels.items()}, value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families``; a family without samples is still declared."""
    lines = []
    for family in families:
        lines.append("# HELP %s %s" % (family.name, _escape_help(family.help)))
        lines.append("# TYPE %s %s" % (family.name, family.kind))
        for labels, value in family.samples:
            if labels:
                text = ",".join('%s="%s"' % (k, _escape_label(v)) for k, v in labels.items())
                lines.append("%s{%s} %s" % (family.name, text, _number(value)))
            else:
                lines.append("%s %s" % (family.name, _number(value)))
    return "\n".join(lines) + "\n"


def _process_families(prefix: str, what: str) -> dict[str, Family]:
    return {
        "cpu": Family(prefix + "cpu_seconds_total", "counter", "User and system CPU time of %s, in seconds." % what),
        "rss": Family(prefix + "resident_memory_bytes", "gauge", "Resident memory of %s, in bytes." % what),
        "start": Family(prefix + "start_time_seconds", "gauge", "Start time of %s, in seconds since the epoch." % what),
        "fds": Family(prefix + "open_fds", "gauge", "Open file descriptors of %s." % what),
    }


def _read_process(families: dict[str, Family], process_id: int, **labels: object) -> None:
    """Add the figures of process ``process_id``; nothing when it vanished or cannot be read."""
    try:
        proc = psutil.Process(process_id)
        with proc.oneshot():
            times = proc.cpu_times()
            figures = {
                "cpu": times.user + times.system,
                "rss": proc.memory_info().rss,
                "start": proc.create_time(),
                "fds": proc.num_fds(),
            }
    except psutil.Error:  # gone (or a zombie, or not ours to read) since it was listed
        return
    for key, value in figures.items():
        families[key].add(value, **labels)


def _watcher_families() -> dict[str, Family]:
    return {
        "processes": Family("circus_watcher_processes", "gauge", "Processes the watcher has."),
        "up": Family("circus_watcher_up", "gauge", "1 when the watcher is active, else 0."),
        "restarts": Family("circus_watcher_restarts_total", "counter",
                           "Respawns of processes that ended without circus asking them to."),
        "failures": Family("circus_watcher_failures_total", "counter",
                           "Failed starts: a spawn that failed, or an exit within min_uptime."),
        "ready": Family("circus_watcher_ready_processes", "gauge",
                        "Running processes that are ready (watchers with ready or watchdog_sec set)."),
    }


async def collect(arbiter: Arbiter, slicer: Slicer | None = None) -> list[Family]:
    """Every family of ``arbiter``'s figures, read now."""
    slicer = slicer or Slicer()
    watchers = _watcher_families()
    processes = _process_families("circus_process_", "the process")
    for watcher in arbiter.iter_watchers(reverse=False):
        counts = watcher.start_failures
        watchers["processes"].add(len(watcher.processes), watcher=watcher.name)
        watchers["up"].add(int(watcher.is_active()), watcher=watcher.name)
        watchers["restarts"].add(counts.restarts, watcher=watcher.name)
        watchers["failures"].add(counts.failures, watcher=watcher.name)
        if watcher._health.configured:
            running = watcher._health.ready_map().values()
            watchers["ready"].add(sum(running), watcher=watcher.name)
        for pid, process in sorted(watcher.processes.items()):
            _read_process(processes, pid, watcher=watcher.name, pid=pid, wid=process.wid)
            await slicer.tick()
    own = _process_families("process_", "circusd")
    _read_process(own, arbiter.pid)
    return [*watchers.values(), *processes.values(), *own.values()]


async def exposition(arbiter: Arbiter) -> str:
    """The text ``/metrics`` serves."""
    return render(await collect(arbiter))
