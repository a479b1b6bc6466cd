"""Hooks for examples/streams_and_hooks.ini (standard library only).

circusd imports this module because the ini's ``[env]`` section puts
``examples`` on PYTHONPATH. Every hook is called with keyword arguments
``watcher``, ``arbiter`` and ``hook_name`` plus the ones of its moment (see
docs/hooks.rst); what it returns matters only for the ``before_*`` /
``after_spawn`` / ``after_start`` hooks: falsy (``None`` included) aborts.
"""

import logging
import os
import signal
import time

logger = logging.getLogger("circus.hooks_demo")

LOG_DIR = "/tmp/circus-demo"


def prepare_log_dir(watcher, arbiter, hook_name, **kwargs):
    """before_start: create the directory of the watcher's log files; refuse to start if we can't."""
    try:
        os.makedirs(LOG_DIR, exist_ok=True)
    except OSError as exc:
        logger.error("%s: cannot create %s: %s", watcher.name, LOG_DIR, exc)
        return False
    return True


def announce_spawn(watcher, arbiter, hook_name, pid, **kwargs):
    """after_spawn: log the new process; returning False would kill it."""
    logger.info("%s: process %d is up (%d running)", watcher.name, pid, len(watcher.processes))
    return True


def only_polite_signals(watcher, arbiter, hook_name, pid, signum, **kwargs):
    """before_signal: let SIGTERM and SIGKILL through, refuse the others (SIGKILL always goes)."""
    allowed = signum in (signal.SIGTERM, signal.SIGKILL)
    if not allowed:
        logger.warning("%s: refusing %s for process %d", watcher.name, signal.Signals(signum).name, pid)
    return allowed


def report_exit(watcher, arbiter, hook_name, process_pid, time, exit_code, process_status, **kwargs):
    """after_reap: log how a process ended (the return value is ignored)."""
    logger.info("%s: process %d ended with exit code %s", watcher.name, process_pid, exit_code)


def add_uptime(watcher, arbiter, hook_name, pid, stats, **kwargs):
    """extended_stats: add a key to ``circusctl stats --extended``."""
    stats["uptime_human"] = "%.0f s" % (time.time() - stats.get("started", time.time()))


def notify_chat(watcher, arbiter, hook_name, **kwargs):
    """after_start: a flaky notification. Configured with ``, true`` so that
    its failure does not stop the watcher; it only publishes ``hook_failure``."""
    raise ConnectionError("chat server unreachable (this is a demo)")
