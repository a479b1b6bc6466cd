"""A watcher keeps ``numprocesses`` copies of one command alive.

Its life is a state machine (``circus.states.WatcherState``): every change goes
through :meth:`Watcher._set_state`, which checks the edge, logs it and
publishes the event. Changes to one watcher take turns (``Watcher.turn``,
re-entrant within the task holding it): a second change waits instead of
failing, while reads never take a turn. The parts around the state machine
live beside it: options (``circus.watcher_options``), hooks
(``circus.hooks``), output (``circus.stream.output``), the environment
(``circus.environment``), crash-loop counts (``circus.crashloop``), socket
handover (``circus.handover``), the process table (wids, registration,
reaping: ``circus.process_table``), on-demand start (``circus.on_demand``),
signals to the processes (``circus.process_signals``), the two ways a
reload replaces them (``circus.reloading``) and stopping one process
(``circus.process.Process.end``).
"""

import asyncio
import contextlib
import logging
import signal
import time

from circus import options as option_table
from circus import process_signals, reloading
from circus.crashloop import StartFailures, failed_start_reason
from circus.exc import ConflictError
from circus.handover import handing_over
from circus.health import Health
from circus.hooks import HookTable
from circus.on_demand import OnDemand
from circus.process_table import ProcessTable
from circus.states import WATCHER_EDGES, ProcessState, WatcherState, check_edge
from circus.stream.output import WatcherOutput
from circus.tasks import TaskSet
from circus.watcher_options import WatcherOptions, positional_options

logger = logging.getLogger("circus.watcher")

# How long a change waits for the one in progress, on top of 2 x graceful_timeout.
CHANGE_WAIT = 60.0


class Watcher(WatcherOptions):
    """N processes of one command. See spec/python-api.md §3 for the contract."""

    def __init__(self, name, cmd, args=None, *positional, **kwargs):
        kwargs.update(positional_options(positional, kwargs))
        prereload_fn = kwargs.pop("prereload_fn", None)
        loop = kwargs.pop("loop", None)
        hooks = kwargs.pop("hooks", None)
        stdout_stream = kwargs.pop("stdout_stream", None)
        stderr_stream = kwargs.pop("stderr_stream", None)
        self.name = name
        self.res_name = name.lower().replace(" ", "_")
        self.cmd = cmd
        self.args = args
        self.prereload_fn = prereload_fn
        self.loop = loop
        self.arbiter = None
        self._cfg: dict | None = None  # what load_from_config built it from
        self.sockets = {}
        self._table = ProcessTable(self)
        self.processes = self._table.processes
        self.state = WatcherState.STOPPED
        self.changing = asyncio.Lock()
        self._turn_owner = None  # the task holding changing (see turn)
        self._tasks = TaskSet("watcher %s" % name)
        self._options = {}
        self._apply_options(kwargs)
        self._hooks = HookTable(name)
        self.hooks = self._hooks.functions
        for hook_name, spec in (hooks or {}).items():
            self._hooks.set(hook_name, spec)
        self._starts = StartFailures(name, lambda: (self.respawn_delay, self.respawn_delay_max))
        self._health = Health(self)  # readiness and watchdog (circus.health)
        self._respawns = {}  # wid -> the task that will respawn that slot
        self._on_demand = OnDemand(self)
        self._variables_cache = None
        self._output = WatcherOutput(name, stdout_stream, stderr_stream, watcher=self)
        self._check()

    stdout_stream = property(lambda self: self._output.streams["stdout"])
    stderr_stream = property(lambda self: self._output.streams["stderr"])
    stdout_stream_conf = property(lambda self: self._output.confs["stdout"])
    stderr_stream_conf = property(lambda self: self._output.confs["stderr"])
    start_failures = property(lambda self: self._starts)  # counts (restarts, failures), delays
    log_ring = property(lambda self: self._output.ring)  # the latest output lines, for logs

    # -- options (the rest: circus.watcher_options) ---------------------------

    @classmethod
    def load_from_config(cls, config):
        """Build a watcher from a dict of the config loader (or of ``get_arbiter``)."""
        config = dict(config)
        name = config.pop("name")
        cmd = config.pop("cmd", None)
        watcher = cls(name, cmd, **config)
        watcher._cfg = dict(config, name=name, cmd=cmd)
        return watcher

    async def set_options(self, values):
        """Check every ``{key: json value}`` first, then apply them, then act once."""
        await self.apply_options(self.check_options(values))

    async def apply_options(self, plan):
        """Apply a plan of ``check_options`` in the watcher's turn, then act once."""
        async with self.turn():
            actions = self._apply_plan(plan)
            if self.state is not WatcherState.ACTIVE:
                return
            if option_table.Live.RELOAD in actions:
                await self.reload(graceful=True, sequential=False)
            elif option_table.Live.MANAGE in actions:
                await self._manage()

    # -- hooks --------------------------------------------------------------

    def call_hook(self, hook_name, **kwargs):
        """Run a hook (see :class:`circus.hooks.HookTable`); True when there is none."""
        kwargs.update(watcher=self, arbiter=self.arbiter, hook_name=hook_name)
        return self._hooks.call(hook_name, kwargs, self.hook_timeout, self.notify_event)

    # -- state --------------------------------------------------------------

    def _set_state(self, new):
        check_edge(WATCHER_EDGES, self.state, new)
        logger.debug("%s: %s -> %s", self.name, self.state, new)
        self.state = new

    def status(self):
        return self.state.value

    def is_stopped(self):
        return self.state is WatcherState.STOPPED

    def is_active(self):
        return self.state is WatcherState.ACTIVE

    def is_stopping(self):
        return self.state is WatcherState.STOPPING

    @property
    def pids(self):
        return sorted(self.processes)

    def _alive(self):
        """Processes that count towards numprocesses (not being stopped)."""
        return [p for p in self.processes.values() if p.state is ProcessState.RUNNING]

    def __len__(self):
        return len(self.processes)

    def __repr__(self):
        return "<circus.Watcher name=%s numprocesses=%d>" % (self.name, self.numprocesses)

    def notify_event(self, topic, msg):
        if self.arbiter is not None:
            self.arbiter.publish("watcher.%s.%s" % (self.res_name, topic), msg)

    # -- spawning -----------------------------------------------------------

    async def _spawn_process(self, wid=None):
        """Spawn one process in slot ``wid`` (default: the lowest free one).

        A fork/exec failure is a failed start (see ``circus.crashloop``):
        retried here after the slot's delay until ``max_retry`` failed starts
        in a row; then None is returned and the caller stops the watcher.
        With ``max_retry = -1`` one attempt is made here and the slot is
        handed to a background respawn, so that neither the start of the
        other watchers nor a stop waits on a command that can never run.
        The ``wid`` given is this method's to use, hand on or release.
        """
        wid = self._table.next_wid() if wid is None else wid
        if not self.call_hook("before_spawn"):
            self._table.release_wid(wid)
            return None
        while True:
            try:
                process = self._make_process(wid)
            except (OSError, ValueError, KeyError) as exc:
                logger.error("%s: cannot spawn %r: %s", self.name, self.cmd, exc)
                if self._starts.count(wid, "cannot spawn: %s" % exc, self.max_retry):
                    break
                if self.max_retry < 0:
                    self._respawn_later(wid)
                    return None
                await asyncio.sleep(self._starts.delay(wid))
                continue
            self._table.register(process)
            if not self.call_hook("after_spawn", pid=process.pid):
                await self._kill_process(process, sig=signal.SIGKILL, graceful_timeout=0)
                return None
            return process
        self._table.release_wid(wid)
        return None

    # -- crash-loop protection ----------------------------------------------

    def _gave_up(self):
        """True once ``max_retry`` failed starts in a row happened (until a start,
        or a process that lives ``min_uptime``)."""
        return self._starts.gave_up(self.max_retry)

    def _started_well(self, process):
        """``process`` outlived min_uptime: its slot and the watcher start over."""
        if process.state is ProcessState.RUNNING and process.ready:
            self._starts.started_well(process.wid)

    # -- the manual's spawn and reap methods ----------------------------------

    async def spawn_process(self):
        """Spawn one process: True when it runs, False when the watcher must be stopped."""
        async with self.turn():
            return await self._spawn_process() is not None

    async def spawn_processes(self):
        """Spawn until numprocesses run; the new pids, or None when spawning gave up."""
        async with self.turn():
            return await self._spawn_processes()

    async def _spawn_processes(self):
        """Spawn until numprocesses run; returns the new pids (or None on a give-up)."""
        started: list[int] = []
        while self._missing() > 0 and not self._gave_up():
            if started and self.warmup_delay > 0:
                await asyncio.sleep(self.warmup_delay)
                if self._missing() <= 0:
                    break
            pending = len(self._respawns)
            process = await self._spawn_process()
            if process is None:
                if len(self._respawns) > pending:
                    continue  # that slot now retries in the background
                return None
            started.append(process.pid)
        return started

    def _missing(self):
        """Processes to spawn now: slots waiting for a respawn are not missing."""
        return self.numprocesses - len(self._alive()) - len(self._respawns)

    # -- exits --------------------------------------------------------------

    def _exited(self, process, exit_code):
        """``process`` died unasked (see ``ProcessTable.on_exit``): respawn its slot, or stop."""
        # A death during STARTING is replaced too, once the start is over.
        respawning = self.respawn and self.state in (WatcherState.STARTING, WatcherState.ACTIVE)
        self._table.reap(process, keep_wid=respawning)
        if respawning:
            self._replace(process, exit_code)
        elif self.state is WatcherState.ACTIVE and not self.processes and not self.on_demand:
            self._tasks.spawn(self.stop(), name="%s: stop" % self.name)

    def _replace(self, process, exit_code):
        """Respawn the slot of ``process``, which circus did not ask to die."""
        reason = failed_start_reason(process.age(), exit_code, self.min_uptime)
        # Once given up, the first stop is on its way; another one is a no-op.
        if self._gave_up() or (reason is not None and self._starts.count(process.wid, reason, self.max_retry)):
            self._table.release_wid(process.wid)
            self._cancel_respawns()
            self._tasks.spawn(self.stop(), name="%s: stop" % self.name)
            return
        self._respawn_later(process.wid)

    def reap_processes(self):
        """Reap the processes of this watcher that exited and were not reported yet.

        The child watcher reports every exit as it happens, so this only
        catches up; it is here for code written for Circus, which polled.
        """
        self._table.reap_processes()

    def reap_process(self, pid, status=None):
        """Reap process ``pid`` of this watcher if it exited; ``status`` is a waitpid status already taken."""
        self._table.reap_process(pid, status)

    async def reap_and_manage_processes(self):
        """:meth:`reap_processes`, then :meth:`manage_processes`."""
        self.reap_processes()
        await self.manage_processes()

    def _respawn_later(self, wid):
        """Respawn slot ``wid`` (reserved, not free) at once or after its delay."""
        delay = self._starts.respawning(wid)
        self._respawns[wid] = self._tasks.spawn(self._respawn(wid, delay), name="%s: respawn %d" % (self.name, wid))

    async def _respawn(self, wid, delay):
        if delay:
            await asyncio.sleep(delay)
        async with self.turn():
            if self._respawns.get(wid) is not asyncio.current_task():
                return  # cancelled by a stop or a decrease, which freed the wid
            del self._respawns[wid]
            if self.state is not WatcherState.ACTIVE or not self.respawn or self._missing() <= 0:
                self._table.release_wid(wid)
                return
            if await self._spawn_process(wid) is None and wid not in self._respawns:
                await self.stop()  # gave up (max_retry or a hook said no)

    def _cancel_respawns(self, wids=None):
        """Drop the pending respawns of ``wids`` (default: all) and free their slots."""
        for wid in list(self._respawns if wids is None else wids):
            task = self._respawns.pop(wid)
            if task is not asyncio.current_task():
                task.cancel()
            self._table.release_wid(wid)

    def _recycle(self, process):
        async def recycle():
            async with self.turn():
                if process.state is ProcessState.RUNNING:
                    logger.info("%s[%d] reached max_age, recycling", self.name, process.pid)
                    await self._kill_process(process)
                    if self.state is WatcherState.ACTIVE:
                        await self._manage()

        self._tasks.spawn(recycle(), name="%s: recycle %d" % (self.name, process.pid))

    # -- stopping processes -------------------------------------------------

    def send_signal(self, pid, signum):
        """Signal one process through the before/after_signal hooks (SIGKILL always goes)."""
        process_signals.send_signal(self, pid, signum)

    def send_signal_child(self, pid, child_pid, signum):
        self.processes[pid].send_signal_child(child_pid, signum)

    def send_signal_children(self, pid, signum, recursive=False):
        self.processes[pid].send_signal_children(signum, recursive=recursive)

    def send_signal_processes(self, signum):
        for pid in self.pids:
            self.send_signal(pid, signum)

    async def _kill_process(self, process, sig=None, graceful_timeout=None):
        await process_signals.end_process(self, process, sig, graceful_timeout)

    # -- management ---------------------------------------------------------

    async def _manage(self, spawn=True):
        """Bring the number of running processes to numprocesses (only down, without ``spawn``).

        Slots waiting for their respawn count as running: a decrease drops
        their respawns first, and nothing here spawns in their place.
        """
        alive = self._alive()
        surplus = len(alive) + len(self._respawns) - self.numprocesses
        if surplus > 0 and self._respawns:
            dropped = sorted(self._respawns, reverse=True)[:surplus]
            self._cancel_respawns(dropped)
            surplus -= len(dropped)
        if surplus > 0:
            extra = sorted(alive)[:surplus]  # oldest go first
            await asyncio.gather(*(self._kill_process(p) for p in extra))
        elif spawn and self._missing() > 0:
            if await self._spawn_processes() is None and self.state is WatcherState.ACTIVE:
                logger.error("%s: cannot keep its processes running, stopping it", self.name)
                await self.stop()

    def needs_manage(self):
        """True when an active watcher runs more processes than it should, or fewer
        and replaces the processes that die (``respawn``)."""
        if self.state is not WatcherState.ACTIVE or self.changing.locked():
            return False
        missing = self._missing()
        return missing < 0 or (missing > 0 and self.respawn)

    async def manage_processes(self):
        """The periodic check: with ``respawn = false`` it never spawns."""
        async with self.turn():
            if self.state is WatcherState.ACTIVE:
                await self._manage(spawn=self.respawn)

    # -- public changes -----------------------------------------------------

    @contextlib.asynccontextmanager
    async def turn(self):
        """Hold ``changing`` for the block: wait for the change in progress, bounded.

        Re-entrant: the task holding the turn enters it again at once (a
        restart stops and starts in its own turn). The bound leaves room for
        the longest change a watcher makes (a stop that waits
        graceful_timeout for each batch of processes, a rolling reload); past
        it the change is refused with ConflictError.
        """
        task = asyncio.current_task()
        if self._turn_owner is task:
            yield
            return
        limit = CHANGE_WAIT + 2 * self.graceful_timeout + reloading.longest(self)
        try:
            await asyncio.wait_for(self.changing.acquire(), limit)
        except asyncio.TimeoutError:
            raise ConflictError(
                "watcher %r is still busy with another change after %ss; try again" % (self.name, limit)
            ) from None
        self._turn_owner = task
        try:
            yield
        finally:
            self._turn_owner = None
            self.changing.release()

    async def start(self):
        """Start the watcher; returns ``{'started': [pids], 'kept': [pids]}``.

        A stopped on-demand watcher only arms: it starts at the first
        connection to one of its sockets.
        """
        async with self.turn():
            if self.on_demand and self.state is WatcherState.STOPPED:
                self._on_demand.arm()
                return {"started": [], "kept": []}
            return await self._wake()

    async def _wake(self):
        """Start now, an on-demand watcher too (a connection came, or a reload)."""
        async with self.turn():
            if self.state is not WatcherState.STOPPED:
                kept = self.pids
                if self.state is WatcherState.ACTIVE:
                    await self._manage()
                return {"started": sorted(set(self.pids) - set(kept)), "kept": kept}
            self._on_demand.disarm()
            if not self.call_hook("before_start"):
                logger.info("%s: start aborted by before_start", self.name)
                return {"started": [], "kept": []}
            self._set_state(WatcherState.STARTING)  # STOPPED -> STARTING
            self._output.open()
            self._starts.reset()
            started = await self._spawn_processes()
            if started is None or (self.numprocesses and not self.processes and not self._respawns):
                logger.error("%s: could not start its processes", self.name)
                started = None
            if started is None or not self.call_hook("after_start"):
                await self.stop()
                return {"started": [], "kept": []}
            self._set_state(WatcherState.ACTIVE)  # STARTING -> ACTIVE
            logger.info("%s started", self.name)
            self.notify_event("start", {"time": time.time()})
            return {"started": sorted(started), "kept": []}

    async def stop(self):
        """Stop every process (graceful_timeout, then SIGKILL)."""
        async with self.turn():
            self._on_demand.disarm()
            if self.state is WatcherState.STOPPED:
                return None
            self._set_state(WatcherState.STOPPING)  # ACTIVE|STARTING -> STOPPING
            self.call_hook("before_stop")
            # Never the task running this stop (a respawn that gave up): it
            # would cancel itself and leave the watcher stuck in STOPPING.
            self._cancel_respawns()
            self._tasks.cancel()
            await asyncio.gather(*(self._kill_process(p) for p in list(self.processes.values())))
            self._output.close()
            self._set_state(WatcherState.STOPPED)  # STOPPING -> STOPPED
            logger.info("%s stopped", self.name)
            self.notify_event("stop", {"time": time.time()})
            self.call_hook("after_stop")
            return None

    async def abandon(self):
        """Stop acting on the processes and leave them running (``rm --nostop``); their pids.

        In the watcher's turn: pending respawns, recycles and changes are
        cancelled, the streams get what the pipes hold and are closed, the child
        watcher no longer reports the pids here, and the watcher forgets
        them: no hook or event concerns them any more.
        """
        async with self.turn():
            self._on_demand.disarm()
            self._cancel_respawns()
            self._tasks.cancel()
            pids = self._table.let_go()
            # What the pipes hold reaches the streams; a process left running
            # that writes there afterwards gets EPIPE, as when circusd exits.
            self._output.close()
            if self.state is WatcherState.ACTIVE:
                self._set_state(WatcherState.STOPPING)  # ACTIVE -> STOPPING
                self._set_state(WatcherState.STOPPED)  # STOPPING -> STOPPED
            logger.info("%s: left %d process(es) running: %s", self.name, len(pids), pids)
            return pids

    async def restart(self):
        """Stop then start; returns ``{'stopped', 'started', 'kept'}``.

        New connections to the sockets only this watcher serves wait for
        the new processes.
        """
        async with self.turn():
            stopped = self.pids
            with handing_over(self) as handover:
                await handover.drain(self.graceful_timeout)
                await self.stop()
            result = await self.start()
            return {"stopped": stopped, "started": result["started"], "kept": []}

    async def reload(self, graceful=True, sequential=False):
        """Replace the processes; returns ``{'stopped', 'started', 'kept'}``."""
        async with self.turn():
            if self.prereload_fn is not None:
                self.prereload_fn(self)
            if not graceful:
                return await self.restart()
            if self.state is WatcherState.STOPPED:
                result = await self._wake()
                return {"stopped": [], "started": result["started"], "kept": []}
            if self.state is not WatcherState.ACTIVE:
                return {"stopped": [], "started": [], "kept": self.pids}
            if self.send_hup:
                for process in self._alive():
                    process.send_signal(signal.SIGHUP)
                result = {"stopped": [], "started": [], "kept": self.pids}
            else:
                result = await reloading.graceful(self, sequential)
            self.notify_event("reload", {"time": time.time()})
            return result

    async def set_numprocesses(self, numprocesses):
        """Set the target count (floored at 0) and apply it; returns the new count."""
        return await self._change_numprocesses(lambda current: numprocesses)

    async def incr(self, nb=1):
        return await self._change_numprocesses(lambda current: current + nb)

    async def decr(self, nb=1):
        return await self._change_numprocesses(lambda current: current - nb)

    async def _change_numprocesses(self, compute):
        # The new count is computed inside the lock: queued changes add up.
        async with self.turn():
            numprocesses = max(0, int(compute(self.numprocesses)))
            option_table.check_singleton(self.name, self.singleton, numprocesses)
            self.numprocesses = numprocesses
            if self.state is WatcherState.ACTIVE:
                await self._manage()
            return self.numprocesses

    async def kill_process(self, process, stop_signal=None, graceful_timeout=None):
        """Stop one process gracefully; the watcher then replaces it."""
        await self._kill_process(process, sig=stop_signal, graceful_timeout=graceful_timeout)
        if self.state is WatcherState.ACTIVE and self.respawn:
            await self.manage_processes()

    async def kill_processes(self, stop_signal=None, graceful_timeout=None):
        await asyncio.gather(
            *(self.kill_process(p, stop_signal, graceful_timeout) for p in self._alive())
        )

    # -- information --------------------------------------------------------

    def info(self, extended=False):
        return {pid: self.process_info(pid, extended) for pid in self.pids}

    def process_info(self, pid, extended=False):
        """psutil figures of one process, with ``respawn_delay``: the seconds the
        latest respawn of its slot (wid) waited, 0 unless the slot keeps failing
        to start."""
        process = self.processes[pid]
        info = process.info()
        if isinstance(info, dict):
            info["respawn_delay"] = self._starts.delay(process.wid)
            self._health.add_info(process, info)
        if extended and isinstance(info, dict):
            # A failing extended_stats hook is reported as hook_failure; the
            # figures already gathered are still returned.
            self.call_hook("extended_stats", pid=pid, stats=info)
        return info
