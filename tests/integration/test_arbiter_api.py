"""The arbiter through the public Python API, in this process."""

import asyncio
import os
import sys

import pytest
import zmq

from circus import get_arbiter
from helpers import async_test, ipc_endpoints, live_pids, pid_alive, running_arbiter, until


def test_a_background_arbiter_starts_its_watchers_and_stops_them_from_the_test_thread(tmp_path, workers, tracker):
    arbiter = get_arbiter([{"cmd": workers.cmd("bg"), "numprocesses": 2, "name": "bg"}],
                          background=True, **ipc_endpoints(tmp_path))
    arbiter.start()
    try:
        reports = workers.wait_reports("bg", 2)
        pids = sorted(r["pid"] for r in reports)
        watcher = arbiter.get_watcher("bg")
        until(lambda: live_pids(watcher) == pids, what="watcher to own %s" % pids)
        assert watcher.status() == "active"
        assert arbiter.numprocesses() == 2
        assert arbiter.running
    finally:
        arbiter.stop()
    assert not arbiter.is_alive(), "the arbiter thread is still running after stop()"
    assert not arbiter.running
    assert not any(pid_alive(pid) for pid in pids)


def test_a_background_arbiter_runs_coroutines_on_its_loop(tmp_path, workers, tracker):
    arbiter = get_arbiter([{"cmd": workers.cmd("bg"), "name": "bg"}], background=True, **ipc_endpoints(tmp_path))
    arbiter.start()
    try:
        workers.wait_reports("bg", 1)
        loop = arbiter.loop
        assert loop is not None, "ThreadedArbiter.loop should be the loop of its thread once started"
        loop = getattr(loop, "asyncio_loop", loop)
        watcher = arbiter.get_watcher("bg")
        future = asyncio.run_coroutine_threadsafe(watcher.incr(2), loop)
        assert future.result(10) == 3
        workers.wait_reports("bg", 3)
    finally:
        arbiter.stop()


def test_a_taken_pub_sub_endpoint_fails_the_start_with_one_clear_line_and_starts_nothing(tmp_path, workers, tracker):
    context = zmq.Context()
    holder = context.socket(zmq.PUB)
    holder.linger = 0
    endpoint = "tcp://127.0.0.1:%d" % holder.bind_to_random_port("tcp://127.0.0.1")
    try:
        options = dict(ipc_endpoints(tmp_path), pubsub_endpoint=endpoint)
        arbiter = get_arbiter([{"cmd": workers.cmd("never"), "name": "never"}], background=True, **options)
        with pytest.raises(OSError) as caught:
            arbiter.start()
        assert str(caught.value) == "cannot bind the pub/sub endpoint %s: Address already in use" % endpoint
        assert not arbiter.running and arbiter.evpub_socket is None
        assert arbiter.get_watcher("never").pids == [] and workers.reports("never") == []
    finally:
        holder.close()
        context.term()


def test_the_name_of_a_watcher_defaults_to_the_basename_of_its_program(tmp_path, workers, tracker):
    spec = {"cmd": workers.cmd("named")}
    arbiter = get_arbiter([spec], **ipc_endpoints(tmp_path))
    assert spec["name"] == os.path.basename(sys.executable)
    assert arbiter.get_watcher(spec["name"].upper()).name == spec["name"]


@async_test
async def test_an_arbiter_on_the_callers_loop_starts_watchers_in_priority_order(tmp_path, workers, tracker):
    watchers = [{"name": "p%d" % p, "cmd": workers.cmd("p%d" % p), "priority": p} for p in (1, 3, 2)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        assert [w.name for w in arbiter.iter_watchers()] == ["p3", "p2", "p1"]
        # Pids are handed out in fork order (a wrap-around would be 30000 apart).
        forked = [(await workers.await_reports("p%d" % p, 1))[0]["pid"] for p in (3, 2, 1)]
        assert forked == sorted(forked) or max(forked) - min(forked) > 30000, forked
        assert arbiter.statuses() == {"p1": "active", "p2": "active", "p3": "active"}
        assert arbiter.numwatchers() == 3
    assert all(w.is_stopped() for w in arbiter.watchers)


@async_test
async def test_arbiter_stop_stops_every_watcher_and_their_processes(tmp_path, workers, tracker):
    watchers = [{"name": "a", "cmd": workers.cmd("a"), "numprocesses": 2, "graceful_timeout": 1},
                {"name": "b", "cmd": workers.cmd("b", "ignore-term"), "graceful_timeout": 1}]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        reports = await workers.await_reports("a", 2) + await workers.await_reports("b", 1)
    assert not arbiter.running
    assert not any(pid_alive(r["pid"]) for r in reports)


@async_test
async def test_add_watcher_builds_a_stopped_watcher_that_starts_on_demand(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, []) as arbiter:
        watcher = arbiter.add_watcher("late", workers.cmd("late"), numprocesses=2)
        assert watcher.is_stopped() and arbiter.get_watcher("LATE") is watcher
        result = await watcher.start()
        reports = await workers.await_reports("late", 2)
        assert sorted(result["started"]) == sorted(r["pid"] for r in reports)
        await arbiter.rm_watcher("late")
        assert "late" not in [w.name for w in arbiter.watchers]
        assert not any(pid_alive(pid) for pid in result["started"])
