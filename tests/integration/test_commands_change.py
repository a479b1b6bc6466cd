"""Commands that change watchers (add, rm, set, incr, decr, kill, signal) over the control socket."""

import os
import signal
import time

import pytest

from helpers import Events, async_test, controlled, ok, pid_alive, until_async
from helpers import error_mentioning as error  # the reasons here are parts of the reason


def live(arbiter, name):
    return sorted(pid for pid in arbiter.get_watcher(name).pids if pid_alive(pid))


# -- add -----------------------------------------------------------------------------------


@async_test
async def test_add_creates_a_stopped_watcher_or_starts_it_when_asked(tmp_path, workers, tracker):
    async with controlled(tmp_path, []) as (arbiter, send):
        async with Events(arbiter) as events:
            ok(await send("add", name="Lazy", cmd=workers.cmd("lazy"), options={"numprocesses": 2}))
            assert (await events.next("watcher.lazy.add"))["time"] > 0
            watcher = arbiter.get_watcher("lazy")
            assert watcher.status() == "stopped" and watcher.numprocesses == 2
            reply = ok(await send("add", name="eager", cmd=workers.cmd("eager"), args=["--x=1"],
                                  options={"env": {"A": "b"}, "graceful_timeout": 2}, start=True, waiting=True))
            assert reply["kept"] == [] and len(reply["started"]) == 1
            report = workers.report("eager", reply["started"][0])
            assert report["argv"][-1] == "--x=1" and report["env"].get("A") == "b"
            ok(await send("add", name="bg", cmd=workers.cmd("bg"), start=True))
            await workers.await_reports("bg", 1)
            assert (await send("status", name="bg"))["status"] == "active"


@async_test
async def test_add_refuses_bad_requests_and_leaves_nothing_behind(tmp_path, workers, tracker):
    async with controlled(tmp_path, [{"name": "taken", "cmd": workers.cmd("t"), "autostart": False}]) as (arbiter, send):
        error(await send("add", name="TAKEN", cmd="x"), 5, "already exists")
        error(await send("add", name="", cmd="x"), 3, "'name' must not be empty")
        error(await send("add", name="a", cmd=""), 3, "cmd")
        error(await send("add", name="a", cmd=["python"]), 3, "cmd")
        error(await send("add", name="a", cmd="x", options={"priority": 3}), 3, "'priority'")
        error(await send("add", name="a", cmd="x", options={"colour": "blue"}), 3, "unknown key 'colour'")
        error(await send("add", name="a", cmd="x", options={"numprocesses": "2"}), 3, "numprocesses")
        error(await send("add", name="a", cmd="x", options={"env": {"A": 1}}), 3, "env")
        error(await send("add", name="a", cmd="x", options={"singleton": True, "numprocesses": 3}), 3)
        error(await send("add", name="a", cmd="x", start="yes"), 3, "'start'")
        assert ok(await send("list"))["watchers"] == ["taken"]


@pytest.mark.skipif(os.geteuid() != 0, reason="endpoint_owner needs root")
@async_test
async def test_with_an_endpoint_owner_add_and_set_only_accept_that_user(tmp_path, workers, tracker):
    async with controlled(tmp_path, [], endpoint_owner="nobody") as (arbiter, send):
        error(await send("add", name="a", cmd=workers.cmd("a")), 3, "uid does not match endpoint_owner")
        error(await send("add", name="a", cmd=workers.cmd("a"), options={"uid": "root"}), 3, "endpoint_owner")
        ok(await send("add", name="a", cmd=workers.cmd("a"), options={"uid": "nobody"}))
        ok(await send("add", name="b", cmd=workers.cmd("b"), options={"uid": 65534}))
        error(await send("set", name="a", options={"uid": 0}), 3, "endpoint_owner")
        ok(await send("set", name="a", options={"numprocesses": 2}, waiting=True))


# -- rm ------------------------------------------------------------------------------------


@async_test
async def test_rm_stops_and_forgets_the_watcher(tmp_path, workers, tracker):
    watchers = [{"name": "doomed", "cmd": workers.cmd("d"), "numprocesses": 2},
                {"name": "other", "cmd": workers.cmd("other"), "autostart": False}]  # fmt: skip
    async with controlled(tmp_path, watchers) as (arbiter, send):
        pids = [r["pid"] for r in await workers.await_reports("d", 2)]
        async with Events(arbiter) as events:
            ok(await send("rm", name="DOOMED", waiting=True))
            assert (await events.next("watcher.doomed.remove"))["time"] > 0
        assert not any(pid_alive(pid) for pid in pids)
        assert ok(await send("list"))["watchers"] == ["other"]
        error(await send("rm", name="doomed"), 3, "program doomed not found")


@async_test
async def test_rm_nostop_leaves_the_processes_running(tmp_path, workers, tracker):
    async with controlled(tmp_path, [{"name": "kept", "cmd": workers.cmd("k")}]) as (arbiter, send):
        pid = (await workers.await_reports("k", 1))[0]["pid"]
        try:
            ok(await send("rm", name="kept", nostop=True, waiting=True))
            assert ok(await send("list"))["watchers"] == [] and pid_alive(pid)
        finally:
            os.kill(pid, signal.SIGKILL)
        await until_async(lambda: not pid_alive(pid))


# -- set -----------------------------------------------------------------------------------


@async_test
async def test_set_applies_options_and_restarts_processes_only_when_needed(tmp_path, workers, tracker):
    async with controlled(tmp_path, [{"name": "w", "cmd": workers.cmd("w")}]) as (arbiter, send):
        first = (await workers.await_reports("w", 1))[0]["pid"]
        ok(await send("set", name="w", options={"graceful_timeout": 4, "numprocesses": 2}, waiting=True))
        assert ok(await send("get", name="w", keys=["graceful_timeout"]))["options"] == {"graceful_timeout": 4.0}
        assert first in live(arbiter, "w") and len(live(arbiter, "w")) == 2
        ok(await send("set", name="w", options={"env": {"NEW": "1"}}, waiting=True))
        pids = live(arbiter, "w")
        assert first not in pids and len(pids) == 2
        assert all(workers.report("w", pid)["env"].get("NEW") == "1" for pid in pids)


@async_test
async def test_set_refuses_unknown_read_only_and_mistyped_options(tmp_path, workers, tracker):
    async with controlled(tmp_path, [{"name": "w", "cmd": workers.cmd("w"), "autostart": False}]) as (arbiter, send):
        error(await send("set", name="w", options={"colour": "blue"}), 3, "unknown key 'colour'")
        error(await send("set", name="w", options={"use_sockets": True}), 3, "cannot be changed")
        error(await send("set", name="w", options={"numprocesses": -1}), 3, "numprocesses")
        error(await send("set", name="w", options={}), 3, "empty")
        error(await send("set", name="w", options=[]), 3, "'options'")
        error(await send("set", name="nope", options={"numprocesses": 1}), 3, "program nope not found")
        assert arbiter.get_watcher("w").numprocesses == 1


# -- incr / decr ----------------------------------------------------------------------------


@async_test
async def test_incr_and_decr_change_the_count_and_report_it_when_waiting(tmp_path, workers, tracker):
    async with controlled(tmp_path, [{"name": "w", "cmd": workers.cmd("w")}]) as (arbiter, send):
        await workers.await_reports("w", 1)
        assert ok(await send("incr", name="w", waiting=True))["numprocesses"] == 2
        assert ok(await send("incr", name="w", nb=2, waiting=True))["numprocesses"] == 4
        assert len(live(arbiter, "w")) == 4
        reply = ok(await send("decr", name="w", nb=3))
        assert "numprocesses" not in reply
        await until_async(lambda: len(live(arbiter, "w")) == 1)
        assert ok(await send("decr", name="w", nb=5, waiting=True))["numprocesses"] == 0
        error(await send("incr", name="w", nb=-1), 3)


@async_test
async def test_a_singleton_is_left_alone_by_decr_and_refuses_an_incr_past_one(tmp_path, workers, tracker):
    async with controlled(tmp_path, [{"name": "one", "cmd": workers.cmd("o"), "singleton": True}]) as (arbiter, send):
        reply = ok(await send("decr", name="one", waiting=True))
        assert (reply["numprocesses"], reply["singleton"]) == (1, True)
        for waiting in (True, False):
            reason = error(await send("incr", name="one", waiting=waiting), 3)["reason"]
            assert reason == "watcher 'one' is a singleton: it runs at most 1 process, not 2"
        assert arbiter.get_watcher("one").numprocesses == 1


# -- kill -----------------------------------------------------------------------------------


@async_test
async def test_kill_stops_one_process_which_the_watcher_replaces(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w", "ignore-term"), "numprocesses": 2, "graceful_timeout": 1}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        victim, other = [r["pid"] for r in await workers.await_reports("w", 2)]
        started = time.monotonic()
        ok(await send("kill", name="w", pid=victim, signum="KILL", waiting=True))
        assert time.monotonic() - started < 10 and not pid_alive(victim)
        await until_async(lambda: len(live(arbiter, "w")) == 2 and victim not in live(arbiter, "w"))
        assert other in live(arbiter, "w")
        ok(await send("kill", name="w", pid=1))  # not one of its processes: nothing happens
        error(await send("kill", name="w", signum="NOPE"), 3, "signal invalid")


@async_test
async def test_kill_without_pid_stops_every_process_after_the_graceful_timeout(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w", "ignore-term"), "numprocesses": 2}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        old = [r["pid"] for r in await workers.await_reports("w", 2)]
        ok(await send("kill", name="w", graceful_timeout=0.2, waiting=True))
        assert not any(pid_alive(pid) for pid in old)
        await until_async(lambda: len(live(arbiter, "w")) == 2)


# -- signal ---------------------------------------------------------------------------------


@async_test
async def test_signal_reaches_every_process_or_the_one_named(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w", "ignore-term", "record-stop"), "numprocesses": 2,
                 "graceful_timeout": 0.5}]  # fmt: skip
    async with controlled(tmp_path, watchers) as (arbiter, send):
        first, second = [r["pid"] for r in await workers.await_reports("w", 2)]
        ok(await send("signal", name="w", pid=first, signum="SIGTERM"))
        await until_async(lambda: [s["pid"] for s in workers.stops("w")] == [first])
        ok(await send("signal", name="w", signum=int(signal.SIGINT)))
        await until_async(lambda: {(s["pid"], s["signal"]) for s in workers.stops("w")}
                          == {(first, signal.SIGINT), (second, signal.SIGINT)})
        assert pid_alive(first) and pid_alive(second)
        ok(await send("signal", name="w", pid=1, signum="TERM"))  # not one of its processes
        error(await send("signal", name="w", signum="NOPE"), 3, "signal invalid")
        error(await send("signal", name="w", childpid=3, signum="TERM"), 3, "'childpid' needs 'pid'")
        error(await send("signal", name="w"), 3, "'signum' is missing")


@async_test
async def test_signal_children_reaches_the_children_and_spares_the_worker(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w", "fork-child"), "graceful_timeout": 1, "stop_children": True}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        report = (await workers.await_reports("w", 1))[0]
        worker, child = report["pid"], report["grandchild"]
        ok(await send("signal", name="w", pid=worker, childpid=child, signum="KILL"))
        await until_async(lambda: not pid_alive(child))
        assert pid_alive(worker)
        error(await send("signal", name="w", pid=worker, childpid=os.getpid(), signum="KILL"), 3, "not a child")


@async_test
async def test_signal_children_spares_the_worker_and_recursive_reaches_both(tmp_path, workers, tracker):
    flags = ("fork-child", "ignore-term", "record-stop")
    watchers = [{"name": "a", "cmd": workers.cmd("a", *flags), "graceful_timeout": 1, "stop_children": True},
                {"name": "b", "cmd": workers.cmd("b", *flags), "graceful_timeout": 1, "stop_children": True}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        a = (await workers.await_reports("a", 1))[0]
        b = (await workers.await_reports("b", 1))[0]
        ok(await send("signal", name="a", signum="TERM", children=True))
        await until_async(lambda: not pid_alive(a["grandchild"]))
        assert pid_alive(a["pid"]) and workers.stops("a") == []
        ok(await send("signal", name="b", signum="TERM", recursive=True))
        await until_async(lambda: not pid_alive(b["grandchild"]) and len(workers.stops("b")) == 1)
        assert pid_alive(b["pid"])
