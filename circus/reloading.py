"""How a graceful reload replaces a watcher's processes (``Watcher.reload``).

Each runs in the watcher's turn and returns ``{'stopped', 'started', 'kept'}``;
:func:`graceful` picks one: rolling (``circus.rolling``) when the watcher has
readiness or ``reload_batch``, else one by one or all at once.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from circus import rolling
from circus.handover import handing_over

if TYPE_CHECKING:
    from circus.watcher import Watcher


async def graceful(watcher: Watcher, one_by_one: bool) -> dict[str, list[int]]:
    """The graceful reload of ``watcher`` (``reload --sequential``: ``one_by_one``)."""
    if rolling.applies(watcher):
        return await rolling.rolling_reload(watcher)
    if one_by_one:
        return await sequential(watcher)
    return await all_at_once(watcher)


def longest(watcher: Watcher) -> float:
    """Seconds a rolling reload of ``watcher`` may hold its turn (0 when it does not roll):
    each batch waits ``ready_timeout`` at most, then stops old processes."""
    if not rolling.applies(watcher):
        return 0.0
    batches = math.ceil(watcher.numprocesses / rolling.batch_size(watcher.reload_batch, watcher.numprocesses))
    return batches * (watcher.ready_timeout + watcher.graceful_timeout)


async def sequential(watcher: Watcher) -> dict[str, list[int]]:
    """One process after the other: stop it, spawn its successor, wait ``warmup_delay``."""
    stopped: list[int] = []
    started: list[int] = []
    for process in sorted(watcher._alive()):
        await watcher._kill_process(process)
        stopped.append(process.pid)
        new = await watcher._spawn_process()
        if new is not None:
            started.append(new.pid)
        if watcher.warmup_delay > 0:
            await asyncio.sleep(watcher.warmup_delay)
    return {"stopped": sorted(stopped), "started": sorted(started), "kept": []}


async def all_at_once(watcher: Watcher) -> dict[str, list[int]]:
    """Spawn a whole new generation, hand the sockets over, then stop the old one."""
    old = watcher._alive()
    started: list[int] = []
    with handing_over(watcher) as handover:
        for _ in range(watcher.numprocesses):
            new = await watcher._spawn_process()
            if new is not None:
                started.append(new.pid)
        await handover.drain(watcher.graceful_timeout)
        await asyncio.gather(*(watcher._kill_process(p) for p in old))
    return {"stopped": sorted(p.pid for p in old), "started": sorted(started), "kept": []}
