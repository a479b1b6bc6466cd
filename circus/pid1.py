"""circusd as the first process of a container (``circusd --init``, or found running as pid 1).

What tini or dumb-init do, on top of the supervision:

* every process of the container that ends is reaped: circusd already
  reaps every child it has (``circus.childwatch``), and as pid 1 (or child
  subreaper) it is the parent of every orphan;
* SIGTERM and SIGINT stop gracefully, as always (``circus.signals``); a
  second stop signal during that stop kills every descendant at once
  (:func:`kill_descendants`), so that a second Ctrl-C or ``docker stop``'s
  impatience never leaves the container hanging on a worker that ignores
  SIGTERM;
* at exit every orphan circusd adopted is stopped too, SIGTERM then SIGKILL
  after the longest ``graceful_timeout`` (``Orphans.stop(everyone=True)``),
  instead of the kernel's SIGKILL when pid 1 exits.

circusd exits 0 after a stop it was asked for, 1 when it could not start.
"""

import logging
import os
import signal

from circus.procinfo import child_pids, signal_pids

logger = logging.getLogger("circus.pid1")


def wanted(flag: bool) -> bool:
    """Init mode: asked for with ``--init``, or circusd is the first process of its pid namespace."""
    return flag or os.getpid() == 1


def kill_descendants() -> None:
    """SIGKILL every descendant of circusd now: the workers, their children, the orphans."""
    pids = child_pids(os.getpid(), recursive=True)
    logger.warning("second stop signal: killing %d process(es) now", len(pids))
    signal_pids(pids, signal.SIGKILL)
