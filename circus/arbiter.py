"""The arbiter owns the watchers, the sockets and the loop; it starts the event publisher and the controller."""

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import socket
import time

import zmq.asyncio

from circus import __version__
from circus import depends, up, upgrade
from circus import options as option_table
from circus.childwatch import ChildWatcher, become_subreaper
from circus.curve import CurveServer
from circus.environment import add_pythonpath_to_sys_path
from circus.exc import AlreadyExist, MessageError
from circus.health import NotifyRouter
from circus.helper_watchers import internal_watchers, settings_of
from circus.observability import serve_arbiter
from circus.orphans import Orphans
from circus.pidfile import Pidfile
from circus.publisher import EventPublisher
from circus.sdnotify import Supervisor
from circus.signals import SignalRouter
from circus.sockets import CircusSocket, CircusSockets
from circus.tasks import TaskSet
from circus.watcher import Watcher

logger = logging.getLogger("circus.arbiter")

DEFAULTS = option_table.defaults("circus")


class Arbiter:
    """Supervises watchers; see spec/python-api.md §2 for the contract."""

    def __init__(
        self,
        watchers,
        endpoint,
        pubsub_endpoint,
        check_delay=1.0,
        prereload_fn=None,
        context=None,
        loop=None,
        statsd=False,
        stats_endpoint=None,
        statsd_close_outputs=False,
        multicast_endpoint=None,
        plugins=None,
        sockets=None,
        warmup_delay=0,
        httpd=False,
        httpd_host="localhost",
        httpd_port=8080,
        httpd_close_outputs=False,
        debug=False,
        debug_gc=False,
        ssh_server=None,
        proc_name="circusd",
        pidfile=None,
        loglevel=None,
        logoutput=None,
        loggerconfig=None,
        fqdn_prefix=None,
        umask=None,
        endpoint_owner=None,
        max_message_size=DEFAULTS["max_message_size"],
        metrics_endpoint=None,
        curve_secret_key=None,
        curve_authorized_keys=None,
        curve_readonly_keys=None,
        httpd_auth=None,
        httpd_session_timeout=DEFAULTS["httpd_session_timeout"],
        httpd_certfile=None,
        httpd_keyfile=None,
    ):
        self.watchers: list[Watcher] = []
        self._watchers_by_name = {}
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.multicast_endpoint = multicast_endpoint
        self.stats_endpoint = stats_endpoint
        self.statsd = statsd
        self.statsd_close_outputs = statsd_close_outputs
        self.check_delay = check_delay
        self.warmup_delay = warmup_delay
        self.prereload_fn = prereload_fn
        self.context = context
        self.loop = loop
        self._given_loop = loop
        self.plugins = plugins or []
        self.httpd = httpd
        self.httpd_host = httpd_host
        self.httpd_port = httpd_port
        self.httpd_close_outputs = httpd_close_outputs
        self.debug = debug
        self.debug_gc = debug_gc
        self.ssh_server = ssh_server
        self.proc_name = proc_name
        self.pidfile = pidfile
        self.loglevel = loglevel
        self.logoutput = logoutput
        self.loggerconfig = loggerconfig
        self.umask = umask
        self.endpoint_owner = endpoint_owner
        self.max_message_size = max_message_size
        self.metrics_endpoint = metrics_endpoint
        self._metrics = None
        self.curve_secret_key, self.curve_authorized_keys = curve_secret_key, curve_authorized_keys
        self.curve_readonly_keys = curve_readonly_keys
        self.httpd_auth, self.httpd_session_timeout = httpd_auth, httpd_session_timeout
        self.httpd_certfile, self.httpd_keyfile = httpd_certfile, httpd_keyfile
        self.curve = CurveServer.of(self)  # None: Curve off; ValueError naming a bad key file
        self.init_mode = False  # circusd is a container's init (circus.pid1)
        self.adopting = None  # the state of an upgrade, until its processes are taken over (circus.upgrade)
        self.pid = os.getpid()
        fqdn = socket.getfqdn()
        self.fqdn = "%s@%s" % (fqdn_prefix, fqdn) if fqdn_prefix else fqdn
        self.sockets = CircusSockets(sockets or [])
        self.config_file = None
        self._cfg = None
        self.ctrl = None
        self._events = None
        self.child_watcher: ChildWatcher | None = None  # from start() on
        self._pidfile = None
        self._changing = asyncio.Lock()
        self._stopped = None
        self._started: asyncio.Event | None = None  # set when a start ends, however it ends
        self._running = False
        self._stopping = False
        self._check_task = None
        self._tasks = TaskSet("arbiter")
        self._signals = SignalRouter(self, self._tasks)
        self._owns_context = False
        self._orphans = Orphans()
        self.notify = NotifyRouter(self)  # the workers' NOTIFY_SOCKET (circus.health)
        self.changes = up.Changes()  # wakes waiters for a watcher to be up (each event)
        # circusd's own supervisor (systemd Type=notify); circusd sets it, a
        # program running an arbiter speaks to its own supervisor itself.
        self.supervisor = Supervisor(environ={})
        for watcher in watchers:
            self._register(watcher)
        if httpd:
            self.sockets.add(CircusSocket("circushttpd", host=httpd_host, port=httpd_port))
        for cfg in internal_watchers(settings_of(self), self.plugins):
            self._register(build_watcher(cfg))
        depends.start_order({w.name: depends.dependencies(w) for w in self.watchers})  # ValueError: unknown name, cycle

    # -- construction -------------------------------------------------------

    @classmethod
    def load_from_config(cls, config_file, loop=None):
        """Build an arbiter from an ini file (raises ConfigError on a bad file)."""
        from circus.config import get_config

        cfg = get_config(config_file)
        arbiter = cls.from_config(cfg, loop=loop)
        return arbiter

    @classmethod
    def from_config(cls, cfg, loop=None):
        """An arbiter from a ``config.get_config`` result: each [circus] key
        the constructor takes is passed to it."""
        params = inspect.signature(Arbiter.__init__).parameters
        arbiter = cls(
            [build_watcher(w) for w in cfg["watchers"]],
            loop=loop,
            plugins=cfg.get("plugins", []),
            sockets=[CircusSocket.load_from_config(s) for s in cfg["sockets"]],
            **{key: value for key, value in cfg["circus"].items() if key in params},
        )
        arbiter.config_file = cfg.get("config_file")
        arbiter._cfg = cfg
        return arbiter

    def _register(self, watcher):
        key = watcher.name.lower()
        if key in self._watchers_by_name:
            raise AlreadyExist("watcher %r already exists" % watcher.name)
        watcher.arbiter = self
        watcher.sockets = self.sockets
        self.watchers.append(watcher)
        self._watchers_by_name[key] = watcher

    def _unregister(self, watcher):
        self.watchers.remove(watcher)
        del self._watchers_by_name[watcher.name.lower()]

    # -- queries ------------------------------------------------------------

    @property
    def running(self):
        return self._running

    @property
    def endpoint_owner_mode(self):
        return bool(self.endpoint_owner) and str(self.endpoint).startswith("ipc://")

    def get_watcher(self, name):
        """The watcher called ``name`` (case-insensitive); KeyError if none."""
        return self._watchers_by_name[name.lower()]

    def iter_watchers(self, reverse=True):
        """Watchers by priority, highest first (``reverse=False``: lowest first)."""
        return sorted(self.watchers, key=lambda w: w.priority, reverse=reverse)

    def statuses(self):
        return {w.name: w.status() for w in self.watchers}

    def numprocesses(self):
        return sum(len(w) for w in self.watchers)

    def numwatchers(self):
        return len(self.watchers)

    def get_socket(self, name):
        return self.sockets.get(name)

    @property
    def evpub_socket(self):
        """The PUB socket of the event channel, None when the arbiter does not run."""
        return self._events.socket if self._events is not None else None

    def publish(self, topic, payload):
        """Send ``[topic, json]`` on the event channel; never blocks."""
        self.changes.happened()
        if self._events is not None:
            self._events.publish(topic, payload)

    # -- running ------------------------------------------------------------

    def start(self, cb=None):
        """Run the arbiter.

        Without an event loop running in this thread (and no ``loop`` given)
        this blocks until the arbiter stops. Otherwise it returns a coroutine
        that finishes once every watcher is started.
        """
        if self._given_loop is not None or _loop_running():
            return self._start(cb)
        return asyncio.run(self._run(cb))

    async def _run(self, cb=None):
        self._stopped = asyncio.Event()
        try:
            await self._start(cb)
        except BaseException:
            await self._emergency_stop()
            raise
        await self._stopped.wait()

    async def _start(self, cb=None):
        self._started = asyncio.Event()
        try:
            await self._start_all(cb)
        finally:
            self._started.set()

    def _starting(self):
        return self._started is not None and not self._started.is_set()

    @contextlib.asynccontextmanager
    async def exclusive(self, what):
        """Hold the arbiter for one arbiter-wide change: ``add``, ``rm``,
        ``reloadconfig``, ``reload`` or ``restart`` (every watcher) or ``quit``.

        Changes run one at a time, in the order they arrive: one that finds
        another in progress waits for its end (and logs that it waits), so
        none sees the watchers or sockets of a change half applied.
        """
        if self._changing.locked():
            logger.info("%s: another arbiter-wide change is in progress, waiting for it", what)
        async with self._changing:
            yield

    async def _start_all(self, cb=None):
        loop = self.loop = asyncio.get_running_loop()
        if self._stopped is None:
            self._stopped = asyncio.Event()
        self._changing = asyncio.Lock()
        if self.debug_gc:
            gc.set_debug(gc.DEBUG_LEAK)
        if self.umask is not None:
            os.umask(self.umask)
        if self.pidfile:
            self._pidfile = Pidfile(self.pidfile)
            self._pidfile.create()
        self._orphans.spare_present_children()
        self.child_watcher = ChildWatcher(loop)
        self.child_watcher.start()
        if self.child_watcher.reaps_all_children:
            become_subreaper()
            self._signals.install(loop)
        if self.context is None:
            self.context = zmq.asyncio.Context()
            self._owns_context = True
        if self.curve is not None:
            self.curve.start(self.context)
        self._events = EventPublisher(self.context, self.pubsub_endpoint, curve=self.curve)
        self.sockets.bind_and_listen_all()
        for sock in self.sockets.values():
            logger.info("socket %r listening at %s", sock.name, sock.location)
        if self.endpoint:
            from circus.controller import Controller

            self.ctrl = Controller(self, self.endpoint, self.context, endpoint_owner=self.endpoint_owner,
                                   max_message_size=self.max_message_size)
            await self.ctrl.start()
        self._metrics = serve_arbiter(self, self.metrics_endpoint)
        self._running = True
        logger.info("circusd %s arbiter started (pid %d)", __version__, self.pid)
        self.supervisor.start_watchdog(self._tasks)
        await self.start_watchers(upgrade.resume(self) if self.adopting else ())
        if not self._stopping:
            self._check_task = self._tasks.spawn(self._periodic_check(), name="periodic check")
            self.supervisor.ready(await self.autostart_watchers_up())
        if cb is not None:
            cb(self)

    async def _periodic_check(self):
        """Safety net: reap anything missed and bring watchers back to their count."""
        while True:
            await asyncio.sleep(self.check_delay)
            children = self.child_watcher
            if children is not None and children.reaps_all_children:
                children.reap_all()
            for watcher in self.watchers:
                if watcher.needs_manage():
                    self._tasks.spawn(watcher.manage_processes(), name="%s: manage" % watcher.name)

    async def start_watchers(self, skip=()):
        """Start every autostart watcher (but those named in ``skip``), highest
        priority first, each after the watchers it depends on are up (see
        circus.depends)."""
        started: list[Watcher] = []

        async def start(watcher):
            if not watcher.autostart or watcher.name in skip:
                return
            if started and self.warmup_delay > 0:
                await asyncio.sleep(self.warmup_delay)
                if self._stopping:
                    return  # the stop arrived during the warmup delay
            started.append(watcher)
            await watcher.start()

        # A stop arriving meanwhile: start nothing more.
        await depends.start_in_order(self.iter_watchers(), start, lambda: self._stopping)

    async def autostart_watchers_up(self):
        """Wait until every autostart watcher is up (or has given up: stopped,
        e.g. after max_retry); returns a one-line status.

        Called once :meth:`start_watchers` (or a reload) has returned, before
        circusd tells its supervisor it is ready; "up" is :mod:`circus.up`'s.
        """
        autostart = [w for w in self.watchers if w.autostart]
        await asyncio.gather(*(up.wait_until_up(w, lambda: self._stopping) for w in autostart))
        waiting = up.not_up(self)
        status = "%d of %d autostart watchers up, %d processes" % (
            len(autostart) - len(waiting), len(autostart), self.numprocesses())
        if waiting:
            status += "; not up: " + ", ".join("%s (%s)" % item for item in sorted(waiting.items()))
        return status

    async def stop_watchers(self):
        """Stop every watcher, lowest priority first (equal priorities together),
        dependants before the watchers they depend on."""
        await depends.stop_in_order(self.iter_watchers(), lambda watcher: watcher.stop())

    def stop(self):
        """Stop every watcher, close everything, end :meth:`start`; callable from anywhere.

        * On the arbiter's own loop (a command, a hook, a callback, a Python
          signal handler interrupting the loop) it returns the stopping task:
          await it to wait for the end; unawaited it still runs.
        * In another thread while the arbiter runs, it blocks until
          everything is stopped (or, in a thread running its own event loop,
          returns an awaitable of that).
        * When the arbiter does not run, as in the ``finally`` after a
          blocking :meth:`start` returned, it does nothing and returns None
          (an already finished awaitable inside a running loop).
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._running_loop()
        if running is not None and (loop is None or running is loop):
            task = self._tasks.spawn(self.shutdown(), name="shutdown")
            # A Python signal handler may have interrupted the loop's select:
            # a threadsafe call writes to its self-pipe and wakes it up.
            running.call_soon_threadsafe(_nothing)
            return task
        if loop is None:
            return None
        future = asyncio.run_coroutine_threadsafe(self.shutdown(), loop)
        if running is not None:
            return asyncio.wrap_future(future)
        future.result()
        return None

    def _running_loop(self):
        """The asyncio loop the arbiter runs on, None when it does not run."""
        loop = self.loop if self._running or self._starting() else None
        loop = getattr(loop, "asyncio_loop", loop)  # a tornado IOLoop given to the constructor
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        return loop

    async def shutdown(self):
        """What :meth:`stop` does, in the calling task, on the arbiter's loop.

        For code that awaits the end where it runs: the controller answers
        ``quit --waiting`` from the task of that request. During a start,
        nothing more is started and the stop follows once the start ended.
        """
        if self._stopping or not (self._running or self._starting()):
            return
        self._stopping = True
        self.supervisor.stopping()
        if not self._running:
            assert self._started is not None  # _starting() said so
            await self._started.wait()
            if not self._running:
                return  # the start failed: what it had started is stopped already
        async with self.exclusive("quit"):
            await self._shutdown()

    async def _shutdown(self):
        if self._check_task is not None:
            self._check_task.cancel()
        await self.stop_watchers()
        if self.child_watcher is not None and self.child_watcher.reaps_all_children:
            await self._orphans.stop(self.watchers, everyone=self.init_mode)
        self.supervisor.stop_watchdog()
        await self._tasks.cancel_all()
        if self.ctrl is not None:
            self.ctrl.stop()
        self._running = False
        self._close_resources()
        if self._stopped is not None:
            self._stopped.set()
        logger.info("arbiter stopped")

    def _close_resources(self):
        if self._events is not None:
            self._events.close()
            self._events = None
        if self.curve is not None:
            self.curve.stop()
        self.sockets.close_all()
        self.notify.close()
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self.child_watcher is not None:
            if self.child_watcher.reaps_all_children:
                self._signals.remove()
            self.child_watcher.stop()
        if self._owns_context:
            self.context.term()
            self.context = None
            self._owns_context = False
        if self._pidfile is not None:
            self._pidfile.unlink()

    async def _emergency_stop(self):
        """After a failed start: kill whatever was started, close what was opened."""
        for watcher in self.watchers:
            watcher.graceful_timeout = 0
            try:
                await watcher.stop()
            except Exception:
                logger.exception("%s: error during emergency stop", watcher.name)
        if self.ctrl is not None:
            self.ctrl.stop()
        self._running = False
        await self._tasks.cancel_all()
        self._close_resources()

    async def restart(self):
        """Stop and start every watcher; the configuration is not read again (see reload_from_config)."""
        async with self.exclusive("restart"):
            await self.stop_watchers()
            await self.start_watchers()

    async def reload(self, graceful=True, sequential=False):
        """Reload every watcher, highest priority first, as an arbiter-wide change.

        A rolling reload that fails (``circus.rolling.ReloadFailed``) does not
        keep the other watchers from reloading; the failures are raised at the end.
        """
        from circus.logsetup import reopen_log_files
        from circus.rolling import ReloadFailed

        failures = []
        async with self.exclusive("reload"), self.supervisor.reload(self.autostart_watchers_up):
            reopen_log_files()
            if self.prereload_fn is not None:
                self.prereload_fn(self)
            for watcher in self.iter_watchers():
                try:
                    await watcher.reload(graceful=graceful, sequential=sequential)
                except ReloadFailed as exc:
                    failures.append(str(exc))
        if failures:
            raise ReloadFailed("; ".join(failures))

    # -- watchers at runtime ------------------------------------------------

    def add_watcher(self, name, cmd, **options):
        """Create and register a watcher (not started); publishes ``add``.

        Not an exclusive change: for a program driving its own arbiter. The
        ``add`` command builds with :meth:`new_watcher` and adds with :meth:`add`.
        """
        watcher = self.new_watcher(name, cmd, **options)
        self._add_built(watcher)
        return watcher

    def new_watcher(self, name, cmd, **options):
        """A watcher built from ``add`` options, not registered; AlreadyExist if
        ``name`` is taken, ValueError if its ``depends_on`` names an unknown
        watcher or makes a cycle."""
        if name.lower() in self._watchers_by_name:
            raise AlreadyExist("watcher %r already exists" % name)
        depends.check_change(self.watchers, name, options.get("depends_on"))
        return build_watcher(dict(options, name=name, cmd=cmd))

    def add(self, watcher, start=False):
        """Register ``watcher`` (and start it if ``start``) as an arbiter-wide change.

        With no change in progress the watcher is registered before this
        returns, and the result is the start's awaitable (None without
        ``start``). Otherwise the result is an awaitable that waits for the
        change in progress, then registers and starts.
        """
        if not self._changing.locked():
            self._add_built(watcher)
            return watcher.start() if start else None
        return self._add_after_change(watcher, start)

    async def _add_after_change(self, watcher, start):
        async with self.exclusive("add"):
            self._add_built(watcher)
            if start:
                return await watcher.start()
        return None

    def _add_built(self, watcher):
        self._register(watcher)
        watcher.notify_event("add", {"time": time.time()})

    async def rm_watcher(self, name, nostop=False):
        """Unregister a watcher, publish ``remove``, then stop it unless ``nostop``.

        An arbiter-wide change: it waits for one in progress, and a stop of
        circusd waits for it, so the watcher's processes are gone before
        circusd exits.
        """
        async with self.exclusive("rm"):
            try:
                watcher = self.get_watcher(name)
            except KeyError:
                raise MessageError("program %s not found" % name) from None
            self._unregister(watcher)
            watcher.notify_event("remove", {"time": time.time()})
            if nostop:
                self._orphans.spare(await watcher.abandon())
                return
            await watcher.stop()

    # -- configuration reload -----------------------------------------------

    async def reload_from_config(self, config_file=None):
        """Re-read the config file and apply only the difference (see circus.config_reload).

        Everything that can fail happens before anything running is touched,
        so a bad file leaves the system exactly as it was.
        """
        from circus.config_reload import reload_from_config

        async with self.supervisor.reload(self.autostart_watchers_up):
            return await reload_from_config(self, config_file)


def build_watcher(cfg):
    """A Watcher from one watcher dict of the config loader."""
    cfg = dict(cfg)
    add_pythonpath_to_sys_path(cfg.get("env"))
    watcher = Watcher.load_from_config(cfg)
    return watcher


def _nothing():
    """A no-op callback, scheduled only to wake a loop up."""


def _loop_running():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def __getattr__(name):
    """``circus.arbiter.ThreadedArbiter``, a public name since Circus, lives in circus.threaded.

    Imported on first use: circus.threaded imports this module.
    """
    if name == "ThreadedArbiter":
        from circus.threaded import ThreadedArbiter

        return ThreadedArbiter
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
