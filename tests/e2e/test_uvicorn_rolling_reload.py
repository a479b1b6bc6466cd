"""A rolling reload of real uvicorn workers with readiness on loses no request.

Eight uvicorn processes serve on ``--fd $(circus.sockets.web)`` and send
READY=1 from their lifespan startup (tests/webstack.py, ``ready =
notify``) while 32 clients open a fresh connection for every request
(tests/httpload.py). uvicorn closes the connections it has accepted but not
read yet when told to stop, so an old process must get no new connection
near its stop: the rolling reload hands the socket over (circus.handover),
new connections going to the new processes only once the first batch is
ready.
"""

import asyncio
import sys

import pytest

from helpers import WEB_STACK, Subscriber, async_test, call, http_get_tcp, listening_ports, ok, until
from httpload import Load
from webstack import UVICORN_NOTIFY

NUMPROCESSES = 8


def uvicorn_stack(circusd, tmp_path, reload_batch, ready_timeout=20):
    pytest.importorskip("uvicorn")
    command, app = UVICORN_NOTIFY
    (tmp_path / "app.py").write_text(app)
    (tmp_path / "mode").write_text("good")
    daemon = circusd()
    extra = "working_dir = %s\n    ready = notify\n    ready_timeout = %s\n    reload_batch = %s" % (
        tmp_path, ready_timeout, reload_batch)
    daemon.write_ini(WEB_STACK % {"cmd": "%s %s" % (sys.executable, command), "numprocesses": NUMPROCESSES,
                                  "extra": extra})
    daemon.start().wait_answering()
    until(lambda: len(pids(daemon)) == NUMPROCESSES and not_ready(daemon) is None, 60,
          what=lambda: "uvicorn's READY=1 from every worker; log:\n%s" % daemon.log()[-2000:])
    return daemon, listening_ports(daemon.pid)[0]


def pids(daemon):
    return ok(call(daemon, "list", name="web"))["pids"]


def not_ready(daemon):
    return call(daemon, "status", name="web").get("not_ready")


async def reload_under_load(daemon, port, then=None):
    """``reload web`` (waiting) under load, then ``then()`` (a blocking callable); returns (reply, tally)."""
    async with Load("127.0.0.1", port, concurrency=32) as tally:
        await asyncio.sleep(1.0)
        reply = await asyncio.to_thread(call, daemon, "reload", timeout=120, name="web", waiting=True)
        if then is not None:
            await asyncio.to_thread(then)
        await asyncio.sleep(1.0)
    return reply, tally


async def failing_reload_under_load(daemon, port, then=None):
    """:func:`reload_under_load` of a reload that fails; returns (reply, tally, reload_failed payload)."""
    with Subscriber(daemon.pubsub_endpoint) as events:
        events.synchronise(lambda: call(daemon, "set", name="web", options={"hook_timeout": 30}))
        reply, tally = await reload_under_load(daemon, port, then)
        _, payload, _ = events.wait_for(lambda t, p: t == "watcher.web.reload_failed", 10)
    assert reply["status"] == "error" and "keep serving" in reply["reason"], reply
    return reply, tally, payload


def assert_no_loss(tally):
    assert tally.failed == 0, (tally.summary(), tally.failures[:5])
    assert tally.counts["ok"] > 200, tally.summary()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("reload_batch", ["2", "25%"])
@async_test(timeout=170)
async def test_a_rolling_reload_of_uvicorn_loses_no_request(circusd, tmp_path, reload_batch):
    daemon, port = uvicorn_stack(circusd, tmp_path, reload_batch)
    before = pids(daemon)
    reply, tally = await reload_under_load(daemon, port)
    ok(reply)
    assert sorted(reply["info"]["stopped"]) == before
    daemon.wait_log(r"web: rolling reload done in [0-9.]+ s: 8 started, 8 stopped")
    after = pids(daemon)
    assert len(after) == NUMPROCESSES and not set(after) & set(before)
    assert_no_loss(tally)


@pytest.mark.timeout(180)
@async_test(timeout=170)
async def test_a_reload_whose_uvicorns_never_get_ready_keeps_the_old_ones_serving(circusd, tmp_path):
    daemon, port = uvicorn_stack(circusd, tmp_path, 2, ready_timeout=3)
    before = pids(daemon)
    # The new processes serve, but never say READY=1: they must get no connection.
    (tmp_path / "mode").write_text("broken")
    reply, tally, payload = await failing_reload_under_load(daemon, port)
    assert "not ready" in reply["reason"], reply
    assert payload["kept"] == before and len(payload["abandoned"]) == 2, payload
    assert pids(daemon) == before and not_ready(daemon) is None
    assert_no_loss(tally)
    # The socket is the old listener alone again: a next reload rolls as usual.
    (tmp_path / "mode").write_text("good")
    reply, tally = await reload_under_load(daemon, port)
    ok(reply)
    assert not set(pids(daemon)) & set(before)
    assert_no_loss(tally)
    assert http_get_tcp("127.0.0.1", port)


@pytest.mark.timeout(180)
@async_test(timeout=170)
async def test_a_batch_failing_after_the_switch_leaves_the_new_ones_serving_and_refills(circusd, tmp_path):
    daemon, port = uvicorn_stack(circusd, tmp_path, 2, ready_timeout=5)
    before = pids(daemon)
    # The first batch starts well, the second fails its startup, then all starts are good.
    (tmp_path / "mode").write_text("starts YYNN")

    def refilled():
        until(lambda: len(pids(daemon)) == NUMPROCESSES and not_ready(daemon) is None, 60,
              what="the watcher back to 8 ready processes")

    reply, tally, payload = await failing_reload_under_load(daemon, port, then=refilled)
    assert "exited before it was ready" in reply["reason"], reply
    # The old processes got no new connection since the first batch was ready: all stopped.
    assert sorted(payload["stopped"]) == before and len(payload["abandoned"]) == 2, payload
    assert len(payload["kept"]) == 2 and not set(payload["kept"]) & set(before), payload
    assert set(payload["kept"]) <= set(pids(daemon)) and not set(pids(daemon)) & set(before)
    assert_no_loss(tally)
