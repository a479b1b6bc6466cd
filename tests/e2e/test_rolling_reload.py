"""Rolling reload through a real circusd: an HTTP watcher on a circusd socket, under real load.

Four workers (tests/helpers/scripts/ready_worker.py) serve HTTP on
``$(circus.sockets.web)`` and send READY=1 once serving; 16 clients open a
fresh connection for every request (tests/httpload.py) for the whole reload.
"""

import asyncio

from helpers import ReadyWorkers, Subscriber, async_test, call, http_get_tcp, listening_ports, ok, until
from httpload import Load

NUMPROCESSES = 4

INI = """
    [socket:web]
    host = 127.0.0.1
    port = 0
    backlog = 1024

    [watcher:web]
    cmd = %s
    numprocesses = %d
    use_sockets = true
    graceful_timeout = 10
    ready = notify
    ready_timeout = %s
    reload_batch = %s
"""


def http_stack(circusd, tmp_path, ready_timeout=20, reload_batch=1):
    workers = ReadyWorkers(tmp_path)
    mode = tmp_path / "mode"
    mode.write_text("good")
    cmd = workers.cmd("web", "serve=$(circus.sockets.web)", "ready-after=0.3", "latency=0.005",
                      "mode-file=%s" % mode)
    daemon = circusd()
    daemon.write_ini(INI % (cmd, NUMPROCESSES, ready_timeout, reload_batch))
    daemon.start().wait_answering()
    until(lambda: not_ready(daemon) is None and len(pids(daemon)) == NUMPROCESSES, 20,
          what=lambda: "every worker ready; log:\n%s" % daemon.log()[-2000:])
    return daemon, mode, listening_ports(daemon.pid)[0]


def pids(daemon):
    return ok(call(daemon, "list", name="web"))["pids"]


def not_ready(daemon):
    return call(daemon, "status", name="web").get("not_ready")


@async_test(timeout=120)
async def test_a_rolling_reload_under_load_fails_no_request(circusd, tmp_path):
    daemon, _, port = http_stack(circusd, tmp_path)
    before = pids(daemon)
    async with Load("127.0.0.1", port, concurrency=16) as tally:
        await asyncio.sleep(0.5)  # load before the reload
        reply = await asyncio.to_thread(call, daemon, "reload", timeout=60, name="web", waiting=True)
        during = tally.total
        await asyncio.sleep(0.5)  # and after it
    ok(reply)
    assert sorted(reply["info"]["stopped"]) == before
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
