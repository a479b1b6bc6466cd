"""When is a watcher up? The one answer depends_on, ``/readyz`` and
circusd's own ``READY=1`` ask for.

Up means active with every process running and ready (``ready``, see
:mod:`circus.health`; without it a running process is ready), an
``on_demand`` watcher that waits for its first connection is up: its
sockets listen.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable

from circus.states import ProcessState

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher


def why_not_up(watcher: Watcher) -> str | None:
    """Why ``watcher`` is not up, or None when it is."""
    if watcher.on_demand and watcher.is_stopped():
        return None
    if not watcher.is_active():
        return "watcher is %s" % watcher.status()
    running = sum(1 for p in watcher.processes.values() if p.state is ProcessState.RUNNING)
    if running < watcher.numprocesses:
        return "%d of %d processes running" % (running, watcher.numprocesses)
    ready = sum(1 for p in watcher.processes.values() if p.state is ProcessState.RUNNING and p.ready)
    if ready < watcher.numprocesses:
        return "%d of %d processes ready" % (ready, watcher.numprocesses)
    return None


def is_up(watcher: Watcher) -> bool:
    """Whether ``watcher`` is up (dependants may start)."""
    return why_not_up(watcher) is None


def not_up(arbiter: Arbiter) -> dict[str, str]:
    """``{autostart watcher name: why it is not up}``; empty when circusd is ready."""
    reasons = {}
    for watcher in arbiter.iter_watchers():
        if watcher.autostart:
            reason = why_not_up(watcher)
            if reason is not None:
                reasons[watcher.name] = reason
    return reasons


# How long a waiter sleeps when no event came: a safety net for a change that
# publishes none (every start, spawn, ready, stop and exit does publish one).
QUIET_RECHECK = 1.0


class Changes:
    """Wakes whoever waits for a watcher to change: the arbiter calls
    :meth:`happened` for every event it publishes."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None  # only while someone waits

    def happened(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float) -> None:
        """Return at the next change, or after ``timeout`` seconds."""
        if self._event is None:
            self._event = asyncio.Event()
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


async def wait_until_up(watcher: Watcher, give_up: Callable[[], bool]) -> bool:
    """Wait until ``watcher`` is up (True); False once it is stopped (its
    start failed, or it is not started) or ``give_up()`` says so.

    Checked again at each event of the arbiter (:class:`Changes`)."""
    changes = getattr(getattr(watcher, "arbiter", None), "changes", None)
    while not is_up(watcher):
        if watcher.is_stopped() or give_up():
            return False
        if changes is None:  # a watcher outside an arbiter
            await asyncio.sleep(0.1)
        else:
            await changes.wait(QUIET_RECHECK)
    return True
