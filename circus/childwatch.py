"""Child exit as an event on the loop.

In the main thread a ``SIGCHLD`` handler reaps every exited child with
``waitpid(-1, WNOHANG)``: the pids a watcher owns are handed to it, any other
pid (a grandchild re-parented to circusd, the child subreaper) is reaped and
forgotten, so no zombie is ever left. Outside the main thread signal handlers
cannot be installed, so a pidfd per child wakes the loop and only that pid is
reaped, leaving the host program's own children alone.
"""

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import threading

logger = logging.getLogger("circus.childwatch")

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Make this process adopt the orphaned descendants of its children.

    Returns False where the kernel or libc does not offer it.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def decode_wait_status(status):
    """``waitpid`` status -> exit code, or minus the signal number."""
    return os.waitstatus_to_exitcode(status)


class ChildWatcher:
    """Calls ``callback(pid, exit_code)`` once for every watched pid that exits."""

    def __init__(self, loop=None):
        self._loop = loop or asyncio.get_event_loop()
        self._callbacks = {}
        self._pidfds = {}
        self._use_sigchld = threading.current_thread() is threading.main_thread()
        self._started = False

    @property
    def reaps_all_children(self):
        return self._use_sigchld

    def start(self):
        if self._started:
            return
        if self._use_sigchld:
            self._loop.add_signal_handler(signal.SIGCHLD, self.reap_all)
        self._started = True

    def stop(self):
        if self._use_sigchld and self._started:
            self._loop.remove_signal_handler(signal.SIGCHLD)
        for pid in list(self._pidfds):
            self._close_pidfd(pid)
        self._started = False

    def watch(self, pid, callback):
        """Register ``callback`` for ``pid``; call right after the spawn.

        The spawn and this call happen without yielding to the loop, so the
        SIGCHLD of an instantly dying child is handled after registration.
        """
        self._callbacks[pid] = callback
        if self._use_sigchld:
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._loop.call_soon(self._reap_one, pid)
            return
        self._pidfds[pid] = fd
        self._loop.add_reader(fd, self._reap_one, pid)

    def forget(self, pid):
        """Stop reporting ``pid`` (it is still reaped when it exits)."""
        self._callbacks.pop(pid, None)

    def reap_all(self):
        """Reap every exited child of this process."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._dispatch(pid, status)

    def _reap_one(self, pid):
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped elsewhere; the exit code is unknown.
            self._close_pidfd(pid)
            callback = self._callbacks.pop(pid, None)
            if callback is not None:
                callback(pid, None)
            return
        if reaped == pid:
            self._dispatch(pid, status)

    def _dispatch(self, pid, status):
        self._close_pidfd(pid)
        callback = self._callbacks.pop(pid, None)
        code = decode_wait_status(status)
        if callback is None:
            logger.debug("reaped pid %d (not a worker), exit code %s", pid, code)
            return
        try:
            callback(pid, code)
        except Exception:
            logger.exception("error while handling the exit of pid %d", pid)

    def _close_pidfd(self, pid):
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)


async def wait_gone(pids, timeout):
    """Wait until none of ``pids`` exists any more (any process, not only children).

    Returns the pids still alive when ``timeout`` expires.
    """
    loop = asyncio.get_running_loop()
    waiters = {}
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            continue
        future = loop.create_future()
        loop.add_reader(fd, _resolve, future)
        waiters[pid] = (fd, future)
    try:
        if waiters:
            await asyncio.wait([f for _, f in waiters.values()], timeout=timeout)
        return [pid for pid, (_, f) in waiters.items() if not f.done()]
    finally:
        for fd, _ in waiters.values():
            loop.remove_reader(fd)
            os.close(fd)


def _resolve(future):
    if not future.done():
        future.set_result(None)
