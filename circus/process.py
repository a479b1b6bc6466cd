"""One supervised child process.

A Process spawns its command at construction (unless ``spawn=False``) in its
own session and process group, so that the whole group can be signalled and
nothing it forks outlives a stop. Its exit is reported by the arbiter's child
watcher through :meth:`Process.exited`; the return code is kept from the reap,
never asked of the kernel again.
"""

import asyncio
import logging
import os
import resource
import shlex
import signal
import subprocess
import time

import psutil

from circus import activation
from circus.childwatch import wait_gone
from circus.procinfo import child_pids, get_info, signal_pids
from circus.states import PROCESS_EDGES, ProcessState, check_edge
from circus.substitute import expand_command

logger = logging.getLogger("circus.process")

# After a stop_children stop, how long the descendants get to follow the worker at most.
LEFTOVERS_TIMEOUT = 1.0

# Status constants of the public API.
RUNNING = 0
DEAD_OR_ZOMBIE = 1
UNEXISTING = 2
OTHER = 3

_RLIMIT_INFINITY = resource.RLIM_INFINITY


def _rlimit_setter(rlimits):
    """A preexec function applying ``{'nofile': 1024, 'core': None}`` (None = unlimited)."""
    pairs = []
    for name, value in rlimits.items():
        res = getattr(resource, "RLIMIT_%s" % name.upper())
        if value is None:
            soft, hard = resource.getrlimit(res)
            value = hard if res == resource.RLIMIT_NOFILE else _RLIMIT_INFINITY
        pairs.append((res, (value, value)))

    def apply():
        for res, limits in pairs:
            resource.setrlimit(res, limits)

    return apply


def _supplementary_groups(uid, gid):
    """Groups of the user ``uid`` (as initgroups would set them)."""
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return [gid]
    return os.getgrouplist(name, gid)


class Process:
    """A child process of a watcher.

    ``sockets`` maps socket names to fds for ``$(circus.sockets.NAME)``;
    ``pass_fds`` are the fds the child keeps (``use_sockets``); every other fd
    but 0, 1 and 2 is closed in the child. With ``listen_fds`` (fds, in
    order) the child gets those at 3, 4, ... and its own pid in LISTEN_PID
    (``circus.activation``).
    """

    def __init__(
        self,
        name,
        wid=None,
        cmd=None,
        args=None,
        working_dir=None,
        shell=False,
        uid=None,
        gid=None,
        env=None,
        rlimits=None,
        executable=None,
        use_fds=False,
        watcher=None,
        spawn=True,
        pipe_stdout=False,
        pipe_stderr=False,
        close_child_stdin=True,
        close_child_stdout=False,
        close_child_stderr=False,
        shell_args=None,
        umask=None,
        sockets=None,
        pass_fds=(),
        stdin_fd=None,
        variables=None,
        listen_fds=None,
    ):
        """``Process(name, wid, cmd)`` as a watcher builds it; also the manual's
        shorter ``Process(wid, cmd)`` and ``Process(cmd)`` (wid 1), whose name
        is the basename of the program."""
        if cmd is None:
            name, wid, cmd = _short_form(name, wid)
        self.name = name
        self.wid = wid
        self.cmd = cmd
        self.args = args
        self.working_dir = working_dir or os.getcwd()
        self.shell = shell
        self.shell_args = shell_args
        self.uid = uid
        self.gid = gid
        self.env = env
        self.rlimits = rlimits or {}
        self.executable = executable
        self.use_fds = use_fds
        self.watcher = watcher
        self.pipe_stdout = pipe_stdout
        self.pipe_stderr = pipe_stderr
        self.close_child_stdin = close_child_stdin
        self.close_child_stdout = close_child_stdout
        self.close_child_stderr = close_child_stderr
        self.umask = umask
        self.sockets = sockets or {}
        self.pass_fds = tuple(pass_fds)
        self.stdin_fd = stdin_fd
        self.variables = variables or {}
        self.listen_fds = listen_fds
        self.state = ProcessState.RUNNING
        self.ready = True  # really up (see circus.health): a watcher with readiness sets it later
        self.exit_code = None
        self.started = None
        self.stopped_at = None
        self._popen = None
        self._psutil = None
        self._exit = None  # future of the exit code, made by the first wait()
        if spawn:
            self.spawn()

    # -- spawning -----------------------------------------------------------

    def format_args(self):
        """The argv to execute, with every ``$(circus.*)`` variable substituted."""

        def expand(text):
            if "$" not in text and "((" not in text:
                return text
            return expand_command(
                text, wid=self.wid, sockets=self.sockets, watcher_vars=self.variables
            )

        cmd = expand(self.cmd)
        if isinstance(self.args, (list, tuple)):
            extra = [expand(str(arg)) for arg in self.args]
        elif self.args:
            extra = shlex.split(expand(self.args))
        else:
            extra = []
        if self.shell:
            # The shell gets the whole command line, operators included.
            line = " ".join([cmd] + [shlex.quote(arg) for arg in extra])
            argv = ["/bin/sh", "-c", line]
            if self.shell_args:
                argv += shlex.split(expand(self.shell_args))
            return argv
        return shlex.split(cmd) + extra

    def spawn(self):
        """Start the child; raises OSError (or ValueError) when it cannot be executed."""
        argv = command = self.format_args()
        if not argv:
            raise ValueError("empty command")
        executable = self.executable
        if self.listen_fds is not None:
            argv, executable = activation.worker_argv(argv, self.listen_fds, executable), None
        kwargs = dict(
            executable=executable,
            cwd=self.working_dir,
            env=self.env,
            start_new_session=True,
            close_fds=True,
            pass_fds=self.pass_fds,
        )
        if self.stdin_fd is not None:
            kwargs["stdin"] = self.stdin_fd
        elif self.close_child_stdin:
            kwargs["stdin"] = subprocess.DEVNULL
        kwargs["stdout"] = self._output_target(self.pipe_stdout, self.close_child_stdout)
        kwargs["stderr"] = self._output_target(self.pipe_stderr, self.close_child_stderr)
        if self.umask is not None:
            kwargs["umask"] = self.umask
        if self.rlimits:
            kwargs["preexec_fn"] = _rlimit_setter(self.rlimits)
        self._add_identity(kwargs)
        self._popen = subprocess.Popen(argv, **kwargs)
        self.started = time.time()
        logger.debug("%s[%d] spawned: %s", self.name, self.pid, " ".join(command))

    @staticmethod
    def _output_target(pipe, close):
        if pipe:
            return subprocess.PIPE
        if close:
            return subprocess.DEVNULL
        return None

    def _add_identity(self, kwargs):
        # Privileges are only dropped when they differ from ours (0.19 skips 0).
        gid = self.gid
        if self.uid is not None and self.uid != os.geteuid():
            if gid is None:
                import pwd

                gid = pwd.getpwuid(self.uid).pw_gid
            kwargs["extra_groups"] = _supplementary_groups(self.uid, gid)
            kwargs["user"] = self.uid
        if gid is not None and gid != os.getegid():
            kwargs["group"] = gid

    @classmethod
    def adopt(cls, watcher, wid, pid, started, stdout=None, stderr=None):
        """A Process for child ``pid`` that an earlier image of circusd spawned
        (``circus.upgrade``): nothing is spawned; ``stdout``/``stderr`` are the
        read ends of its pipes (file objects) or None."""
        process = cls(watcher.name, wid, watcher.cmd, args=watcher.args, watcher=watcher, spawn=False)
        process._popen = _AdoptedChild(pid, stdout, stderr)
        process.started = started
        return process

    # -- life ---------------------------------------------------------------

    @property
    def pid(self):
        return self._popen.pid if self._popen else None

    @property
    def stdout(self):
        return self._popen.stdout if self._popen else None

    @property
    def stderr(self):
        return self._popen.stderr if self._popen else None

    def set_state(self, new):
        check_edge(PROCESS_EDGES, self.state, new)
        self.state = new

    def exited(self, exit_code):
        """Record the reap: called by the watcher when the child watcher reports it."""
        self.exit_code = exit_code
        self.stopped_at = time.time()
        if self.state is not ProcessState.EXITED:
            self.set_state(ProcessState.EXITED)  # RUNNING|STOPPING -> EXITED
        if self._popen is not None:
            # The child was reaped by the child watcher, not by Popen.
            self._popen.returncode = exit_code if exit_code is not None else 0
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(exit_code)

    async def wait(self, timeout=None):
        """The exit code, once the exit is reported (:meth:`exited`); TimeoutError after ``timeout`` s."""
        if self.state is ProcessState.EXITED:
            return self.exit_code
        if self._exit is None:
            self._exit = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(timeout):
            return await asyncio.shield(self._exit)

    @property
    def status(self):
        if self.state is ProcessState.EXITED:
            return DEAD_OR_ZOMBIE
        try:
            status = self._proc().status()
        except psutil.NoSuchProcess:
            return UNEXISTING
        if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return DEAD_OR_ZOMBIE
        return RUNNING

    def is_alive(self):
        return self.poll() is None and self.state is not ProcessState.EXITED

    def returncode(self):
        return self.exit_code

    def poll(self):
        """The exit code once the process was reaped, else None.

        A watcher's process is reaped by the arbiter's child watcher; one
        made on its own (``Process('top')``) is reaped here, so that
        polling it leaves no zombie.
        """
        if self.exit_code is None and self.watcher is None and self._popen is not None:
            code = self._popen.poll()
            if code is not None:
                self.exited(code)
        return self.exit_code

    def age(self):
        if self.started is None:
            return 0
        return time.time() - self.started

    def _proc(self):
        if self._psutil is None:
            self._psutil = psutil.Process(self.pid)
        return self._psutil

    # -- signals ------------------------------------------------------------

    def send_signal(self, sig):
        """Signal the process; a process already reaped is left alone."""
        if not self.is_alive():
            return
        logger.debug("%s[%d] <- %s", self.name, self.pid, _signame(sig))
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill_group(self, sig=signal.SIGKILL):
        """Signal the process group the child leads (its descendants that kept it)."""
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def children(self, recursive=False):
        if not self.is_alive():
            return []
        return child_pids(self.pid, recursive=recursive)

    def is_child(self, pid):
        return pid in self.children()

    def send_signal_child(self, pid, sig):
        if not self.is_child(pid):
            raise psutil.NoSuchProcess(pid)
        os.kill(pid, sig)

    def send_signal_children(self, sig, recursive=False):
        signal_pids(self.children(recursive=recursive), sig)

    def stop(self):
        """Terminate the child if it is still alive."""
        self.send_signal(signal.SIGTERM)

    async def end(self, sig=signal.SIGTERM, timeout=0.0, *, deliver=None, children=False):
        """Stop the child: ``sig``, ``timeout`` seconds to exit, then SIGKILL; its exit code.

        ``deliver(sig)`` sends a signal to the child (default
        :meth:`send_signal`; a watcher's goes through its signal hooks).
        The SIGKILL also reaches the child's process group and descendants.
        With ``children`` (stop_children) the descendants get ``sig`` too,
        and once the child is gone those left are made to follow it.
        A child being ended already is only waited for.
        """
        if self.state is not ProcessState.RUNNING:
            return await self.wait()
        self.set_state(ProcessState.STOPPING)  # RUNNING -> STOPPING
        deliver = deliver or self.send_signal
        family = set(self.children(recursive=True)) if children else set()
        _signal_all(deliver, self, sig, family)
        try:
            code = await self.wait(timeout)
        except TimeoutError:
            logger.warning("%s[%d] still alive after %ss, sending SIGKILL", self.name, self.pid, timeout)
            family |= set(self.children(recursive=True))
            _signal_all(deliver, self, signal.SIGKILL, family)
            code = await self.wait()
        if children:
            self.kill_group(sig)
            left = await wait_gone(family, timeout=min(timeout, LEFTOVERS_TIMEOUT))
            self.kill_group(signal.SIGKILL)
            signal_pids(left, signal.SIGKILL)
        return code

    # -- information --------------------------------------------------------

    def info(self):
        if not self.is_alive():
            return "No such process (stopped?)"
        try:
            info = get_info(self._proc())
        except psutil.NoSuchProcess:
            return "No such process (stopped?)"
        info["age"] = self.age()
        info["started"] = self.started
        info["wid"] = self.wid
        return info

    def __lt__(self, other):
        return self.started < other.started

    def __gt__(self, other):
        return self.started > other.started

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__

    def __repr__(self):
        return "<circus.Process %s[%s] wid=%s %s>" % (self.name, self.pid, self.wid, self.state)


class _AdoptedChild:
    """What a Process reads of its ``Popen`` (pid, pipes, returncode), for an adopted child."""

    def __init__(self, pid, stdout, stderr):
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = None

    def poll(self):
        return self.returncode


def _short_form(first, second):
    """``(name, wid, cmd)`` of ``Process(wid, cmd)``, or of ``Process(cmd)`` when ``second`` is None."""
    wid, cmd = (1, first) if second is None else (first, second)
    words = shlex.split(cmd) if isinstance(cmd, str) else []
    return (os.path.basename(words[0]) if words else cmd), wid, cmd


def _signal_all(deliver, process, sig, family):
    deliver(sig)
    if sig == signal.SIGKILL:
        process.kill_group(signal.SIGKILL)
    signal_pids(family, sig)


def _signame(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
