"""Signals from a watcher to its processes, in one place.

Every signal a watcher sends to one of its processes, by a ``signal``
command or as part of a stop, goes through :func:`send_signal`: the
``before_signal`` hook may suppress it (never SIGKILL), ``after_signal``
follows it. A stop publishes ``kill`` for each signal it sends
(:func:`signal_for_stop`), and :func:`end_process` ends one process with
escalation and reaps it.
"""

from __future__ import annotations

import functools
import logging
import signal
import time
from typing import TYPE_CHECKING

from circus.convert import signal_name
from circus.states import ProcessState

if TYPE_CHECKING:
    from circus.process import Process
    from circus.watcher import Watcher

logger = logging.getLogger("circus.watcher")


def send_signal(watcher: Watcher, pid: int, signum: int) -> None:
    """Signal process ``pid`` of ``watcher`` through the before/after_signal hooks."""
    process = watcher.processes.get(pid)
    if process is None:
        return
    allowed = watcher.call_hook("before_signal", pid=pid, signum=signum)
    if allowed or signum == signal.SIGKILL:
        process.send_signal(signum)
        watcher.call_hook("after_signal", pid=pid, signum=signum)
    else:
        logger.info("%s[%d]: %s suppressed by before_signal", watcher.name, pid, signal_name(signum))


def signal_for_stop(watcher: Watcher, pid: int, sig: int) -> None:
    send_signal(watcher, pid, sig)
    watcher.notify_event("kill", {"process_pid": pid, "time": time.time()})


async def end_process(
    watcher: Watcher, process: Process, sig: int | None = None, graceful_timeout: float | None = None
) -> None:
    """End one process (see :meth:`circus.process.Process.end`) and reap it; one being ended is only waited for."""
    if process.state is ProcessState.STOPPING:
        await process.wait()
        return
    await process.end(
        watcher.stop_signal if sig is None else sig,
        watcher.graceful_timeout if graceful_timeout is None else graceful_timeout,
        deliver=functools.partial(signal_for_stop, watcher, process.pid),
        children=watcher.stop_children,
    )
    if process.pid in watcher.processes:
        watcher._table.reap(process)
