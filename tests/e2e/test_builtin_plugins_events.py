"""Every built-in plugin, run by a real circusd, takes every kind of event without a traceback.

One circusd runs the manual's example configurations of the built-ins side
by side (``[circus] debug = true``: their logs, at DEBUG, land in circusd's
output, each handled event as ``<plugin>: handled <topic>``). The test
provokes spawn, kill, reap, signal, hook_success, hook_failure, updated,
reload, stop, start, add and remove events, then waits until every plugin
has handled the last one and reads the output for tracebacks.
"""

import itertools
import os
import re
import signal
import socket

from circus.client import CircusClient
from helpers import SLEEPER, until


HOOKS = """
import time


def fine(watcher, arbiter, hook_name, **kwargs):
    return True


def slow(watcher, arbiter, hook_name, **kwargs):
    # Fails by overrunning hook_timeout: a hook_failure without a traceback.
    time.sleep(30)
"""

# label in the plugin's log lines -> its section (after ``use``)
PLUGINS = {
    "statsd": ("circus.plugins.statsd.StatsdEmitter",
               "host = 127.0.0.1\nport = {statsd}\nsample_rate = 1.0\napplication_name = example"),
    "full_stats": ("circus.plugins.statsd.FullStats",
                   "host = 127.0.0.1\nport = {statsd}\napplication_name = example\nloop_rate = 0.5"),
    "resource_watcher": ("circus.plugins.resource_watcher.ResourceWatcher",
                         "watcher = program\nmin_cpu = 10\nmax_cpu = 70\nmin_mem = 0\nmax_mem = 20\n"
                         "loop_rate = 0.5"),
    "watchdog": ("circus.plugins.watchdog.WatchDog", "ip = 127.0.0.1\nport = 0\nloop_rate = 60"),
    "flapping": ("circus.plugins.flapping.Flapping", "max_retry = 5"),
    "command_reloader": ("circus.plugins.command_reloader.CommandReloader", "loop_rate = 1"),
    "http_observer": ("circus.plugins.http_observer.HttpObserver",
                      "check_url = http://127.0.0.1:1/\nloop_rate = 0.5\ntimeout = 1"),
    "redis_observer": ("circus.plugins.redis_observer.RedisObserver",
                       "redis_url = unix://{dir}/no-redis.sock\nloop_rate = 0.5\ntimeout = 1"),
}


def plugin_sections(**values):
    sections = []
    for label, (use, keys) in PLUGINS.items():
        body = keys.format(**values).replace("\n", "\n        ")
        sections.append("[plugin:%s]\n        use = %s\n        %s\n" % (label, use, body))
    return "\n        ".join(sections)


def handled_by_all(daemon, topic):
    log = daemon.log()
    return all("%s: handled %s" % (label, topic) in log for label in PLUGINS)


def plugin_pids(ctl):
    return {label: ctl.send_message("list", name="plugin:" + label).get("pids") for label in PLUGINS}


def provoke_every_kind_of_event(ctl):
    """On ``worker``; ResourceWatcher restarts ``program`` meanwhile, making more events.

    Returns the commands whose reply was not ``ok``.
    """
    calls = [
        ("incr", {"name": "worker"}),  # spawn
        ("decr", {"name": "worker"}),  # kill, reap
        ("kill -9", None),  # an unrequested reap
        ("signal", {"name": "worker", "signum": "CONT"}),  # hook_success, hook_failure
        ("set", {"name": "worker", "options": {"graceful_timeout": 2}}),  # updated
        ("reload", {"name": "worker"}),
        ("restart", {"name": "worker"}),
        ("stop", {"name": "worker"}),
        ("start", {"name": "worker"}),
        ("add", {"name": "extra", "cmd": SLEEPER, "start": True}),
        ("rm", {"name": "extra"}),
        ("add", {"name": "sentinel", "cmd": SLEEPER}),  # the last event
    ]
    failed = []
    for command, props in calls:
        if props is None:
            os.kill(ctl.send_message("list", name="worker")["pids"][-1], signal.SIGKILL)
            continue
        reply = ctl.send_message(command, waiting=True, **props)  # one after the other
        if reply.get("status") != "ok":
            failed.append((command, reply))
    return failed


def test_every_built_in_plugin_handles_every_event_without_a_traceback(circusd, tmp_path):
    (tmp_path / "myhooks.py").write_text(HOOKS)
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind(("127.0.0.1", 0))
    daemon = circusd()
    daemon.write_ini("""
        [env]
        PYTHONPATH = %s

        [watcher:program]
        cmd = %s
        graceful_timeout = 1

        [watcher:worker]
        cmd = %s
        numprocesses = 2
        graceful_timeout = 1
        hooks.before_signal = myhooks.fine
        hooks.after_signal = myhooks.slow
        hook_timeout = 0.3

        %s
        """ % (tmp_path, SLEEPER, SLEEPER, plugin_sections(statsd=statsd.getsockname()[1], dir=tmp_path)),
        circus={"debug": "true", "check_delay": 1})
    daemon.start()
    ctl = CircusClient(endpoint=daemon.endpoint, timeout=15)
    try:
        # The plugins subscribe at their own pace: make events until each has one.
        timeouts = itertools.cycle([1, 1.5])  # a real change each time
        until(lambda: ctl.send_message("set", name="worker", options={"graceful_timeout": next(timeouts)})
              and handled_by_all(daemon, "watcher.worker.updated"), timeout=40, interval=0.3,
              what="every plugin handling an event; log:\n%s" % daemon.log()[-4000:])
        pids = plugin_pids(ctl)
        assert provoke_every_kind_of_event(ctl) == []
        until(lambda: handled_by_all(daemon, "watcher.sentinel.add"), timeout=30,
              what="every plugin handling the last event; log:\n%s" % daemon.log()[-4000:])
        log = daemon.log()
        for topic in ("spawn", "kill", "reap", "hook_success", "hook_failure", "updated", "reload", "stop",
                      "start", "add", "remove"):
            assert re.search(r"statsd: handled watcher\.[\w:.-]+\.%s$" % topic, log, re.M), (
                topic, re.findall(r"(?:statsd: handled|circus\[\d+\] \[\w+\]) (.*)$", log, re.M))
        assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:5000]
        errors = [line for line in log.splitlines() if "circus-plugin[" in line and "[ERROR]" in line]
        assert not errors
        assert plugin_pids(ctl) == pids, "a plugin process died and was replaced"
        assert daemon.alive()
    finally:
        ctl.stop()
        statsd.close()
