"""Readiness and watchdog of a watcher's processes (``ready``, ``watchdog_sec``).

A process is *ready* when it is really up: at once with ``ready = none``
(what spawned always meant), when it sends ``READY=1`` to its
``NOTIFY_SOCKET`` with ``ready = notify``, when ``ready_address`` accepts a
connection (``tcp``) or ``ready_url`` answers 2xx (``http``). One not ready
within ``ready_timeout`` is killed and counts as a failed start (see
:mod:`circus.crashloop`): it counts as started well only once it is ready.
With ``watchdog_sec``, a process that sends no ``WATCHDOG=1`` for that long is
killed and replaced (event ``unhealthy``).

:class:`Health` is the per-watcher part: it owns the deadline, watchdog and
probe of each process and drops them when the process exits or is abandoned.
:class:`NotifyRouter` is the arbiter's part: one notify socket for every
watcher, opened on the first process that needs it, whose messages go to the
watcher of the sending pid (the kernel's credentials say which pid it is).
Whether a watcher is *up* (depends_on, ``/readyz``, circusd's own
``READY=1``) counts its ready processes: :mod:`circus.up`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from circus import readiness
from circus.sdnotify import NotifyServer
from circus.states import ProcessState, WatcherState
from circus.substitute import expand_command

logger = logging.getLogger("circus.watcher")


class _Tracked:
    """What circus waits for from one process."""

    def __init__(self, process, loop):
        self.process = process
        self.outcome = loop.create_future()  # None once ready, else why not
        self.deadline = None  # timer: ready_timeout (notify)
        self.watchdog = None  # timer: watchdog_sec
        self.probe = None  # task: tcp / http probes
        self.status = None  # the latest STATUS= it sent
        self.stopping = False  # it sent STOPPING=1

    def settle(self, reason):
        if not self.outcome.done():
            self.outcome.set_result(reason)

    def cancel(self):
        for handle in (self.deadline, self.watchdog, self.probe):
            if handle is not None:
                handle.cancel()
        self.deadline = self.watchdog = self.probe = None


class Health:
    """Readiness and watchdog of the processes of ``watcher``."""

    def __init__(self, watcher):
        self.watcher = watcher
        self._tracked = {}  # pid -> _Tracked

    @property
    def configured(self):
        """True when ``ready`` or ``watchdog_sec`` is set: the replies show readiness."""
        return self.watcher.ready != "none" or self.watcher.watchdog_sec > 0

    @property
    def uses_notify(self):
        return self.watcher.ready == "notify" or self.watcher.watchdog_sec > 0

    # -- spawning ---------------------------------------------------------------

    def environ(self, env):
        """The environment of a new process: with ``NOTIFY_SOCKET`` when it talks to circusd."""
        watcher = self.watcher
        if not self.uses_notify or watcher.arbiter is None:
            return env
        env = dict(os.environ if env is None else env)
        env["NOTIFY_SOCKET"] = watcher.arbiter.notify.socket_name()
        if watcher.watchdog_sec > 0:
            env["WATCHDOG_USEC"] = str(int(watcher.watchdog_sec * 1e6))
        else:
            env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        return env

    def track(self, process):
        """A process was spawned: start waiting for it (and watching it)."""
        self._watch(process, self.watcher.ready == "none", self.watcher.ready_timeout)

    def _watch(self, process, ready, ready_timeout):
        """Wait ``ready_timeout`` s for ``process`` unless ``ready``; its watchdog from now."""
        watcher = self.watcher
        process.ready = ready
        if not self.configured and not watcher.reload_batch:
            return None
        loop = asyncio.get_running_loop()
        tracked = self._tracked[process.pid] = _Tracked(process, loop)
        if process.ready:
            tracked.settle(None)
        elif watcher.ready == "notify":
            tracked.deadline = loop.call_later(ready_timeout, self._timed_out, tracked)
        else:
            tracked.probe = watcher._tasks.spawn(
                self._probe(tracked, ready_timeout), name="%s: ready probe %d" % (watcher.name, process.pid))
        if watcher.watchdog_sec > 0:
            tracked.watchdog = loop.call_later(watcher.watchdog_sec, self._starved, tracked)
        return tracked

    # -- across an upgrade (circus.upgrade) -------------------------------------

    def hand_over(self, process):
        """What the next image of circusd needs to go on with ``process`` (:meth:`adopt`), as JSON."""
        carried = {"ready": bool(process.ready)}
        tracked = self._tracked.get(process.pid)
        if tracked is None:
            return carried
        carried.update(status=tracked.status, stopping=tracked.stopping)
        if not process.ready and not tracked.stopping:
            # What is left of its ready_timeout; 0 when it ran out (the kill is the new image's).
            if tracked.deadline is not None:
                left = tracked.deadline.when() - asyncio.get_running_loop().time()
            elif tracked.probe is not None:
                left = self.watcher.ready_timeout - process.age()
            else:
                left = 0.0
            carried["ready_left"] = max(left, 0.0)
        return carried

    def adopt(self, process, carried):
        """``process``, spawned by the image before, with what :meth:`hand_over` gave:
        ready or not as it was, what was left of its ready_timeout; its watchdog starts
        afresh. Without ``carried`` (an image that had no readiness) it is ready."""
        carried = carried or {}
        stopping = bool(carried.get("stopping"))
        ready = bool(carried.get("ready", True))
        tracked = self._watch(process, ready or stopping, float(carried.get("ready_left") or 0.0))
        if tracked is not None:
            tracked.status = carried.get("status")
            if stopping:
                self._stopping(tracked)

    def forget(self, pids):
        """The processes ``pids`` exited or are abandoned: drop their timers and probes."""
        for pid in pids:
            tracked = self._tracked.pop(pid, None)
            if tracked is not None:
                tracked.cancel()
                tracked.settle("exited before it was ready")

    # -- becoming ready ---------------------------------------------------------

    async def _probe(self, tracked, timeout):
        watcher, process = self.watcher, tracked.process
        try:
            if watcher.ready == "tcp":
                probe = readiness.tcp_probe(self.expand(watcher.ready_address, process))
            else:
                probe = readiness.http_probe(self.expand(watcher.ready_url, process))
        except ValueError as exc:
            self._not_ready(tracked, "bad ready address: %s" % exc)
            return
        alive = lambda: process.state is ProcessState.RUNNING  # noqa: E731
        try:
            reason = await readiness.wait_ready(probe, timeout, alive)
        except Exception as exc:  # e.g. a ready_url the HTTP client refuses
            reason = "probe failed: %s: %s" % (type(exc).__name__, exc)
        tracked.probe = None
        if reason is None:
            self._mark_ready(tracked)
        else:
            self._not_ready(tracked, reason)

    def expand(self, text, process):
        """``ready_address`` / ``ready_url`` for ``process``: ``$(circus.wid)``,
        ``$(circus.sockets.NAME)`` (that socket's host:port) and the other variables."""
        watcher = self.watcher
        sockets = {name: sock.location for name, sock in watcher.sockets.items()}
        return expand_command(text, wid=process.wid, sockets=sockets, watcher_vars=watcher._variables())

    def _mark_ready(self, tracked):
        process, watcher = tracked.process, self.watcher
        if process.ready or process.state is not ProcessState.RUNNING:
            return
        process.ready = True
        if tracked.deadline is not None:
            tracked.deadline.cancel()
            tracked.deadline = None
        tracked.settle(None)
        if process.age() >= watcher.min_uptime:
            watcher._starts.started_well(process.wid)
        logger.info("%s[%d] ready", watcher.name, process.pid)
        watcher.notify_event("ready", {"process_pid": process.pid, "time": time.time()})

    def _timed_out(self, tracked):
        tracked.deadline = None
        self._not_ready(tracked, "no READY=1 within %g s (ready_timeout)" % self.watcher.ready_timeout)

    def _not_ready(self, tracked, reason):
        process, watcher = tracked.process, self.watcher
        if process.ready or process.state is not ProcessState.RUNNING:
            return
        tracked.settle(reason)
        logger.warning("%s[%d] not ready: %s; killing it", watcher.name, process.pid, reason)
        watcher._tasks.spawn(self._failed_start(process, reason),
                             name="%s: not ready %d" % (watcher.name, process.pid))

    async def _failed_start(self, process, reason):
        """Kill a process that did not become ready; it counts as a failed start."""
        watcher = self.watcher
        async with watcher.turn():
            if process.state is not ProcessState.RUNNING:
                return  # stopped meanwhile (a stop, a rolling reload that gave up)
            await watcher._kill_process(process)
            if watcher.state is not WatcherState.ACTIVE:
                return
            if watcher._starts.count(process.wid, "not ready: %s" % reason, watcher.max_retry):
                await watcher.stop()
                return
            delay = watcher._starts.delay(process.wid)
        if delay:
            await asyncio.sleep(delay)
        await watcher.manage_processes()

    async def wait_ready(self, processes, timeout):
        """Wait until every one of ``processes`` is ready: None, or why one is not."""
        outcomes = {}
        for process in processes:
            tracked = self._tracked.get(process.pid)
            if tracked is None:
                return "process %d exited before it was ready" % process.pid
            outcomes[process.pid] = tracked.outcome
        try:
            async with asyncio.timeout(timeout + 1.0):
                for pid, outcome in outcomes.items():
                    reason = await asyncio.shield(outcome)
                    if reason is not None:
                        return "process %d not ready: %s" % (pid, reason)
        except TimeoutError:
            return "not ready within %g s (ready_timeout)" % timeout
        return None

    # -- the watchdog -----------------------------------------------------------

    def _starved(self, tracked, reason=None):
        tracked.watchdog = None
        process, watcher = tracked.process, self.watcher
        if process.state is not ProcessState.RUNNING:
            return
        reason = reason or "no WATCHDOG=1 for %g s (watchdog_sec)" % watcher.watchdog_sec
        logger.warning("%s[%d] unhealthy: %s; replacing it", watcher.name, process.pid, reason)
        watcher.notify_event("unhealthy", {"process_pid": process.pid, "time": time.time(), "reason": reason})
        watcher._tasks.spawn(self._replace(process), name="%s: unhealthy %d" % (watcher.name, process.pid))

    async def _replace(self, process):
        watcher = self.watcher
        async with watcher.turn():
            if process.state is ProcessState.RUNNING:
                await watcher._kill_process(process)
                if watcher.state is WatcherState.ACTIVE:
                    await watcher._manage()

    def _fed(self, tracked):
        if tracked.watchdog is not None:
            tracked.watchdog.cancel()
            loop = asyncio.get_running_loop()
            tracked.watchdog = loop.call_later(self.watcher.watchdog_sec, self._starved, tracked)

    # -- messages ---------------------------------------------------------------

    def on_message(self, process, fields):
        """A datagram ``process`` sent to the notify socket (see :class:`NotifyRouter`)."""
        tracked = self._tracked.get(process.pid)
        if tracked is None or process.state is not ProcessState.RUNNING:
            logger.debug("%s[%d]: notify message while stopping, ignored: %r", self.watcher.name, process.pid, fields)
            return
        if "STATUS" in fields:
            tracked.status = fields["STATUS"]
        if fields.get("READY") == "1" and self.watcher.ready == "notify":
            self._mark_ready(tracked)
        if fields.get("WATCHDOG") == "1":
            self._fed(tracked)
        elif fields.get("WATCHDOG") == "trigger" and tracked.watchdog is not None:
            tracked.watchdog.cancel()
            self._starved(tracked, "it sent WATCHDOG=trigger")
        if fields.get("STOPPING") == "1":
            self._stopping(tracked)
        if "EXTEND_TIMEOUT_USEC" in fields and tracked.deadline is not None:
            self._extend(tracked, fields["EXTEND_TIMEOUT_USEC"])

    @staticmethod
    def _stopping(tracked):
        # On its way out: not serving, and not to be killed as unhealthy.
        tracked.process.ready = False
        tracked.stopping = True
        tracked.cancel()

    def _extend(self, tracked, usec):
        try:
            extra = int(usec) / 1e6
        except ValueError:
            logger.debug("%s[%d]: bad EXTEND_TIMEOUT_USEC=%r ignored", self.watcher.name, tracked.process.pid, usec)
            return
        loop = asyncio.get_running_loop()
        if extra > tracked.deadline.when() - loop.time():
            tracked.deadline.cancel()
            tracked.deadline = loop.call_later(extra, self._timed_out, tracked)

    # -- what the replies show --------------------------------------------------

    def add_info(self, process, info):
        """``stats``: ``ready`` (and the latest ``STATUS=``) of a process, when readiness is set."""
        if self.configured:
            info["ready"] = bool(process.ready)
            tracked = self._tracked.get(process.pid)
            if tracked is not None and tracked.status is not None:
                info["notify_status"] = tracked.status

    def ready_map(self):
        """``{pid: ready}`` of the live processes."""
        return {pid: bool(p.ready) for pid, p in self.watcher.processes.items() if p.is_alive()}

    def not_ready(self):
        """The sorted pids of the running processes that are not ready."""
        return sorted(pid for pid, p in self.watcher.processes.items()
                      if p.state is ProcessState.RUNNING and not p.ready)


class NotifyRouter:
    """The arbiter's notify socket: opened on first use, messages routed by sender pid."""

    def __init__(self, arbiter):
        self.arbiter = arbiter
        self.server = None

    def socket_name(self):
        """The ``NOTIFY_SOCKET`` of circusd's workers (the socket opens on the first call)."""
        if self.server is None:
            server = NotifyServer(self._route)
            server.start(asyncio.get_running_loop())
            self.server = server
            logger.info("notify socket for the workers at %s", server.name)
        return self.server.name

    def hand_over(self):
        """``{"fd", "name"}`` of the open socket for the next image of circusd, or None."""
        if self.server is None:
            return None
        return {"fd": self.server.fileno(), "name": self.server.name}

    def take_over(self, carried):
        """Serve the socket :meth:`hand_over` gave (the workers keep their ``NOTIFY_SOCKET``)."""
        server = NotifyServer(self._route, carried["name"])
        server.start(asyncio.get_running_loop(), fd=carried["fd"])
        self.server = server
        logger.info("notify socket for the workers at %s, kept by the upgrade", server.name)

    def _route(self, pid, fields):
        for watcher in self.arbiter.watchers:
            process = watcher.processes.get(pid)
            if process is not None and watcher._health.uses_notify:
                watcher._health.on_message(process, fields)
                return
        logger.debug("notify socket: pid %d is no process of a notify watcher; ignored %r", pid, fields)

    def close(self):
        if self.server is not None:
            self.server.close()
            self.server = None
