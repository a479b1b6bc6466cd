"""Handing a watcher's listening sockets over from its old processes to the new ones.

Entered before the processes are replaced, a handover puts a new listener
under each socket only that watcher serves (``CircusSocket.hand_over``): new
connections then queue for the next processes and none reaches a process
about to stop. A server told to stop while connections arrive (uvicorn)
closes those it has accepted but not read yet; a whole generation stopping
under load meets that race every time, a SIGTERM to one process out of
several rarely. Leaving the block, once the old processes are gone, retires
the old listeners.
"""

import asyncio
import contextlib
import logging
import time

logger = logging.getLogger("circus.watcher")

# After the old listener's queue is empty, the time an old process gets to
# read the connections it has just accepted before it is told to stop.
HANDOVER_SETTLE = 0.1


class Handover:
    """The handovers of the sockets of watcher ``owner`` (none: nothing to do).

    With ``steered`` false, new connections keep going to the old listeners
    until :meth:`switch`; a handover never switched is undone at its end
    (the old listeners alone again, the new ones closed).
    """

    def __init__(self, owner, sockets, steered=True):
        self.owner = owner
        self.steered = steered
        self._handovers = []
        for sock in sockets:
            hand_over = getattr(sock, "hand_over", None)
            handover = hand_over(steered) if hand_over is not None else None
            if handover is not None:
                self._handovers.append(handover)

    def __bool__(self):
        return bool(self._handovers)

    async def switch(self, timeout):
        """Steer new connections to the new listeners, then :meth:`drain` the old ones (once)."""
        if self.steered or not self._handovers:
            return
        for handover in self._handovers:
            handover.steer_to_fresh()
        self.steered = True
        logger.debug("%s: new connections go to the new processes", self.owner)
        await self.drain(timeout)

    async def drain(self, timeout):
        """Wait (``timeout`` at most) for the old processes to accept what was queued."""
        if not self._handovers:
            return
        deadline = time.monotonic() + timeout
        # The kernel has no event for "accept queue empty": poll it, bounded.
        while any(h.queued() for h in self._handovers) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        left = sum(h.queued() for h in self._handovers)
        if left:
            logger.warning("%s: %d connection(s) still queued for the old processes", self.owner, left)
        await asyncio.sleep(HANDOVER_SETTLE)

    def finish(self):
        for handover in self._handovers:
            if self.steered:
                handover.finish()
            else:
                handover.undo()


def own_sockets(watcher):
    """The sockets of ``watcher`` no other watcher serves, while its processes run."""
    if not watcher._alive() or watcher.arbiter is None:
        return []
    shared = {n for w in watcher.arbiter.watchers if w is not watcher for n in w.socket_names()}
    return [watcher.sockets[n] for n in watcher.socket_names() if n not in shared]


@contextlib.contextmanager
def handing_over(watcher, steered=True):
    """A :class:`Handover` of the sockets only ``watcher`` serves, for the block; the old listeners retire at its end."""
    handover = Handover(watcher.name, own_sockets(watcher), steered)
    try:
        yield handover
    finally:
        handover.finish()
