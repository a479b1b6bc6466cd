"""A watcher's process table: its processes by pid, their slots (wids) and their exits.

The table owns the bookkeeping of each process from its registration to
its reap: the lowest free wid, the child watcher's report of its exit, its
``min_uptime`` and ``max_age`` timers, the ``reap`` event and the
``before_reap``/``after_reap`` hooks. What an exit means for the watcher
(respawn the slot, or stop) stays the watcher's decision
(``Watcher._exited``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import random
import time
from typing import TYPE_CHECKING

from circus.childwatch import decode_wait_status
from circus.crashloop import describe_exit
from circus.states import ProcessState

if TYPE_CHECKING:
    from circus.childwatch import ChildWatcher
    from circus.process import Process
    from circus.watcher import Watcher

logger = logging.getLogger("circus.watcher")


class ProcessTable:
    """The processes of ``watcher``; ``processes`` is the watcher's ``processes`` dict."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.processes: dict[int, Process] = {}
        self._free_wids: list[int] = []
        self._top_wid = 0
        self._uptime_timers: dict[int, asyncio.TimerHandle] = {}
        self._age_timers: dict[int, asyncio.TimerHandle] = {}

    # -- slots --------------------------------------------------------------

    def next_wid(self) -> int:
        """The lowest worker id no process holds (ids are reused)."""
        if self._free_wids:
            return heapq.heappop(self._free_wids)
        self._top_wid += 1
        return self._top_wid

    def release_wid(self, wid: int) -> None:
        heapq.heappush(self._free_wids, wid)

    # -- from spawn to exit -------------------------------------------------

    def register(self, process: Process) -> None:
        """Own ``process``: its exit is reported here, its timers run, ``spawn`` is published."""
        w = self.watcher
        self.processes[process.pid] = process
        self._children().watch(process.pid, self.on_exit)
        w._output.add_process(process)
        logger.info("%s[%d] started (wid %d)", w.name, process.pid, process.wid)
        w.notify_event("spawn", {"process_pid": process.pid, "time": process.started})
        w._health.track(process)
        self._start_timers(process, 0.0)

    def _start_timers(self, process: Process, elapsed: float) -> None:
        """The ``min_uptime`` and ``max_age`` timers of ``process``, ``elapsed`` s into its life."""
        w = self.watcher
        loop = asyncio.get_running_loop()
        uptime_left = max(w.min_uptime - elapsed, 0)
        self._uptime_timers[process.pid] = loop.call_later(uptime_left, self._uptime_reached, process)
        if w.max_age > 0:
            delay = max(w.max_age - elapsed, 0) + random.randint(0, max(w.max_age_variance, 0))
            self._age_timers[process.pid] = loop.call_later(delay, self._age_reached, process)

    def adopt(self, process: Process, health: dict | None = None) -> None:
        """Own ``process``, spawned by an earlier image of circusd (``circus.upgrade``).

        Its wid is taken out of the free slots; its timers count from its
        real start; its readiness is ``health`` (``Health.hand_over``); no
        ``spawn`` is published (nothing was spawned).
        """
        w = self.watcher
        if process.wid > self._top_wid:
            for wid in range(self._top_wid + 1, process.wid):
                heapq.heappush(self._free_wids, wid)
            self._top_wid = process.wid
        elif process.wid in self._free_wids:
            self._free_wids.remove(process.wid)
            heapq.heapify(self._free_wids)
        self.processes[process.pid] = process
        self._children().watch(process.pid, self.on_exit)
        w._output.add_process(process)
        logger.info("%s[%d] adopted (wid %d, age %.1fs)", w.name, process.pid, process.wid, process.age())
        w._health.adopt(process, health)
        self._start_timers(process, process.age())

    def _children(self) -> ChildWatcher:
        arbiter = self.watcher.arbiter
        assert arbiter is not None and arbiter.child_watcher is not None, "a watcher runs under an arbiter"
        return arbiter.child_watcher

    def _uptime_reached(self, process: Process) -> None:
        self._uptime_timers.pop(process.pid, None)
        self.watcher._started_well(process)

    def _age_reached(self, process: Process) -> None:
        self._age_timers.pop(process.pid, None)
        self.watcher._recycle(process)

    def drop_timers(self, pids: list[int]) -> None:
        """Cancel the ``min_uptime`` and ``max_age`` timers, the readiness and watchdog of ``pids``."""
        self.watcher._health.forget(pids)
        for timers in (self._age_timers, self._uptime_timers):
            for pid in pids:
                timer = timers.pop(pid, None)
                if timer is not None:
                    timer.cancel()

    def on_exit(self, pid: int, exit_code: int | None) -> None:
        """The child watcher's report: ``pid`` exited with ``exit_code``."""
        process = self.processes.get(pid)
        if process is None:
            return
        w = self.watcher
        self.drop_timers([pid])
        stopping = process.state is ProcessState.STOPPING
        process.exited(exit_code)
        w._output.drain_process(pid)
        if stopping:
            return  # the stopper reaps it
        log = logger.info if exit_code == 0 else logger.warning
        log("%s[%d] %s", w.name, pid, describe_exit(exit_code))
        w._exited(process, exit_code)

    def reap(self, process: Process, keep_wid: bool = False) -> None:
        """Forget ``process``; with ``keep_wid`` its slot stays reserved for a respawn."""
        w = self.watcher
        w.call_hook("before_reap", process_pid=process.pid, time=time.time())
        if self.processes.pop(process.pid, None) is not None and not keep_wid:
            self.release_wid(process.wid)
        w.notify_event(
            "reap",
            {"process_pid": process.pid, "time": time.time(), "exit_code": process.exit_code},
        )
        w.call_hook(
            "after_reap",
            process_pid=process.pid,
            time=time.time(),
            exit_code=process.exit_code,
            process_status=process.status,
        )

    def let_go(self) -> list[int]:
        """Forget every process without touching it (``rm --nostop``); their pids."""
        pids = sorted(self.processes)
        self.drop_timers(pids)
        for pid in pids:
            self._children().forget(pid)
        self.processes.clear()
        return pids

    # -- the manual's reap methods ------------------------------------------

    def reap_processes(self) -> None:
        for pid in list(self.processes):
            self.reap_process(pid)

    def reap_process(self, pid: int, status: int | None = None) -> None:
        if pid not in self.processes:
            return
        if status is None:
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return  # reaped already: its exit is being reported
            if reaped != pid:
                return  # still running
        self._children().forget(pid)
        self.on_exit(pid, decode_wait_status(status))
