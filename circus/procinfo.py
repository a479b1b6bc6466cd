"""Process information as reported by ``stats``, ``dstats`` and circusd-stats.

``get_info`` returns one flat dict per process (sizes as human strings,
a field that cannot be read as ``"N/A"``) with the infos of its children
nested under ``children``; ``get_info_sliced`` does the same from a
coroutine, letting the event loop run between two processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable, Dict, Generator, Iterable, List, Optional, Union

import psutil

from circus.convert import bytes2human

NOT_AVAILABLE = "N/A"

# Seconds of reading /proc before the event loop gets a turn (see Slicer).
SLICE = 0.0005

ProcessLike = Union[None, int, psutil.Process]


def format_cpu_time(seconds: float) -> str:
    """``'M:SS.cc'`` for a CPU time in seconds, as ``ps`` shows it."""
    centis = int(round(seconds * 100))
    minutes, centis = divmod(centis, 6000)
    return "%d:%02d.%02d" % (minutes, centis // 100, centis % 100)


def _field(read: Callable[[], Any]) -> Any:
    """``read()``, or ``"N/A"`` when the kernel does not let us read it."""
    try:
        return read()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return NOT_AVAILABLE


def _as_process(process: ProcessLike) -> psutil.Process:
    if process is None:
        return psutil.Process(os.getpid())
    if isinstance(process, psutil.Process):
        return process
    return psutil.Process(int(process))


def _cmdline(proc: psutil.Process) -> str:
    """The program's short name: basename of argv[0] (the title setproctitle set)."""
    argv = proc.cmdline()
    if argv and argv[0]:
        return os.path.basename(argv[0])
    return proc.name()  # kernel threads and zombies have no argv


def _own_info(proc: psutil.Process, interval: float) -> Dict[str, Any]:
    mem = _field(proc.memory_info)
    cpu_times = _field(proc.cpu_times)
    create_time = _field(proc.create_time)
    return {
        "pid": proc.pid,
        "username": _field(proc.username),
        "nice": _field(proc.nice),
        "mem_info1": NOT_AVAILABLE if mem == NOT_AVAILABLE else bytes2human(mem.rss),
        "mem_info2": NOT_AVAILABLE if mem == NOT_AVAILABLE else bytes2human(mem.vms),
        "cpu": _field(lambda: proc.cpu_percent(interval)),
        "mem": _field(lambda: round(proc.memory_percent(), 3)),
        "ctime": (
            NOT_AVAILABLE
            if cpu_times == NOT_AVAILABLE
            else format_cpu_time(cpu_times.user + cpu_times.system)
        ),
        "cmdline": _field(lambda: _cmdline(proc)),
        "create_time": create_time,
        "age": NOT_AVAILABLE if create_time == NOT_AVAILABLE else round(time.time() - create_time, 2),
    }


def child_pids(pid: int, recursive: bool = False) -> List[int]:
    """Pids of the children of ``pid`` (and theirs with ``recursive``).

    Read from ``/proc/<pid>/task/<tid>/children``, which costs a few reads
    instead of the scan of every process ``psutil.Process.children`` makes
    (quadratic when asked for each of a thousand workers). Falls back to
    psutil where the kernel lacks that file. Returns [] for a vanished pid.
    """
    found: List[int] = []
    for child in _direct_children(pid):
        found.append(child)
        if recursive:
            found.extend(child_pids(child, recursive=True))
    return found


def signal_pids(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each of ``pids``; one that is gone already is skipped."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _direct_children(pid: int) -> List[int]:
    task_dir = "/proc/%d/task" % pid
    if not _HAS_CHILDREN_FILE:
        try:
            return [c.pid for c in psutil.Process(pid).children()]
        except psutil.NoSuchProcess:
            return []
    pids: List[int] = []
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return []
    for tid in tids:
        try:
            with open("%s/%s/children" % (task_dir, tid), "rb") as handle:
                pids.extend(int(word) for word in handle.read().split())
        except OSError:
            continue  # the thread ended meanwhile
    return pids


_HAS_CHILDREN_FILE = os.path.exists("/proc/self/task/%d/children" % os.getpid())


def get_info(process: ProcessLike = None, interval: float = 0.0) -> Dict[str, Any]:
    """Info dict of a process (a pid, a ``psutil.Process``, or None for ourselves).

    Keys: pid, username, nice, mem_info1 (RSS) and mem_info2 (VMS) as human
    strings, cpu (percent), mem (percent, 3 decimals), ctime (``M:SS.cc``),
    cmdline (basename of argv[0]), create_time, age (seconds) and children
    (their infos, recursively). ``cpu`` is measured over ``interval``
    seconds (blocking) or, with 0, since the previous call on the same
    ``psutil.Process`` (0.0 on the first call): pass the same object again
    to get a meaningful value cheaply.

    Raises ``psutil.NoSuchProcess`` if the process is gone; a child that
    disappears while we look is left out.
    """
    steps = _collect(process, interval)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


async def get_info_sliced(process: ProcessLike = None, slicer: Optional["Slicer"] = None) -> Dict[str, Any]:
    """``get_info(process)``, yielding to the event loop as ``slicer`` says.

    For a process with many children (circusd and its workers): the loop
    goes on serving between two children.
    """
    slicer = slicer or Slicer()
    steps = _collect(process, 0.0)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await slicer.tick()


def _collect(process: ProcessLike, interval: float) -> Generator[None, None, Dict[str, Any]]:
    """Generator returning the info of ``process``; it yields after reading each process."""
    proc = _as_process(process)
    with proc.oneshot():
        info = _own_info(proc, interval)
    info["children"] = []
    yield
    for child in child_pids(proc.pid):
        try:
            info["children"].append((yield from _collect(child, interval)))
        except psutil.NoSuchProcess:
            continue
    return info


class Slicer:
    """Cuts a long read into slices of at most ``budget`` seconds of loop time.

    ``await slicer.tick()`` between two units of work yields to the event
    loop once the current slice is used up, so that requests arriving
    meanwhile wait at most one slice.
    """

    def __init__(self, budget: float = SLICE):
        self.budget = budget
        self._ends = time.monotonic() + budget

    async def tick(self) -> None:
        if time.monotonic() >= self._ends:
            await asyncio.sleep(0)
            self._ends = time.monotonic() + self.budget
