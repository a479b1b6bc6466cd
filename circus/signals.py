"""Signals to circusd, each routed to the command a client would send.

A handler only records the signal and wakes the router's task; the router
runs the command (``quit``, ``reloadconfig``, ``reload``, ``upgrade``)
through the same command classes the controller uses, so a signal and a
request cannot drift apart. Installed only when circusd reaps every child (it is then the
program, not a library inside someone else's).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import signal
from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.tasks import TaskSet

logger = logging.getLogger("circus.signals")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
# Their default actions would kill circusd and orphan every child.
IGNORED_SIGNALS = (signal.SIGUSR1, signal.SIGWINCH)
HANDLED_SIGNALS = STOP_SIGNALS + (signal.SIGHUP, signal.SIGUSR2) + IGNORED_SIGNALS


def command_for(sig: int, config_file: str | None) -> str | None:
    """The name of the command ``sig`` stands for, None for an ignored signal.

    SIGHUP re-reads the configuration file, or without a file reloads
    every watcher; SIGUSR2 upgrades circusd in place.
    """
    if sig in STOP_SIGNALS:
        return "quit"
    if sig == signal.SIGUSR2:
        return "upgrade"
    if sig == signal.SIGHUP:
        return "reloadconfig" if config_file else "reload"
    return None


class SignalRouter:
    """The signal handlers of one arbiter and the task that acts on them."""

    def __init__(self, arbiter: Arbiter, tasks: TaskSet) -> None:
        self.arbiter = arbiter
        self._tasks = tasks
        self._pending: collections.deque[int] = collections.deque()
        self._wake: asyncio.Event  # made by install(), on the loop that waits on it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_asked = False

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Handle :data:`HANDLED_SIGNALS` on ``loop`` and start the router's task."""
        self._loop = loop
        self._wake = asyncio.Event()
        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, self._enqueue, sig)
        # A burst of SIGCHLD (a thousand workers stopping) fills the loop's
        # wakeup pipe; one wake-up is enough, so the overflow is not an error.
        signal.set_wakeup_fd(signal.set_wakeup_fd(-1), warn_on_full_buffer=False)
        self._tasks.spawn(self._route_pending(), name="signals")

    def remove(self) -> None:
        """Give the signals back to their previous handling."""
        if self._loop is None:
            return
        for sig in HANDLED_SIGNALS:
            self._loop.remove_signal_handler(sig)
        self._loop = None

    def _enqueue(self, sig):
        """The handler: record the signal, wake the router, nothing more."""
        self._pending.append(sig)
        self._wake.set()

    async def _route_pending(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                self._route(self._pending.popleft())

    def _route(self, sig):
        name = signal.Signals(sig).name
        command = command_for(sig, self.arbiter.config_file)
        if command is None:
            logger.info("got %s, ignored", name)
            return
        if command == "quit":
            if self._stop_asked and self.arbiter.init_mode:
                from circus.pid1 import kill_descendants

                kill_descendants()  # the stop in progress then ends at once
                return
            self._stop_asked = True
        logger.info("got %s, running %s", name, command)
        # Each command in its own task: a stop must not wait behind a reload
        # to be noticed (it then waits for the reload's end, as a client's does).
        self._tasks.spawn(self._run(sig, command), name="%s: %s" % (name, command))

    async def _run(self, sig, name):
        from circus.commands import get_commands
        from circus.logsetup import reopen_log_files

        if sig == signal.SIGHUP:
            reopen_log_files()
        command = get_commands()[name]
        try:
            outcome = command.prepare(self.arbiter, {})
            if isinstance(outcome, Awaitable):
                await outcome
        except Exception as exc:
            if sig not in (signal.SIGHUP, signal.SIGUSR2):
                raise  # logged by the task set
            what = "upgrade" if sig == signal.SIGUSR2 else "reload"
            logger.error("%s failed, nothing changed: %s", what, exc)
