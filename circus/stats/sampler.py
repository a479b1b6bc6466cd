"""Per-process figures for circusd-stats, read from ``/proc`` once per round.

:class:`ProcessSampler` follows one process across rounds and returns the
same info dict as :func:`circus.procinfo.get_info` (same keys, same
formats), but cheaply enough for a thousand processes every second:

* one ``pread`` of ``/proc/<pid>/stat``, kept open, per round gives CPU
  times, start time, nice value, RSS and VMS (psutil's ``oneshot`` path
  opens four files and costs about four times more). The open file stays
  bound to the process it was opened for: once that process is gone the
  read fails with ESRCH, even if the pid was reused;
* children come from ``/proc/<pid>/task/<pid>/children`` (every
  ``CHILDREN_ROUNDS`` rounds; known children are sampled every round)
  instead of ``psutil.Process.children()``, which scans every process of
  the system and so made a round quadratic in the number of workers;
* user name and command line change rarely: they are read through psutil
  at first sight and every ``REFRESH_ROUNDS`` rounds.

CPU % is measured between two rounds on the same sampler (0.0 on the
first one), as ``psutil.Process.cpu_percent(None)`` does.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional

import psutil

from circus.procinfo import NOT_AVAILABLE, format_cpu_time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TOTAL_MEMORY = psutil.virtual_memory().total
BOOT_TIME = psutil.boot_time()
REFRESH_ROUNDS = 30
CHILDREN_ROUNDS = 5

# Kernels built without CONFIG_PROC_CHILDREN have no children file; we then
# report no children rather than scan the whole process table each round.
HAS_CHILDREN_FILE = os.path.exists("/proc/%d/task/%d/children" % (os.getpid(), os.getpid()))


class ProcessGone(Exception):
    """The process exited (or its pid now belongs to another process)."""


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


_SIZE_UNITS = tuple((1 << (10 * (i + 1)), symbol) for i, symbol in reversed(list(enumerate("KMGTPEZY"))))


def human_size(number: int) -> str:
    """``circus.convert.bytes2human`` for a non-negative int, without its checks (hot path)."""
    for unit, symbol in _SIZE_UNITS:
        if number >= unit:
            return "%.2f%s" % (number / unit, symbol)
    return "%dB" % number


class _Stat:
    """The fields of ``/proc/<pid>/stat`` that we use."""

    __slots__ = ("ticks", "nice", "start", "vms", "rss")

    def __init__(self, data: bytes):
        # The command name (in parentheses) may hold spaces: split after it.
        fields = data[data.rindex(b")") + 2 :].split()
        self.ticks = int(fields[11]) + int(fields[12])  # utime + stime
        self.nice = int(fields[16])
        self.start = int(fields[19])
        self.vms = int(fields[20])
        self.rss = int(fields[21]) * PAGE_SIZE


class _StatFile:
    """``/proc/<pid>/stat`` opened once and re-read each round.

    ``read()`` returns a :class:`_Stat`, None when we may not read it, and
    raises ProcessGone when the process exited. When no fd is left (EMFILE)
    the file is opened and closed at each read instead.
    """

    __slots__ = ("pid", "fd")

    def __init__(self, pid: int):
        self.pid = pid
        self.fd: Optional[int] = None
        try:
            self.fd = os.open("/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, ProcessLookupError):
            raise ProcessGone(pid) from None
        except OSError:
            pass  # EMFILE, EACCES: read() opens it each time and says what is wrong

    def read(self) -> Optional[_Stat]:
        try:
            if self.fd is not None:
                return _Stat(os.pread(self.fd, 4096, 0))
            return _Stat(_read("/proc/%d/stat" % self.pid))
        except (FileNotFoundError, ProcessLookupError):
            raise ProcessGone(self.pid) from None
        except PermissionError:
            return None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ProcessSampler:
    """One process followed from round to round (see the module docstring).

    ``with_children=False`` reports ``children: []`` (for circusd, whose
    children are the workers, already reported under their watchers).
    """

    __slots__ = ("pid", "with_children", "_stat", "_start", "_ticks", "_when", "_rounds", "_username",
                 "_cmdline", "_children")

    def __init__(self, pid: int, with_children: bool = True) -> None:
        self.pid = pid
        self.with_children = with_children
        self._stat: Optional[_StatFile] = None
        self._start: Optional[int] = None
        self._ticks: Optional[int] = None
        self._when = 0.0
        self._rounds = 0
        self._username: Any = NOT_AVAILABLE
        self._cmdline: Any = NOT_AVAILABLE
        self._children: Dict[int, "ProcessSampler"] = {}

    def sample(self, now: Optional[float] = None) -> Dict[str, Any]:
        """This round's info dict (keys of ``procinfo.get_info``).

        Raises ProcessGone when the process exited or its pid was reused;
        fields we may not read are ``"N/A"``.
        """
        now = time.time() if now is None else now
        try:
            if self._stat is None:
                self._stat = _StatFile(self.pid)
            stat = self._stat.read()
        except ProcessGone:
            self.close()
            raise
        if stat is not None:
            if self._start is not None and stat.start != self._start:
                raise ProcessGone(self.pid)
            self._start = stat.start
        if self._rounds % REFRESH_ROUNDS == 0:
            self._refresh_names()
        self._rounds += 1
        info = self._figures(stat, now)
        info["children"] = self._sample_children(now) if self.with_children else []
        return info

    def close(self) -> None:
        """Release the open stat files (this process's and its children's)."""
        if self._stat is not None:
            self._stat.close()
            self._stat = None
        for child in self._children.values():
            child.close()
        self._children.clear()

    def _refresh_names(self) -> None:
        try:
            proc = psutil.Process(self.pid)
            self._username = _field(proc.username)
            self._cmdline = _field(lambda: _short_cmdline(proc))
        except psutil.NoSuchProcess:
            self.close()
            raise ProcessGone(self.pid) from None

    def _cpu(self, stat: _Stat, now: float) -> float:
        previous, when = self._ticks, self._when
        self._ticks, self._when = stat.ticks, now
        if previous is None or now <= when:
            return 0.0
        return round((stat.ticks - previous) / CLOCK_TICKS / (now - when) * 100, 1)

    def _figures(self, stat: Optional[_Stat], now: float) -> Dict[str, Any]:
        info: Dict[str, Any] = {"pid": self.pid, "username": self._username, "cmdline": self._cmdline}
        if stat is None:
            for key in ("nice", "mem_info1", "mem_info2", "cpu", "mem", "ctime", "create_time", "age"):
                info[key] = NOT_AVAILABLE
            return info
        create_time = BOOT_TIME + stat.start / CLOCK_TICKS
        info.update(
            nice=stat.nice,
            mem_info1=human_size(stat.rss),
            mem_info2=human_size(stat.vms),
            cpu=self._cpu(stat, now),
            mem=round(stat.rss / TOTAL_MEMORY * 100, 3),
            ctime=format_cpu_time(stat.ticks / CLOCK_TICKS),
            create_time=round(create_time, 2),
            age=round(now - create_time, 2),
        )
        return info

    def _sample_children(self, now: float) -> List[Dict[str, Any]]:
        if self._rounds % CHILDREN_ROUNDS == 1:  # the first round, then every CHILDREN_ROUNDS
            pids = _children_of(self.pid)
            for gone in set(self._children) - set(pids):
                self._children.pop(gone).close()
            for pid in pids:
                if pid not in self._children:
                    self._children[pid] = ProcessSampler(pid)
        infos = []
        for pid, sampler in list(self._children.items()):
            try:
                infos.append(sampler.sample(now))
            except ProcessGone:
                del self._children[pid]
        return infos


def _children_of(pid: int) -> List[int]:
    if not HAS_CHILDREN_FILE:
        return []
    try:
        return [int(word) for word in _read("/proc/%d/task/%d/children" % (pid, pid)).split()]
    except OSError:
        return []  # gone meanwhile, or not ours to read: the parent's read says which


def _field(read):
    try:
        return read()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return NOT_AVAILABLE


def _short_cmdline(proc: psutil.Process) -> str:
    """Basename of argv[0], as ``procinfo.get_info`` reports it."""
    argv = proc.cmdline()
    if argv and argv[0]:
        return os.path.basename(argv[0])
    return proc.name()
