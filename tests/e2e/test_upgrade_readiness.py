"""An upgrade keeps the readiness of the workers and their notify socket (ready = notify, watchdog_sec).

``fed`` workers ping WATCHDOG=1 all along; ``dog`` pings while a flag file
exists; ``late`` sends READY=1 only once its flag file exists. The workers
(tests/helpers/scripts/ready_worker.py) send their messages to the address in
their ``NOTIFY_SOCKET``, which they read once, at their start.
"""

import time

import pytest

from helpers import ReadyWorkers, call, ok, until
from test_upgrade import upgrade

WATCHDOG = 0.6

BODY = """
    [watcher:fed]
    cmd = %(fed)s
    numprocesses = 2
    ready = notify
    ready_timeout = 30
    watchdog_sec = %(watchdog)s

    [watcher:dog]
    cmd = %(dog)s
    ready = notify
    ready_timeout = 30
    watchdog_sec = %(watchdog)s

    [watcher:late]
    cmd = %(late)s
    ready = notify
    ready_timeout = 60
    watchdog_sec = %(watchdog)s
"""


def ready_map(daemon, name):
    return ok(call(daemon, "list", name=name, timeout=20))["ready"]


def not_ready(daemon, name):
    return call(daemon, "status", name=name, timeout=20).get("not_ready", [])


@pytest.mark.timeout(120)
def test_notify_workers_with_a_watchdog_keep_their_readiness_and_their_watchdog_across_an_upgrade(
        circusd, tmp_path):
    workers = ReadyWorkers(tmp_path)
    feed, go = tmp_path / "feed", tmp_path / "go"
    feed.touch()
    daemon = circusd()
    daemon.write_ini(BODY % {"watchdog": WATCHDOG,
                             "fed": workers.cmd("fed", "ready-after=0", "watchdog-for=3600"),
                             "dog": workers.cmd("dog", "ready-after=0", "watchdog-while=%s" % feed),
                             "late": workers.cmd("late", "ready-on=%s" % go, "watchdog-for=3600")})
    daemon.start().wait_answering()
    until(lambda: len(ready_map(daemon, "fed")) == 2 and all(ready_map(daemon, "fed").values())
          and list(ready_map(daemon, "dog").values()) == [True], timeout=20,
          what=lambda: "fed and dog ready; log:\n%s" % daemon.log()[-2000:])
    (late,) = until(lambda: not_ready(daemon, "late"), timeout=20, what="the late worker, not ready")
    before = {name: sorted(ready_map(daemon, name)) for name in ("fed", "dog", "late")}

    upgrade(daemon, "circusctl")
    upgraded = time.monotonic()
    assert {name: sorted(ready_map(daemon, name)) for name in before} == before, daemon.log()[-3000:]
    assert all(ready_map(daemon, "fed").values()) and all(ready_map(daemon, "dog").values())
    assert not_ready(daemon, "late") == [late], "not ready before the upgrade, not ready after it"
    # Two watchdog periods after the upgrade: the pings reach the new image, nobody is killed.
    until(lambda: time.monotonic() - upgraded > 2 * WATCHDOG + 0.3, timeout=10, interval=0.1)
    assert {name: sorted(ready_map(daemon, name)) for name in before} == before, daemon.log()[-3000:]
    assert "unhealthy" not in daemon.log(), daemon.log()[-3000:]

    go.touch()
    until(lambda: not_ready(daemon, "late") == [], timeout=10, what="the late READY=1 after the upgrade")
    assert sorted(ready_map(daemon, "late")) == before["late"]

    (dog,) = before["dog"]
    feed.unlink()
    daemon.wait_log(r"dog\[%s\] unhealthy: no WATCHDOG=1 for 0.6 s" % dog, timeout=10)
    feed.touch()  # the replacement pings
    until(lambda: ready_map(daemon, "dog") and sorted(ready_map(daemon, "dog")) != before["dog"]
          and all(ready_map(daemon, "dog").values()), timeout=15, what="a ready replacement of dog")
    first, replacement = workers.reports("dog")[0], workers.reports("dog")[-1]
    assert replacement["pid"] != first["pid"]
    assert replacement["env"]["NOTIFY_SOCKET"] == first["env"]["NOTIFY_SOCKET"], "the address was kept"
    assert sorted(ready_map(daemon, "fed")) == before["fed"]
    assert "Traceback" not in daemon.log(), daemon.log()[-3000:]
    assert daemon.terminate() == 0, daemon.log()[-3000:]
