"""Crash-loop protection: the failed starts in a row of a watcher and of its slots.

``max_retry`` failed starts in a row stop the watcher; from the second
failed start in a row of a slot (wid), its respawns wait, doubling from
100 ms up to 5 s, instead of spinning the CPU, while the other slots are
replaced at once. The first wait is long enough for the flapping plugin,
which decides on the second death, to stop the watcher before that slot
spawns again. A start of the watcher, or a process that lives
``min_uptime``, starts the count over.

With the watcher options ``respawn_delay`` (> 0) and ``respawn_delay_max``
the waits are the user's instead: from the first young death in a row of a
slot, ``respawn_delay``, doubling per young death in a row, up to
``respawn_delay_max``.
"""

import logging
import signal

from circus.convert import signal_name

logger = logging.getLogger("circus.watcher")

FIRST_RESPAWN_DELAY = 0.1
MAX_RESPAWN_DELAY = 5.0


def respawn_delay(failures):
    """Seconds a slot waits before its respawn after ``failures`` failed starts in a row."""
    if failures < 2:
        return 0.0
    # The exponent is bounded: with max_retry = -1 failures grow forever.
    return min(FIRST_RESPAWN_DELAY * 2 ** min(failures - 2, 16), MAX_RESPAWN_DELAY)


def backoff_delay(failures, first, longest):
    """Seconds of the ``respawn_delay`` backoff after ``failures`` young deaths in a row."""
    if failures < 1:
        return 0.0
    return min(first * 2 ** min(failures - 1, 32), max(first, longest))


def status_details(watcher):
    """What ``status``/``stats`` of a watcher with ``respawn_delay`` add:
    ``respawn_backoff``, the longest wait of its slots' latest respawns (0:
    none is backing off). Nothing without ``respawn_delay``."""
    if not watcher.respawn_delay:
        return {}
    return {"respawn_backoff": watcher.start_failures.longest_delay()}


def describe_exit(code):
    if code is None:
        return "exited (status unknown)"
    if code < 0:
        return "killed by %s" % signal_name(-code)
    return "exited with code %d" % code


def failed_start_reason(age, exit_code, min_uptime):
    """Why an end after ``age`` seconds is a failed start, or None when it is not one.

    A SIGKILL is not: no program sends it to itself when it fails to start;
    an operator or the OOM killer does, and a storm of them must not stop
    the watcher or slow its respawns down.
    """
    if age >= min_uptime or exit_code == -signal.SIGKILL:
        return None
    if exit_code is not None and exit_code >= 0:
        what = "exit status %d" % exit_code
    else:
        what = describe_exit(exit_code)
    return "%s within %g s" % (what, min_uptime)


class StartFailures:
    """The failed starts in a row of watcher ``owner``, in all and per slot."""

    def __init__(self, owner, backoff=lambda: (0.0, 0.0)):
        self.owner = owner
        self.backoff = backoff  # () -> the watcher's (respawn_delay, respawn_delay_max)
        self.in_a_row = 0  # across the watcher (see max_retry)
        self._slots = {}  # wid -> failed starts in a row of that slot
        # Since the watcher was built, never reset (circus_watcher_*_total):
        self.failures = 0  # failed starts
        self.restarts = 0  # respawns of slots whose process ended unasked, or failed to spawn

    def reset(self):
        """The watcher starts: every count starts over."""
        self.in_a_row = 0
        self._slots.clear()

    def started_well(self, wid):
        """A process of slot ``wid`` outlived min_uptime: its slot and the watcher start over."""
        self.in_a_row = 0
        self._slots.pop(wid, None)

    def count(self, wid, reason, max_retry):
        """Count one failed start of slot ``wid``; True when ``max_retry`` says give up."""
        self.in_a_row += 1
        self.failures += 1
        failures = self._slots[wid] = self._slots.get(wid, 0) + 1
        if self.gave_up(max_retry):
            logger.error("%s: %d starts in a row failed (%s); stopping", self.owner, self.in_a_row, reason)
            return True
        first, longest = self.backoff()
        if failures == (1 if first else 2):  # once per streak: the first respawn that waits
            logger.warning("%s: wid %d keeps failing to start (%s); its respawns now wait, "
                           "from %g s doubling up to %g s", self.owner, wid, reason,
                           self.delay(wid), max(first, longest) if first else MAX_RESPAWN_DELAY)
        return False

    def gave_up(self, max_retry):
        """True once ``max_retry`` (-1: never) failed starts in a row happened."""
        return 0 <= max_retry <= self.in_a_row

    def respawning(self, wid):
        """Count one respawn of slot ``wid``; how long it waits first (see :meth:`delay`)."""
        self.restarts += 1
        return self.delay(wid)

    def delay(self, wid):
        """How long slot ``wid`` waits before its next respawn (0: at once)."""
        first, longest = self.backoff()
        if first:
            return backoff_delay(self._slots.get(wid, 0), first, longest)
        return respawn_delay(self._slots.get(wid, 0))

    def longest_delay(self):
        """The longest :meth:`delay` of the slots (0 when none waits)."""
        return max((self.delay(wid) for wid in self._slots), default=0.0)
