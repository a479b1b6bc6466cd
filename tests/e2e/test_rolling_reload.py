"""Rolling reload through a real circusd: an HTTP watcher on a circusd socket, under real load.

Four workers (tests/helpers/scripts/ready_worker.py) serve HTTP on
``$(circus.sockets.web)`` and send READY=1 once serving; 16 clients open a
fresh connection for every request (tests/httpload.py) for the whole reload.
A real server too: gunicorn sends READY=1 itself (its own sd_notify).
"""

import asyncio
import os
import signal
import sys

import pytest

from helpers import WEB_STACK, ReadyWorkers, Subscriber, async_test, call, http_get_tcp, listening_ports, ok, until
from httpload import Load
from webstack import SERVERS

NUMPROCESSES = 4



def write_ini(daemon, tmp_path, ready_timeout, reload_batch, generation=1):
    cmd = ReadyWorkers(tmp_path).cmd("web", "serve=$(circus.sockets.web)", "ready-after=0.3",
                                     "latency=0.005", "mode-file=%s" % (tmp_path / "mode"),
                                     "generation=%d" % generation)
    extra = "ready = notify\n    ready_timeout = %s\n    reload_batch = %s" % (ready_timeout, reload_batch)
    daemon.write_ini(WEB_STACK % {"cmd": cmd, "numprocesses": NUMPROCESSES, "extra": extra})


def http_stack(circusd, tmp_path, ready_timeout=20, reload_batch=1):
    mode = tmp_path / "mode"
    mode.write_text("good")
    daemon = circusd()
    write_ini(daemon, tmp_path, ready_timeout, reload_batch)
    daemon.start().wait_answering()
    until(lambda: not_ready(daemon) is None and len(pids(daemon)) == NUMPROCESSES, 20,
          what=lambda: "every worker ready; log:\n%s" % daemon.log()[-2000:])
    return daemon, mode, listening_ports(daemon.pid)[0]


def pids(daemon):
    return ok(call(daemon, "list", name="web"))["pids"]


def not_ready(daemon):
    return call(daemon, "status", name="web").get("not_ready")


@pytest.mark.parametrize("command", ["reload", "reloadconfig"])
@async_test(timeout=120)
async def test_a_rolling_reload_under_load_fails_no_request(circusd, tmp_path, command):
    daemon, _, port = http_stack(circusd, tmp_path)
    before = pids(daemon)
    if command == "reload":
        props = {"name": "web"}
    else:  # a changed command line: the watcher rolls to it in place
        write_ini(daemon, tmp_path, 20, 1, generation=2)
        props = {}
    async with Load("127.0.0.1", port, concurrency=16) as tally:
        await asyncio.sleep(0.5)  # load before the reload
        reply = await asyncio.to_thread(call, daemon, command, timeout=60, waiting=True, **props)
        during = tally.total
        await asyncio.sleep(0.5)  # and after it
    ok(reply)
    if command == "reload":
        assert sorted(reply["info"]["stopped"]) == before
    else:
        workers = ReadyWorkers(tmp_path)
        newest = {r["pid"]: r for r in workers.reports("web")}
        assert all("generation=2" in " ".join(newest[pid]["argv"]) for pid in pids(daemon))
    # Rolled, batch by batch: never stopped (a stop and start would queue the requests instead).
    daemon.wait_log(r"web: rolling reload done in [0-9.]+ s: 4 started, 4 stopped")
    assert "web stopped" not in daemon.log()
    after = pids(daemon)
    assert len(after) == NUMPROCESSES and not set(after) & set(before)
    assert tally.failed == 0, (tally.summary(), tally.failures[:5])
    assert during > 50 and tally.counts["ok"] > during, tally.summary()


def test_a_reload_whose_new_code_never_gets_ready_keeps_the_old_processes(circusd, tmp_path):
    daemon, mode, port = http_stack(circusd, tmp_path, ready_timeout=1.5, reload_batch="50%")
    before = pids(daemon)
    mode.write_text("broken")
    with Subscriber(daemon.pubsub_endpoint) as events:
        events.synchronise(lambda: call(daemon, "set", name="web", options={"hook_timeout": 30}))
        reply = call(daemon, "reload", timeout=60, name="web", waiting=True)
        topic, payload, _ = events.wait_for(lambda t, p: t == "watcher.web.reload_failed", 10)
    assert reply["status"] == "error" and "not ready" in reply["reason"], reply
    assert "keep serving" in reply["reason"]
    assert payload["kept"] == before and payload["started"] == [] and len(payload["abandoned"]) == 2
    assert pids(daemon) == before
    assert not_ready(daemon) is None
    assert int(http_get_tcp("127.0.0.1", port)) in before  # the old ones still answer
    assert call(daemon, "status", name="web")["status"] == "active"


def test_a_reloadconfig_that_cannot_roll_keeps_the_old_config_and_the_next_one_retries(circusd, tmp_path):
    daemon, mode, port = http_stack(circusd, tmp_path, ready_timeout=1.5)
    before = pids(daemon)
    mode.write_text("broken")
    write_ini(daemon, tmp_path, 1.5, 1, generation=2)
    reply = call(daemon, "reloadconfig", timeout=60, waiting=True)
    assert reply["status"] == "error" and "reload of 'web' stopped" in reply["reason"], reply
    assert pids(daemon) == before
    assert "generation=1" in ok(call(daemon, "get", name="web", keys=["cmd"]))["options"]["cmd"]
    mode.write_text("good")  # fixed: the same file again rolls now
    ok(call(daemon, "reloadconfig", timeout=60, waiting=True))
    after = pids(daemon)
    assert len(after) == NUMPROCESSES and not set(after) & set(before)
    assert "generation=2" in ok(call(daemon, "get", name="web", keys=["cmd"]))["options"]["cmd"]


@async_test(timeout=120)
async def test_gunicorn_speaks_notify_itself_and_rolls_under_load(circusd, tmp_path):
    pytest.importorskip("gunicorn")
    command, app = SERVERS["gunicorn"]
    (tmp_path / "app.py").write_text(app)
    daemon = circusd()
    extra = "working_dir = %s\n    ready = notify\n    ready_timeout = 20\n    reload_batch = 2" % tmp_path
    daemon.write_ini(WEB_STACK % {"cmd": "%s %s" % (sys.executable, command), "numprocesses": NUMPROCESSES,
                                  "extra": extra})
    daemon.start().wait_answering()
    until(lambda: len(pids(daemon)) == NUMPROCESSES and not_ready(daemon) is None, 30,
          what=lambda: "gunicorn's READY=1; log:\n%s" % daemon.log()[-2000:])
    infos = ok(call(daemon, "stats", name="web"))["info"].values()
    assert {info["notify_status"] for info in infos} == {"Gunicorn arbiter booted"}
    before = pids(daemon)
    port = listening_ports(daemon.pid)[0]
    async with Load("127.0.0.1", port, concurrency=16) as tally:
        await asyncio.sleep(0.5)
        reply = await asyncio.to_thread(call, daemon, "reload", timeout=60, name="web", waiting=True)
        await asyncio.sleep(0.5)
    ok(reply)
    assert not set(pids(daemon)) & set(before)
    assert tally.failed == 0 and tally.counts["ok"] > 50, tally.summary()


def test_a_reload_of_every_watcher_reloads_the_others_when_one_cannot_roll(circusd, tmp_path):
    daemon, mode, _ = http_stack(circusd, tmp_path, ready_timeout=1.5)
    with open(daemon.ini, "a") as ini:
        ini.write("\n[watcher:other]\ncmd = %s\n" % ReadyWorkers(tmp_path).cmd("other"))
    ok(call(daemon, "reloadconfig", waiting=True, timeout=30))
    (other,) = until(lambda: ok(call(daemon, "list", name="other"))["pids"], 10)
    before = pids(daemon)
    mode.write_text("broken")
    reply = call(daemon, "reload", timeout=60, waiting=True)
    assert reply["status"] == "error" and "reload of 'web' stopped" in reply["reason"], reply
    assert pids(daemon) == before
    (new,) = until(lambda: ok(call(daemon, "list", name="other"))["pids"], 10)
    assert new != other  # reloaded all the same


def test_a_set_whose_rolling_reload_fails_puts_the_command_back(circusd, tmp_path):
    daemon, mode, port = http_stack(circusd, tmp_path, ready_timeout=1.5)
    before = pids(daemon)
    old_cmd = ok(call(daemon, "get", name="web", keys=["cmd"]))["options"]["cmd"]
    broken = old_cmd.replace("generation=1", "generation=2 --never-ready")
    reply = call(daemon, "set", name="web", options={"cmd": broken}, waiting=True, timeout=60)
    assert reply["status"] == "error" and "reload of 'web' stopped" in reply["reason"], reply
    assert ok(call(daemon, "get", name="web", keys=["cmd"]))["options"]["cmd"] == old_cmd
    assert pids(daemon) == before
    # A respawn runs the command that serves, not the one that failed.
    os.kill(before[0], signal.SIGKILL)
    until(lambda: len(pids(daemon)) == NUMPROCESSES and before[0] not in pids(daemon), 10)
    (newest,) = [pid for pid in pids(daemon) if pid not in before]
    until(lambda: not_ready(daemon) is None, 10, what="the respawned worker to be ready")
    assert "generation=1" in " ".join(ReadyWorkers(tmp_path).reports("web")[-1]["argv"])
    assert newest in pids(daemon)
