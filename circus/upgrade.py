"""Upgrading circusd in place: it re-executes itself on the code on disk and keeps its workers.

The model is systemd's daemon-reexec. ``exec`` keeps circusd's pid, so its
workers stay its children (``waitpid`` still works) and every fd without
close-on-exec survives. The old image (:func:`upgrade`, for the ``upgrade``
command and SIGUSR2):

1. runs the new code in a subprocess on the configuration file
   (``circusd --check-config``); a failure is refused with its output and
   nothing changes;
2. holds the arbiter (``exclusive("upgrade")``) and every watcher's turn, so
   no change is half made, lets the streams write what the pipes hold, and
   writes the state (:func:`capture`) to a private file: per watcher its
   processes (pid, wid, start time, kernel start time, the fds of the read
   ends of their pipes, their readiness: ``Health.hand_over``), the fds of
   the bound sockets, of the sockets circusd's own supervisor passed it and
   of the workers' notify socket (kept bound: its abstract address, in the
   workers' ``NOTIFY_SOCKET``, still reaches circusd); per watcher its log
   ring;
3. closes its ZeroMQ sockets (they cannot cross an exec: the new image binds
   the same endpoints again, clients reconnect), blocks the signals it
   handles until the new image has its handlers, and execs
   ``python -m circus.circusd ARGS --adopt-state FILE``.

The new image (:func:`claim`, :func:`prepare`, :func:`resume`) reads and
removes the file, builds the arbiter from the configuration the old image
ran (and the watchers ``add`` made from their options), puts the inherited
sockets in place of the configured ones, and for each watcher takes its
live processes back (``Process.adopt``) instead of spawning; the ordinary start then only
spawns what is missing. Children that exited meanwhile are reaped by the
sweep that follows and respawned as any dead worker. What cannot be taken
back is stopped, never left running unsupervised (:func:`abandon`).

This module works on the arbiter's and watchers' internals on purpose: it
is the one place that knows what an image hands to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import psutil

from circus import activation
from circus import options as option_table
from circus.exc import UpgradeRefused
from circus.process import Process
from circus.signals import HANDLED_SIGNALS
from circus.sockets import CircusSocket
from circus.states import WatcherState

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

logger = logging.getLogger("circus.upgrade")

VERSION = 1
CHECK_TIMEOUT = 60.0  # seconds the new code gets to read the configuration
OUTPUT_TAIL = 2000  # characters of the check's output in a refusal
# Signals the old image blocks before exec; the new image unblocks them once
# its handlers are installed, so none kills circusd in between.
HELD_SIGNALS = frozenset(HANDLED_SIGNALS) | {signal.SIGCHLD}
ABANDON_GRACE = 10.0  # seconds a process that cannot be taken back gets to stop


# -- the old image -------------------------------------------------------------


def check_argv(config_file: str) -> list[str]:
    """The command that loads the new code and checks ``config_file`` with it."""
    return [sys.executable, "-m", "circus.circusd", "--check-config", config_file]


async def preflight(arbiter: Arbiter) -> None:
    """Run :func:`check_argv`; raise UpgradeRefused with its output unless it passes.

    The check gets the sockets circusd's supervisor passed (``systemd =
    true``) the same way, at fds 3, 4, ...; it is a child of circusd: its
    exit is reported by the arbiter's child watcher (which reaps every
    child), not by ``subprocess``.
    """
    loop = asyncio.get_running_loop()
    exited: asyncio.Future = loop.create_future()

    def on_exit(pid, code):
        if not exited.done():
            exited.set_result(code)

    argv, env, passed = check_argv(os.path.abspath(str(arbiter.config_file))), None, activation.claim()
    if passed:
        argv = activation.worker_argv(argv, list(passed.values()))
        env = dict(os.environ, **activation.worker_env(list(passed)))
    child = subprocess.Popen(argv, env=env, pass_fds=list(passed.values()), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert arbiter.child_watcher is not None
    arbiter.child_watcher.watch(child.pid, on_exit)
    stdout = child.stdout
    assert stdout is not None

    def read_all():
        with stdout:  # closed by the thread reading it, also after a timeout
            return stdout.read()

    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            output = await loop.run_in_executor(None, read_all)
            code = await exited
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        raise UpgradeRefused("the new circusd did not check the configuration within %ss" % CHECK_TIMEOUT) from None
    if code != 0:
        text = output.decode("utf-8", "replace").strip()[-OUTPUT_TAIL:]
        raise UpgradeRefused("the new circusd refuses to start (exit code %s): %s" % (code, text))


def _pipe_fd(pipe) -> int | None:
    return None if pipe is None or pipe.closed else pipe.fileno()


def _process_state(watcher: Watcher, process: Process) -> dict[str, Any]:
    try:
        create_time = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = None
    return {"pid": process.pid, "wid": process.wid, "started": process.started, "create_time": create_time,
            "stdout": _pipe_fd(process.stdout), "stderr": _pipe_fd(process.stderr),
            "health": watcher._health.hand_over(process)}


def capture(arbiter: Arbiter) -> dict[str, Any]:
    """What the next image needs, as JSON-able data (see the module docstring)."""
    return {
        "version": VERSION,
        "pid": os.getpid(),
        "sockets": {name: {"fd": sock.fileno(), "ours": sock._bound_by == os.getpid()}
                    for name, sock in arbiter.sockets.items()},
        "activation": dict(activation.claim()),
        "notify": arbiter.notify.hand_over(),
        "spared": arbiter._orphans.spared,
        "config": _json_or_none(arbiter._cfg),
        "watchers": [
            {"name": w.name, "state": w.state.value, "armed": w._on_demand.armed, "numprocesses": w.numprocesses,
             "config": _json_or_none(w._cfg), "settings": settings(w),
             "ring": w._output.ring.hand_over() if w._output.ring is not None else None,
             "processes": [_process_state(w, p) for p in w.processes.values()]}
            for w in arbiter.watchers
        ],
    }


def settings(watcher: Watcher) -> dict[str, Any]:
    """The values of ``watcher`` that ``set`` can change (bar numprocesses, carried apart), as JSON."""
    found = {}
    for key, value in watcher.options():
        row = option_table.settable(key)
        if row is None or row.prefix or key == "numprocesses":
            continue
        value = _json_or_none(value)
        if value is not None:
            found[key] = value
    return found


def _keep_settings(watcher: Watcher, entry: dict[str, Any]) -> None:
    """Give ``watcher``, just built, the values ``set`` gave it in the old image."""
    fresh = settings(watcher)
    changed = {key: value for key, value in (entry.get("settings") or {}).items() if fresh.get(key) != value}
    for key, value in changed.items():
        try:
            watcher._apply_plan(watcher.check_options({key: value}))
        except Exception as exc:  # a value the new code no longer takes: the configured one stays
            logger.warning("upgrade: %s: %s = %r is not kept: %s", watcher.name, key, value, exc)
    if changed:
        logger.info("upgrade: %s keeps the values set at runtime: %s", watcher.name, ", ".join(sorted(changed)))


def _json_or_none(cfg: Any) -> Any:
    """``cfg`` if JSON can carry it as it is, else None (the new image reads the file)."""
    try:
        return json.loads(json.dumps(cfg)) if cfg is not None else None
    except (TypeError, ValueError):
        return None


def config_of(state: dict[str, Any], read: Any) -> dict[str, Any]:
    """The configuration the new image runs: the old image's (a file changed since is
    applied by a later ``reloadconfig``, as it would have been), else ``read()``."""
    return state.get("config") or read()


def kept_fds(state: dict[str, Any]) -> list[int]:
    """Every fd of ``state``: they must survive the exec."""
    fds = [entry["fd"] for entry in state["sockets"].values()] + list(state["activation"].values())
    if state.get("notify"):
        fds.append(state["notify"]["fd"])
    for watcher in state["watchers"]:
        for process in watcher["processes"]:
            fds += [fd for fd in (process["stdout"], process["stderr"]) if fd is not None]
    return fds


def write_state(state: dict[str, Any]) -> str:
    """Write ``state`` to a new private file; its path."""
    fd, path = tempfile.mkstemp(prefix="circusd-upgrade-%d-" % os.getpid(), suffix=".json")
    with os.fdopen(fd, "w") as out:
        json.dump(state, out)
    return path


def exec_argv(argv: list[str], state_path: str) -> list[str]:
    """circusd's own arguments ``argv`` for the new image: no second detach, the state file."""
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--adopt-state":
            skip = True
        elif arg != "--daemon" and not arg.startswith("--adopt-state="):
            args.append(arg)
    return [sys.executable, "-m", "circus.circusd", *args, "--adopt-state", state_path]


async def upgrade(arbiter: Arbiter) -> None:
    """Check the new code, then re-execute circusd on it, keeping every worker.

    Returns only by raising UpgradeRefused: the check failed, circusd is
    stopping, or the exec itself failed (circusd then goes on as it was,
    its control socket bound again). A request waiting for its reply gets
    it when the control socket closes, just before the exec.
    """
    if not arbiter.config_file:
        raise UpgradeRefused("circusd was not started on a configuration file: the new image would have none")
    if arbiter.child_watcher is None or not arbiter.child_watcher.reaps_all_children:
        raise UpgradeRefused("this arbiter runs inside another program: only circusd can re-execute itself")
    async with arbiter.exclusive("upgrade"):
        _refuse_if_stopping(arbiter)
        await preflight(arbiter)
        async with contextlib.AsyncExitStack() as turns:
            for watcher in arbiter.watchers:
                await turns.enter_async_context(watcher.turn())
            # A stop asked meanwhile waits for this change: it would be lost in the exec.
            _refuse_if_stopping(arbiter)
            await _reexec(arbiter)


def _refuse_if_stopping(arbiter: Arbiter) -> None:
    if arbiter._stopping:
        raise UpgradeRefused("circusd is stopping")


async def _reexec(arbiter: Arbiter) -> None:
    """Hand everything over and exec; on an exec failure put the control plane back."""
    for watcher in arbiter.watchers:
        watcher._output.hand_over(watcher.pids)
    state = capture(arbiter)
    path = write_state(state)
    inheritable = {fd: os.get_inheritable(fd) for fd in kept_fds(state)}
    for fd in inheritable:
        os.set_inheritable(fd, True)
    argv = exec_argv(sys.argv[1:], path)
    logger.info("upgrade: re-executing circusd (pid %d) with %d process(es) to keep: %s",
                os.getpid(), sum(len(w["processes"]) for w in state["watchers"]), " ".join(argv))
    arbiter.supervisor.reloading()
    _close_control_plane(arbiter)
    for handler in logging.getLogger("circus").handlers:
        handler.flush()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        os.execve(sys.executable, argv, dict(os.environ, **arbiter.supervisor.environ))
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.unlink(path)
        for fd, was in inheritable.items():
            os.set_inheritable(fd, was)
        logger.error("upgrade: cannot execute %s: %s; circusd goes on unchanged", sys.executable, exc)
        if arbiter.curve is not None:
            await arbiter.curve.stopped()
        _reopen_control_plane(arbiter)
        for watcher in arbiter.watchers:
            watcher._output.open()
        raise UpgradeRefused("cannot execute %s: %s" % (sys.executable, exc)) from None


def _close_control_plane(arbiter: Arbiter) -> None:
    """Close the ZeroMQ sockets and the metrics server, letting the last reply and events leave."""
    if arbiter.ctrl is not None:
        arbiter.ctrl.stop()  # sends the reply of the request being served
    if arbiter._events is not None:
        arbiter._events.close()
        arbiter._events = None
    if arbiter._metrics is not None:
        arbiter._metrics.stop()
        arbiter._metrics = None
    if arbiter.curve is not None:
        arbiter.curve.stop()  # the ZAP gate's and the handshake watches' sockets: term() waits for them
    if arbiter._owns_context and arbiter.context is not None:
        arbiter.context.term()  # waits for the lingering messages
        arbiter.context = None


def _reopen_control_plane(arbiter: Arbiter) -> None:
    import zmq.asyncio

    from circus.controller import Controller
    from circus.observability import serve_arbiter
    from circus.publisher import EventPublisher

    if arbiter.context is None:
        arbiter.context = zmq.asyncio.Context()
    if arbiter.curve is not None:
        arbiter.curve.start(arbiter.context)
    arbiter._events = EventPublisher(arbiter.context, arbiter.pubsub_endpoint, curve=arbiter.curve)
    arbiter._metrics = serve_arbiter(arbiter, arbiter.metrics_endpoint)
    if arbiter.endpoint:
        arbiter.ctrl = Controller(arbiter, arbiter.endpoint, arbiter.context, endpoint_owner=arbiter.endpoint_owner,
                                  max_message_size=arbiter.max_message_size)
        arbiter._tasks.spawn(arbiter.ctrl.start(), name="controller after a failed upgrade")


# -- the new image -------------------------------------------------------------


def claim(path: str) -> dict[str, Any]:
    """Read and remove the state file the old image wrote; ValueError if unusable."""
    try:
        with open(path) as state_file:
            state = json.load(state_file)
    except (OSError, ValueError) as exc:
        raise ValueError("upgrade: cannot read the state %s: %s" % (path, exc)) from None
    with contextlib.suppress(OSError):
        os.unlink(path)
    if state.get("version") != VERSION or state.get("pid") != os.getpid():
        raise ValueError("upgrade: %s is not the state of this circusd (pid %d)" % (path, os.getpid()))
    for fd in kept_fds(state):
        with contextlib.suppress(OSError):
            os.set_inheritable(fd, False)
    activation.hand_over(state["activation"])
    return state


def prepare(arbiter: Arbiter, state: dict[str, Any]) -> None:
    """Put the inherited sockets in place of the configured ones (built, not bound)."""
    inherited = state["sockets"]
    for name, sock in list(arbiter.sockets.items()):
        entry = inherited.pop(name, None)
        if entry is not None:
            arbiter.sockets[name] = CircusSocket.inherited(sock, entry["fd"], entry["ours"])
            sock.close()
    for name, entry in inherited.items():
        logger.info("upgrade: socket %r is no longer in the configuration, closing it", name)
        os.close(entry["fd"])
    for entry in state["watchers"]:
        _add_runtime_watcher(arbiter, entry)
        with contextlib.suppress(KeyError):
            _keep_settings(arbiter.get_watcher(entry["name"]), entry)
    arbiter.adopting = state


def _add_runtime_watcher(arbiter: Arbiter, entry: dict[str, Any]) -> None:
    """Build again a watcher the configuration does not have (``add`` made it) from its options."""
    options = dict(entry.get("config") or {})
    try:
        arbiter.get_watcher(entry["name"])
        return
    except KeyError:
        pass
    if not options:
        return  # stopped by resume(): nothing to build it from
    try:
        arbiter.add_watcher(options.pop("name"), options.pop("cmd"), **options)
    except Exception:
        logger.exception("upgrade: cannot build watcher %r again; its processes are stopped", entry["name"])


def _same_process(entry: dict[str, Any]) -> bool:
    """True when ``entry``'s pid is still the child the old image spawned."""
    try:
        proc = psutil.Process(entry["pid"])
        return proc.ppid() == os.getpid() and abs(proc.create_time() - (entry["create_time"] or 0)) < 0.01
    except psutil.NoSuchProcess:
        return False


def _pipe(fd: int | None):
    return None if fd is None else os.fdopen(fd, "rb", buffering=0)


def _adopt_watcher(watcher: Watcher, entry: dict[str, Any]) -> None:
    """Make ``watcher`` active with the live processes of ``entry``, spawning nothing."""
    watcher.numprocesses = entry["numprocesses"]
    watcher._set_state(WatcherState.STARTING)  # STOPPED -> STARTING
    watcher._output.open()
    if watcher._output.ring is not None:
        watcher._output.ring.take_over(entry.get("ring"))
    watcher._starts.reset()
    for process in entry["processes"]:
        if not _same_process(process):
            logger.warning("upgrade: %s[%d] is gone, its slot is respawned", watcher.name, process["pid"])
            _close_pipes(process)
            continue
        watcher._table.adopt(Process.adopt(watcher, process["wid"], process["pid"], process["started"],
                                           _pipe(process["stdout"]), _pipe(process["stderr"])),
                             process.get("health"))
    watcher._set_state(WatcherState.ACTIVE)  # STARTING -> ACTIVE
    logger.info("%s: %d process(es) adopted after the upgrade", watcher.name, len(watcher.processes))


def _close_pipes(process: dict[str, Any]) -> None:
    for fd in (process["stdout"], process["stderr"]):
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def resume(arbiter: Arbiter) -> set[str]:
    """Adopt the processes of the state; the names of the watchers the old image had stopped.

    A watcher that cannot be taken back has its processes stopped and is
    started afresh; so are the processes of a watcher the configuration
    no longer has. Then the exits missed during the exec are reaped.
    """
    state = arbiter.adopting
    assert state is not None
    stopped: set[str] = set()
    # The start spared every child present, as if a host program's: they
    # are the old image's, orphans to stop included; only its spares stay.
    arbiter._orphans.forget_spared()
    arbiter._orphans.spare(state["spared"])
    try:
        if state.get("notify"):
            # Before any spawn: a new worker gets the address the adopted ones have.
            arbiter.notify.take_over(state["notify"])
        for entry in state["watchers"]:
            try:
                watcher = arbiter.get_watcher(entry["name"])
            except KeyError:
                logger.warning("upgrade: watcher %r is no longer in the configuration, stopping its processes",
                               entry["name"])
                _stop_leftovers(entry)
                continue
            if entry["state"] != WatcherState.ACTIVE.value:
                if not entry["armed"]:  # an armed on-demand watcher is armed again by its start
                    stopped.add(watcher.name)
                _stop_leftovers(entry)
                continue
            try:
                _adopt_watcher(watcher, entry)
            except Exception:
                logger.exception("upgrade: cannot take watcher %r back; its processes are stopped and it "
                                 "starts afresh", entry["name"])
                _forget(watcher)
                _stop_leftovers(entry)
        assert arbiter.child_watcher is not None
        arbiter.child_watcher.reap_all()
    finally:
        arbiter.adopting = None
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
    logger.info("upgrade: done, circusd %d supervises %d process(es)", os.getpid(), arbiter.numprocesses())
    return stopped


def _forget(watcher: Watcher) -> None:
    """Undo a half-made adoption: the watcher is stopped, its table empty."""
    watcher._table.let_go()
    watcher._output.close()
    watcher.state = WatcherState.STOPPED


def _stop_leftovers(entry: dict[str, Any]) -> None:
    """SIGTERM the process groups of ``entry`` still alive; they are reaped as any child."""
    for process in entry["processes"]:
        _close_pipes(process)
        if _same_process(process):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process["pid"], signal.SIGTERM)


def abandon(state: dict[str, Any]) -> None:
    """The new image cannot run: stop every process of ``state`` (SIGTERM, then SIGKILL), blocking."""
    pids = [p["pid"] for w in state["watchers"] for p in w["processes"] if _same_process(p)]
    if not pids:
        return
    logger.error("upgrade failed: stopping the %d process(es) circusd can no longer supervise: %s", len(pids), pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + ABANDON_GRACE
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _reap(pid)]
        time.sleep(0.05)  # nothing else runs: no loop, circusd is exiting
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reap(pid: int) -> bool:
    """True while child ``pid`` runs."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return False
