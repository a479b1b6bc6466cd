"""What circusd-stats follows, and the messages of one round.

:class:`Collector` holds the processes to sample (per watcher, plus the
circus group: circusd, circusd-stats, circushttpd) and turns them into the
``(topic, payload)`` pairs of spec/protocol.md §7. It does no I/O besides
reading ``/proc``: :mod:`circus.stats.streamer` feeds it from circusd's
replies and events and publishes what it returns.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from circus.procinfo import NOT_AVAILABLE
from circus.stats.sampler import ProcessGone, ProcessSampler

logger = logging.getLogger("circus.stats.collector")

# Watchers reported under ``stat.circus`` (or not at all) rather than by name.
CIRCUS_GROUP = ("circusd", "circusd-stats", "circushttpd")

Message = Tuple[str, Dict[str, Any]]


def topic_name(name: str) -> str:
    """A watcher's name as event topics spell it (lower case, ``_`` for spaces)."""
    return name.lower().replace(" ", "_")


def aggregate(pids: List[int], infos: List[Dict[str, Any]]) -> Dict[str, Any]:
    """``{pid: [...], cpu: mean, mem: sum, age: max}``; "N/A" where nothing was readable."""

    def numbers(key):
        return [info[key] for info in infos if isinstance(info.get(key), (int, float))]

    cpu, mem, age = numbers("cpu"), numbers("mem"), numbers("age")
    return {
        "pid": pids,
        "cpu": round(sum(cpu) / len(cpu), 2) if cpu else NOT_AVAILABLE,
        "mem": round(sum(mem), 3) if mem else NOT_AVAILABLE,
        "age": max(age) if age else NOT_AVAILABLE,
    }


class Collector:
    """The processes circusd-stats follows, by watcher.

    Watcher names are kept as event topics spell them. ``gone`` collects
    the pids found dead while sampling, so the caller can tell when circusd
    itself went away.
    """

    def __init__(self) -> None:
        self.watchers: Dict[str, Dict[int, ProcessSampler]] = {}
        self.circus: Dict[int, Tuple[str, ProcessSampler]] = {}
        self.gone: List[int] = []

    # -- what to follow -------------------------------------------------

    def clear(self) -> None:
        for samplers in self.watchers.values():
            for sampler in samplers.values():
                sampler.close()
        for _, sampler in self.circus.values():
            sampler.close()
        self.watchers.clear()
        self.circus.clear()

    def add_circus(self, pid: int, name: str) -> None:
        if pid not in self.circus:
            self.circus[pid] = (name, ProcessSampler(pid, with_children=False))

    def add(self, watcher: str, pid: int) -> None:
        """Follow ``pid`` of ``watcher`` (circushttpd's go to the circus group)."""
        watcher = topic_name(watcher)
        if watcher == "circushttpd":
            self.add_circus(pid, watcher)
        elif watcher not in CIRCUS_GROUP:
            self.watchers.setdefault(watcher, {}).setdefault(pid, ProcessSampler(pid))

    def remove(self, watcher: str, pid: int) -> None:
        watcher = topic_name(watcher)
        sampler = self.watchers.get(watcher, {}).pop(pid, None)
        if watcher == "circushttpd" and pid in self.circus:
            sampler = self.circus.pop(pid)[1]
        if sampler is not None:
            sampler.close()

    def drop_watcher(self, watcher: str) -> None:
        watcher = topic_name(watcher)
        for sampler in self.watchers.pop(watcher, {}).values():
            sampler.close()
        if watcher == "circushttpd":
            for pid in [p for p, (name, _) in self.circus.items() if name == watcher]:
                self.circus.pop(pid)[1].close()

    def on_event(self, watcher: str, event: str, payload: Dict[str, Any]) -> None:
        """Apply one ``watcher.<name>.<event>`` event."""
        pid = payload.get("process_pid")
        if event == "spawn" and isinstance(pid, int):
            self.add(watcher, pid)
        elif event in ("reap", "kill") and isinstance(pid, int):
            self.remove(watcher, pid)
        elif event in ("stop", "remove"):
            self.drop_watcher(watcher)

    # -- one round --------------------------------------------------------

    def round(self, now: Optional[float] = None) -> Iterator[Message]:
        """Sample every process once; yield the topics and payloads of §7."""
        now = time.time() if now is None else now
        for watcher in sorted(self.watchers):
            yield from self._watcher_round(watcher, now)
        yield from self._circus_round(now)

    def _sample(self, sampler: ProcessSampler, now: float) -> Optional[Dict[str, Any]]:
        try:
            return sampler.sample(now)
        except ProcessGone:
            logger.debug("process %d is gone", sampler.pid)
            self.gone.append(sampler.pid)
            return None

    def _watcher_round(self, watcher: str, now: float) -> Iterator[Message]:
        samplers = self.watchers[watcher]
        pids, infos = [], []
        for pid, sampler in list(samplers.items()):
            info = self._sample(sampler, now)
            if info is None:
                del samplers[pid]
                continue
            info["subtopic"] = pid
            info["name"] = None
            pids.append(pid)
            infos.append(info)
            yield "stat.%s.%d" % (watcher, pid), info
        if pids:
            yield "stat.%s" % watcher, aggregate(pids, infos)

    def _circus_round(self, now: float) -> Iterator[Message]:
        pids, infos = [], []
        for pid, (name, sampler) in list(self.circus.items()):
            info = self._sample(sampler, now)
            if info is None:
                del self.circus[pid]
                continue
            info["subtopic"] = pid
            info["name"] = name
            pids.append(pid)
            infos.append(info)
            yield "stat.circus.%d" % pid, info
        if pids:
            yield "stat.circus", aggregate(pids, infos)


def socket_messages(sockets_info: List[dict], hits: Dict[int, Any]) -> Iterator[Message]:
    """``stat.sockets.<fd>`` per socket and ``stat.sockets``; nothing without sockets."""
    from circus.stats.hits import address_of

    if not sockets_info:
        return
    addresses, total = [], 0
    for info in sockets_info:
        fd, address = info["fd"], address_of(info)
        reads = hits.get(fd, NOT_AVAILABLE)
        addresses.append(address)
        if isinstance(reads, int):
            total += reads
        yield "stat.sockets.%d" % fd, {"fd": fd, "subtopic": fd, "reads": reads, "address": address}
    yield "stat.sockets", {"addresses": addresses, "reads": total}
