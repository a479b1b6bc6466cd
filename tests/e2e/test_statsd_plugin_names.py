"""The statsd plugins' metric names, read by a real UDP socket from a plugin run by circusd.

The manual: the bucket prefix is ``circus.<application_name>.watcher``;
events are counters ``<prefix>.<watcher>.<event>``, FullStats's figures are
gauges ``<prefix>._stats.<watcher>.<figure>``.
"""

import socket

from circus.client import CircusClient
from helpers import SLEEPER, until

FIGURES = ("watchers_num", "cpu_max", "cpu_sum", "mem_pct_max", "mem_pct_sum", "mem_max", "mem_sum")


def test_full_stats_sends_gauges_and_counters_under_the_watcher_prefix(circusd):
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind(("127.0.0.1", 0))
    statsd.settimeout(0.1)
    daemon = circusd()
    daemon.write_ini("""
        [watcher:sleeper]
        cmd = %s
        numprocesses = 2

        [plugin:full]
        use = circus.plugins.statsd.FullStats
        host = 127.0.0.1
        port = %d
        application_name = e2e
        loop_rate = 0.3
        """ % (SLEEPER, statsd.getsockname()[1]))
    daemon.start()
    ctl = CircusClient(endpoint=daemon.endpoint, timeout=5)
    lines = []
    gauges = {"circus.e2e.watcher._stats.sleeper.%s" % figure for figure in FIGURES}

    def names():
        try:
            lines.append(statsd.recv(65535).decode())
        except socket.timeout:
            # Events too: the plugin may have subscribed after the first ones.
            ctl.send_message("incr", name="sleeper")
            ctl.send_message("decr", name="sleeper")
        return {line.split(":")[0] for line in lines}

    try:
        until(lambda: gauges | {"circus.e2e.watcher.sleeper.spawn"} <= names(), timeout=20,
              what="the 7 gauges and a spawn counter; got %s" % sorted(set(lines))[:20])
    finally:
        ctl.stop()
        statsd.close()
    counts = {line.split(":")[1] for line in lines if line.startswith("circus.e2e.watcher._stats.sleeper.watchers_num:")}
    assert counts <= {"2|g", "3|g"}, counts  # 3 while an incr is undone
    assert all(line.startswith("circus.e2e.watcher.") for line in lines), sorted(set(lines))
    assert not [line for line in lines if "_stats.plugin" in line], "plugin watchers are skipped"
    assert "circus.e2e.watcher.sleeper.spawn:1|c" in lines
