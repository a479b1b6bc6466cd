"""Rolling reload: replace a watcher's processes batch by batch, never below its count of ready ones.

With readiness configured (``ready`` other than ``none``) or ``reload_batch``
set, a graceful ``reload`` starts ``reload_batch`` new processes, waits until
they are all ready (``ready_timeout``), then stops as many old ones, and
so on. When a batch is not ready in time the reload stops there: the new
processes of that batch are stopped, the old ones left keep serving, the
reply is an error saying why and ``watcher.NAME.reload_failed`` is
published.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from circus import options
from circus.exc import CircusError, MessageError
from circus.commands.errors import COMMAND_ERROR

logger = logging.getLogger("circus.watcher")


class ReloadFailed(CircusError):
    """A rolling reload stopped: a batch of new processes did not become ready."""

    errno = COMMAND_ERROR


def applies(watcher):
    """True when a graceful reload of ``watcher`` rolls."""
    return watcher.ready != "none" or bool(watcher.reload_batch)


def batch_size(setting, numprocesses):
    """New processes per batch: ``reload_batch`` as a count (0: 1) or a percentage (at least 1)."""
    if isinstance(setting, str) and setting.endswith("%"):
        return max(1, math.ceil(numprocesses * int(setting[:-1]) / 100))
    return max(1, int(setting or 1))


async def rolling_reload(watcher):
    """Replace the processes of ``watcher`` (in its turn); ``{'stopped', 'started', 'kept'}``.

    Raises ReloadFailed when a batch does not become ready.
    """
    old = sorted(watcher._alive())
    size = batch_size(watcher.reload_batch, watcher.numprocesses)
    started: list[int] = []
    stopped: list[int] = []
    began = time.monotonic()
    while len(started) < watcher.numprocesses:
        wanted = min(size, watcher.numprocesses - len(started))
        batch = []
        for _ in range(wanted):
            process = await watcher._spawn_process()
            if process is None:
                break
            batch.append(process)
        if len(batch) < wanted:
            reason = "could not spawn %d new process(es)" % (wanted - len(batch))
        else:
            reason = await watcher._health.wait_ready(batch, watcher.ready_timeout)
        if reason is not None:
            await _fail(watcher, batch, old, started, stopped, reason)
        started.extend(p.pid for p in batch)
        retiring, old = old[: len(batch)], old[len(batch):]
        await asyncio.gather(*(watcher._kill_process(p) for p in retiring))
        stopped.extend(p.pid for p in retiring)
    await asyncio.gather(*(watcher._kill_process(p) for p in old))
    stopped.extend(p.pid for p in old)
    logger.info("%s: rolling reload done in %.2f s: %d started, %d stopped",
                watcher.name, time.monotonic() - began, len(started), len(stopped))
    return {"stopped": sorted(stopped), "started": sorted(started), "kept": []}


async def _fail(watcher, batch, old, started, stopped, reason):
    await asyncio.gather(*(watcher._kill_process(p) for p in batch))
    kept = sorted(p.pid for p in old) + sorted(started)
    message = "reload of %r stopped: %s; %d process(es) keep serving" % (watcher.name, reason, len(kept))
    logger.error("%s", message)
    watcher.notify_event("reload_failed", {
        "time": time.time(), "reason": message, "started": sorted(started),
        "stopped": sorted(stopped), "abandoned": sorted(p.pid for p in batch), "kept": kept,
    })
    raise ReloadFailed(message)


# -- reloadconfig ---------------------------------------------------------------

# Keys of a watcher's config dict that are no option of the table.
_STRUCTURAL = ("name", "rlimits", "hooks", "options")


def config_changes(watcher, before, after):
    """The options to set on ``watcher`` for its config to go from ``before`` to ``after``,
    or None when that change cannot roll (a key ``set`` cannot change, or no readiness)."""
    if not watcher.is_active() or not applies(watcher):
        return None
    if after.get("ready", "none") == "none" and not after.get("reload_batch"):
        return None
    defaults = options.defaults("watcher")
    changed = {}
    for key in set(before) | set(after):
        if before.get(key) == after.get(key):
            continue
        if key in _STRUCTURAL or options.settable(key) is None or options.folded_family(key):
            return None
        changed[key] = after.get(key, defaults.get(key))
    return changed or None


async def apply_or_undo(watcher, plan):
    """``watcher.apply_options(plan)``; when the rolling reload it makes fails, the
    options it set go back to their values, so the watcher runs as it did
    (its processes, and the command a respawn runs), and ReloadFailed is raised."""
    undo = _undo_plan(watcher, plan.values) if applies(watcher) else None
    try:
        await watcher.apply_options(plan)
    except ReloadFailed:
        if undo is not None:
            async with watcher.turn():
                watcher._apply_plan(undo)
        raise


def _undo_plan(watcher, keys):
    """The plan that sets ``keys`` back to their present values; None when one cannot be."""
    try:
        return watcher.check_options({key: watcher.get_option(key) for key in keys})
    except (KeyError, MessageError):
        return None
