"""A watcher's options: the constructor's arguments, ``options()``, ``get``, ``set``,
and the process they describe (``_make_process``).

Every key is a row of the option table (``circus.options``); a key the table
does not know is kept as a freeform option. A change is checked first
(``check_options`` gives a plan, nothing changed) and then applied, so that
applying cannot stop halfway; the watcher acts once on what the plan needs
(``Watcher.apply_options``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from circus import activation
from circus import options as option_table
from circus.convert import to_gid, to_signum, to_uid
from circus.environment import build_env
from circus.exc import MessageError
from circus.process import Process
from circus.states import WatcherState

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.health import Health
    from circus.hooks import HookTable
    from circus.sockets import CircusSocket
    from circus.stream.output import WatcherOutput


class OptionPlan(NamedTuple):
    """A checked change of options (see ``Watcher.check_options``)."""

    values: dict  # key -> checked value
    hooks: dict  # hook name -> (function, path, ignore_failure)
    streams: dict  # "stdout" / "stderr" -> (configuration, stream or None)


# The constructor's parameters after name, cmd and args in 0.19's order, for
# code that passes them by position (spec/python-api.md §3).
POSITIONAL_OPTIONS = (
    "numprocesses", "warmup_delay", "working_dir", "shell", "shell_args", "uid", "max_retry",
    "gid", "send_hup", "stop_signal", "stop_children", "env", "graceful_timeout", "prereload_fn",
    "rlimits", "executable", "stdout_stream", "stderr_stream", "priority", "loop", "singleton",
    "use_sockets", "copy_env", "copy_path", "max_age", "max_age_variance", "hooks", "respawn",
    "autostart", "on_demand", "virtualenv", "stdin_socket", "close_child_stdin",
    "close_child_stdout", "close_child_stderr", "virtualenv_py_ver",
)


def positional_options(values, given):
    """``{name: value}`` of the positional arguments; TypeError as Python would raise it."""
    if len(values) > len(POSITIONAL_OPTIONS):
        raise TypeError("Watcher() takes at most %d positional arguments" % (3 + len(POSITIONAL_OPTIONS)))
    named = dict(zip(POSITIONAL_OPTIONS, values))
    twice = sorted(set(named) & set(given))
    if twice:
        raise TypeError("Watcher() got multiple values for argument %r" % twice[0])
    return named


# Watcher rows the constructor takes apart instead of setting them as they come.
SET_APART = ("cmd", "args", "env", "hooks", "stdout_stream", "stderr_stream")


class OptionValues:
    """One attribute per watcher row of the option table, as ``_apply_options`` sets it.

    The declarations are for the type checker; the table stays the one
    place a key is declared: tests/unit/test_option_values.py checks that
    these are exactly the table's rows (minus ``SET_APART``) and that each
    default has the type declared here.
    """

    numprocesses: int
    warmup_delay: float
    executable: str | None
    working_dir: str | None
    shell: bool
    shell_args: str | None
    uid: int | None
    gid: int | None
    copy_env: bool
    copy_path: bool
    send_hup: bool
    stop_signal: int
    stop_children: bool
    max_retry: int
    min_uptime: float
    retry_in: float | None
    graceful_timeout: float
    priority: int
    singleton: bool
    use_sockets: bool
    on_demand: bool
    autostart: bool
    respawn: bool
    max_age: int
    max_age_variance: int
    virtualenv: str | None
    virtualenv_py_ver: str | None
    stdin_socket: str | None
    close_child_stdin: bool
    close_child_stdout: bool
    close_child_stderr: bool
    check_flapping: bool
    hook_timeout: float
    listen_fds: bool
    respawn_delay: float
    respawn_delay_max: float
    depends_on: list[str] | None
    log_buffer_size: int
    ready: str
    ready_address: str | None
    ready_url: str | None
    ready_timeout: float
    watchdog_sec: float
    reload_batch: int | str


class WatcherOptions(OptionValues):
    """The option half of :class:`circus.watcher.Watcher`."""

    # Set by Watcher.__init__ (before _apply_options for the first five).
    name: str
    cmd: str
    args: str | list[str] | None
    sockets: dict[str, CircusSocket]
    _options: dict[str, Any]
    arbiter: Arbiter | None
    state: WatcherState
    _hooks: HookTable
    _health: Health
    _output: WatcherOutput
    _variables_cache: dict[str, Any] | None
    notify_event: Callable[[str, dict], None]
    # Set here: env is built from the [env] given (_raw_env) and the copy_* options.
    env: dict[str, str]
    _raw_env: dict[str, str]
    rlimits: dict[str, int | None]

    def _apply_options(self, given):
        defaults = option_table.defaults("watcher")
        for key in SET_APART:
            defaults.pop(key, None)
        for key, default in defaults.items():
            setattr(self, key, given.pop(key, default))
        self._raw_env = dict(given.pop("env", None) or {})
        self.rlimits = dict(given.pop("rlimits", None) or {})
        for key in [k for k in given if k.startswith("rlimit_")]:
            self.rlimits[key[len("rlimit_"):]] = given.pop(key)
        self._options.update(given.pop("options", None) or {})
        self._options.update(given)
        self.stop_signal = to_signum(self.stop_signal)
        if self.uid is not None:
            self.uid = to_uid(self.uid)
        if self.gid is not None:
            self.gid = to_gid(self.gid)
        self.env = self._build_env()

    def _build_env(self):
        return build_env(self.name, self._raw_env, self.copy_env, self.copy_path,
                         self.virtualenv, self.virtualenv_py_ver)

    def _check(self):
        if not isinstance(self.cmd, str) or not self.cmd.strip():
            raise ValueError("watcher %r: cmd must be a non-empty string" % self.name)
        option_table.check_singleton(self.name, self.singleton, self.numprocesses)
        option_table.check_readiness(self.name, self.ready, self.ready_address, self.ready_url)
        if self.numprocesses < 0:
            raise ValueError("watcher %r: numprocesses must be >= 0" % self.name)

    def options(self):
        """Sorted ``(name, value)`` pairs of every option, freeform ones included."""
        result: dict[str, Any] = {}
        for key in option_table.defaults("watcher"):
            if key == "env":
                result[key] = self._raw_env
            elif hasattr(self, key):
                result[key] = getattr(self, key)
        result["cmd"] = self.cmd
        result["args"] = self.args
        result["stdout_stream_conf"] = self._output.confs["stdout"]
        result["stderr_stream_conf"] = self._output.confs["stderr"]
        for name, value in self.rlimits.items():
            result["rlimit_" + name] = value
        result.update(self._hooks.options())
        result.update(self._options)
        return sorted(result.items())

    def get_option(self, key):
        """The value of one option (freeform ones included); KeyError if unknown."""
        for name, value in self.options():
            if name == key:
                return value
        raise KeyError(key)

    def set_opt(self, key, value):
        """Check and apply one option; returns what it needs to take effect.

        A key the option table does not know is kept as a freeform option.
        Raises MessageError (nothing changed) as ``check_options`` does.
        """
        if option_table.lookup("watcher", key) is None:
            self._options[key] = value
            self.notify_event("updated", {"time": time.time()})
            return option_table.Live.NONE
        actions = self._apply_plan(self.check_options({key: value}))
        for live in (option_table.Live.RELOAD, option_table.Live.MANAGE):
            if live in actions:
                return live
        return option_table.Live.NONE

    def check_options(self, values):
        """The plan of a change: ``values`` ({key: JSON value}) checked, hooks imported, streams built.

        Changes nothing. Raises MessageError naming the first key that is
        unknown, read-only or mistyped, a hook that does not import or a
        stream that cannot be built: what can fail fails here, so applying
        the plan (``apply_options``) cannot stop halfway.
        """
        try:
            checked = option_table.check_settable(values)
            option_table.check_singleton(self.name, checked.get("singleton", self.singleton), checked.get("numprocesses", self.numprocesses))
            option_table.check_readiness(self.name, *(checked.get(k, getattr(self, k)) for k in ("ready", "ready_address", "ready_url")))
        except ValueError as exc:
            raise MessageError(str(exc)) from None
        hooks = {}
        try:
            for key, value in checked.items():
                if key == "hooks":
                    hooks.update({h: self._hooks.resolve(h, spec) for h, spec in value.items()})
                elif key.startswith("hooks."):
                    hooks[key[len("hooks."):]] = self._hooks.resolve(key[len("hooks."):], value)
            streams = self._output.plan(checked)
        except ValueError as exc:
            raise MessageError(str(exc)) from None
        return OptionPlan(checked, hooks, streams)

    def _apply_plan(self, plan):
        """Apply a plan of ``check_options``; the set of live actions it needs."""
        self._variables_cache = None
        actions = set()
        for key, value in plan.values.items():
            if not option_table.folded_family(key):  # hooks and streams: planned apart
                actions.add(self._apply_value(key, value))
        for hook_name, resolved in plan.hooks.items():
            self._hooks.store(hook_name, *resolved)
        running = self.state is not WatcherState.STOPPED
        for name, (conf, stream) in plan.streams.items():
            if self._output.swap(name, conf, stream, running):
                actions.add(option_table.Live.RELOAD)
        for key in plan.values:
            self.notify_event("updated", {"time": time.time()})
        return actions

    def _apply_value(self, key, value):
        """Apply one checked option that is neither a hook nor a stream."""
        row = option_table.settable(key)
        assert row is not None, "check_options let only settable keys through"
        if key == "env":
            self._raw_env = dict(value)
            self.env = self._build_env()
        elif key.startswith("rlimit_"):
            self.rlimits[key[len("rlimit_"):]] = value
        elif key == "stop_signal":
            self.stop_signal = to_signum(value)
        elif key in ("uid", "gid"):
            setattr(self, key, None if value is None else (to_uid if key == "uid" else to_gid)(value))
        else:
            setattr(self, key, value)
        return row.live

    # -- what the options give a process --------------------------------------

    def socket_names(self):
        """Names of the circus sockets this watcher's command refers to, in the
        order it names them; none named and ``use_sockets`` or ``listen_fds``:
        every socket, by name (the order ``listen_fds`` hands them over in)."""
        text = ("%s %s" % (self.cmd, self.args or "")).lower()
        found = {n: text.find("circus.sockets.%s" % n.lower()) for n in self.sockets}
        named = sorted((n for n, at in found.items() if at >= 0), key=found.__getitem__)
        if not named and (self.use_sockets or self.listen_fds):
            return sorted(self.sockets)
        return named

    def _socket_fds(self):
        """``({name: fd}, fds to keep, fresh sockets to close after the fork)``."""
        fds, fresh = {}, []
        for name in self.socket_names():
            sock = self.sockets[name]
            if getattr(sock, "so_reuseport", False):
                new = sock.bind_fresh()
                fresh.append(new)
                fds[name] = new.fileno()
            else:
                fds[name] = sock.fileno()
        return fds, fresh

    def _variables(self):
        """Watcher attributes for ``$(circus.<attr>)``; rebuilt after any option change."""
        if self._variables_cache is None:
            variables = {k: v for k, v in self.options() if k not in self._options}
            variables["env"] = self.env
            variables["name"] = self.name
            self._variables_cache = variables
        return self._variables_cache

    def _make_process(self, wid):
        fds, fresh = self._socket_fds()
        keep = list(fds.values()) if (self.use_sockets or fresh or self.listen_fds) else []
        env, listen = self.env, None
        if self.listen_fds:
            # The worker has the sockets at 3, 4, ... in socket_names() order,
            # and $(circus.sockets.NAME) says where.
            env = dict(self.env, **activation.worker_env(list(fds)))
            listen, fds = list(fds.values()), activation.worker_fds(list(fds))
        stdin_fd = None
        if self.stdin_socket:
            stdin_fd = self.sockets[self.stdin_socket].fileno()
        try:
            return Process(
                self.name,
                wid,
                self.cmd,
                args=self.args,
                working_dir=self.working_dir,
                shell=self.shell,
                shell_args=self.shell_args,
                uid=self.uid,
                gid=self.gid,
                env=self._health.environ(env),
                rlimits=self.rlimits,
                executable=self.executable,
                use_fds=self.use_sockets,
                watcher=self,
                close_child_stdin=self.close_child_stdin,
                close_child_stdout=self.close_child_stdout,
                close_child_stderr=self.close_child_stderr,
                pipe_stdout=self._output.pipes("stdout"),
                pipe_stderr=self._output.pipes("stderr"),
                sockets=fds,
                pass_fds=keep,
                stdin_fd=stdin_fd,
                variables=self._variables(),
                umask=self.arbiter.umask if self.arbiter is not None else None,
                listen_fds=listen,
            )
        finally:
            for sock in fresh:
                sock.close()
