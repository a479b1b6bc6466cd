"""The orphans circusd adopts as child subreaper, and their stop when circusd stops.

As child subreaper circusd inherits every descendant whose parent died,
daemons that left their worker's process group included: nothing else
would stop them. The children of a program embedding the arbiter and the
processes left by ``rm --nostop`` are spared.
"""

import logging
import os
import signal

from circus.childwatch import wait_gone
from circus.procinfo import child_pids, signal_pids

logger = logging.getLogger("circus.arbiter")

GRACE = 30.0  # an orphan's graceful timeout when no watcher gives one (the option's default)


class Orphans:
    """The children of circusd that no watcher owns, and which of them to spare."""

    def __init__(self):
        self._spared = set()

    @property
    def spared(self):
        return sorted(self._spared)

    def forget_spared(self):
        """Spare nothing any more (an upgrade: the children present at its start are circusd's own)."""
        self._spared.clear()

    def spare_present_children(self):
        """Spare the children circusd has now: at start, those of a program embedding it."""
        self._spared.update(child_pids(os.getpid()))

    def spare(self, pids):
        """Spare ``pids``: processes left running on purpose (``rm --nostop``)."""
        self._spared.update(pids)

    async def stop(self, watchers, everyone=False):
        """SIGTERM, then SIGKILL after the longest ``graceful_timeout``, every
        orphan not spared; only when one of ``watchers`` has ``stop_children``,
        or ``everyone`` (circusd is a container's init, see circus.pid1)."""
        stoppers = list(watchers) if everyone else [w for w in watchers if w.stop_children]
        if not stoppers and not everyone:
            return
        orphans = [pid for pid in child_pids(os.getpid()) if pid not in self._spared]
        if orphans:
            logger.info("stopping %d orphan(s) adopted by circusd: %s", len(orphans), orphans)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not orphans:
                return
            signal_pids(orphans, sig)
            orphans = await wait_gone(orphans, max((w.graceful_timeout for w in stoppers), default=GRACE))
