"""Processes a test started: alive or not, and the ones it left behind."""

import os
import signal
import threading

import psutil


def pid_alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def live_pids(watcher):
    """Pids of a watcher's processes that are alive (not zombies), sorted."""
    return sorted(pid for pid in list(watcher.processes) if pid_alive(pid))



class ProcessTracker:
    """Samples the descendants of some root pids in a thread, remembering each.

    A process is identified by ``(pid, create_time)`` so that a reused pid is
    not mistaken for a leftover. ``leftovers()`` lists the remembered
    processes still alive; ``kill_leftovers()`` SIGKILLs them.
    """

    def __init__(self, interval=0.02):
        self.interval = interval
        self.roots = set()
        self.seen = {}  # (pid, create_time) -> cmdline
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
                self.seen[key] = " ".join(proc.cmdline())[:200]
        except psutil.Error:
            pass

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
        left = []
        for (pid, created), cmdline in self.seen.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append((pid, cmdline))
            except psutil.Error:
                pass
        return left

    def kill_leftovers(self):
        for pid, _ in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
