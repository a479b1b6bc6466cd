"""Processes a test started: alive or not, and the ones it left behind.

Every circusd a test starts, and every worker circus starts, leads a
session (and process group) of its own, so a sweep kills by process group:
that also takes the processes forked after the last look at the tree.
"""

import os
import signal
import threading

import psutil

from .polling import until


def pid_alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def live_pids(watcher):
    """Pids of a watcher's processes that are alive (not zombies), sorted."""
    return sorted(pid for pid in list(watcher.processes) if pid_alive(pid))


def group_members(pgid):
    """Pids of the live (not zombie) processes of process group ``pgid``."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (OSError, psutil.Error):
            pass  # gone meanwhile
    return found


def kill_groups(pgids, timeout=10):
    """SIGKILL every process group of ``pgids`` (but ours) and wait until none of their processes is alive."""
    pgids = set(pgids) - {os.getpgid(0)}
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # nobody left in it
    until(lambda: not any(group_members(pgid) for pgid in pgids), timeout,
          what=lambda: "the killed process groups to be empty: %s" % {g: group_members(g) for g in pgids})


class ProcessTracker:
    """Samples the descendants of some root pids in a thread, remembering each.

    A process is identified by ``(pid, create_time)`` so that a reused pid is
    not mistaken for a leftover, and remembered with its process group.
    ``leftovers()`` lists the remembered processes still alive;
    ``kill_leftovers()`` kills their groups and waits until they are dead.
    """

    def __init__(self, interval=0.02):
        self.interval = interval
        self.roots = set()
        self.seen = {}  # (pid, create_time) -> cmdline
        self.groups = {}  # (pid, create_time) -> process group
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="process-tracker", daemon=True)
        self._thread.start()

    def add_root(self, pid):
        with self._lock:
            self.roots.add(pid)
        self.sample()

    def _remember(self, proc):
        try:
            key = (proc.pid, proc.create_time())
            if key not in self.seen:
                self.groups[key] = os.getpgid(proc.pid)
                self.seen[key] = " ".join(proc.cmdline())[:200]
        except (OSError, psutil.Error):
            pass  # gone meanwhile

    def sample(self):
        """Record the current descendants of every root (and the roots)."""
        with self._lock:
            for root in list(self.roots):
                try:
                    top = psutil.Process(root)
                    family = [top] if root != os.getpid() else []
                    family += top.children(recursive=True)
                except psutil.Error:
                    continue
                for proc in family:
                    self._remember(proc)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def leftovers(self):
        """Remembered processes that are still alive (zombies count as gone)."""
        return [(pid, cmdline) for (pid, _), cmdline in self._alive()]

    def _alive(self):
        alive = []
        for (pid, created), cmdline in list(self.seen.items()):
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(((pid, created), cmdline))
            except psutil.Error:
                pass
        return alive

    def kill_leftovers(self, timeout=10):
        """Kill the group of each leftover (but the test's own group) and each
        leftover of the test's group; wait until every one is dead."""
        ours = os.getpgid(0)
        groups = set()
        for key, _ in self._alive():
            # Seen between fork and setsid, a process was remembered in its
            # parent's group: ask again.
            for pgid in (self.groups[key], _pgid(key[0])):
                if pgid == ours:
                    _kill(key[0])
                elif pgid is not None:
                    groups.add(pgid)
        kill_groups(groups, timeout)
        until(lambda: not self.leftovers(), timeout, what=lambda: "leftovers to die: %s" % self.leftovers())


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
