"""Read-only commands over the control socket of an in-process arbiter."""

import os
import sys


from circus.sockets import CircusSocket
from helpers import async_test, controlled, error
from helpers import not_error as ok  # the status command's status is a watcher's


def two_watchers(workers):
    return [
        {"name": "Web", "cmd": workers.cmd("web"), "numprocesses": 2, "custom_opt": "hello",
         "env": {"FOO": "bar"}},
        {"name": "idle", "cmd": workers.cmd("idle"), "autostart": False},
    ]  # fmt: skip


@async_test
async def test_status_of_every_watcher_keeps_the_names_case_and_one_watcher_gives_its_state(tmp_path, workers, tracker):
    async with controlled(tmp_path, two_watchers(workers)) as (arbiter, send):
        assert ok(await send("status"))["statuses"] == {"Web": "active", "idle": "stopped"}
        reply = ok(await send("status", name="web"))
        assert reply["status"] == "active"
        assert ok(await send("status", name="IDLE"))["status"] == "stopped"
        error(await send("status", name="nope"), 3, "program nope not found")


@async_test
async def test_list_gives_lower_case_names_or_the_live_pids(tmp_path, workers, tracker):
    async with controlled(tmp_path, two_watchers(workers)) as (arbiter, send):
        reports = await workers.await_reports("web", 2)
        assert ok(await send("list"))["watchers"] == ["idle", "web"]
        assert ok(await send("list", name="Web"))["pids"] == sorted(r["pid"] for r in reports)
        assert ok(await send("list", name="idle"))["pids"] == []
        error(await send("list", name="nope"), 3)


@async_test
async def test_numprocesses_and_numwatchers_count(tmp_path, workers, tracker):
    async with controlled(tmp_path, two_watchers(workers)) as (arbiter, send):
        await workers.await_reports("web", 2)
        assert ok(await send("numprocesses"))["numprocesses"] == 2
        reply = ok(await send("numprocesses", name="web"))
        assert (reply["numprocesses"], reply["watcher_name"]) == (2, "web")
        assert ok(await send("numwatchers"))["numwatchers"] == 2


@async_test
async def test_options_lists_every_option_with_freeform_keys(tmp_path, workers, tracker):
    async with controlled(tmp_path, two_watchers(workers)) as (arbiter, send):
        options = ok(await send("options", name="web"))["options"]
        assert options["numprocesses"] == 2 and options["custom_opt"] == "hello"
        assert options["env"] == {"FOO": "bar"} and options["cmd"] == workers.cmd("web")
        assert options["graceful_timeout"] == 30.0 and options["stop_signal"] == 15
        error(await send("options"), 3, "message invalid 'name' is missing")


@async_test
async def test_get_returns_the_keys_asked_and_refuses_unknown_ones(tmp_path, workers, tracker):
    async with controlled(tmp_path, two_watchers(workers)) as (arbiter, send):
        reply = ok(await send("get", name="web", keys=["numprocesses", "custom_opt", "singleton"]))
        assert reply["options"] == {"numprocesses": 2, "custom_opt": "hello", "singleton": False}
        assert list(reply["options"]) == ["numprocesses", "custom_opt", "singleton"]
        error(await send("get", name="web", keys=["nope"]), 3, "'nope' option not found")
        error(await send("get", name="web", keys="numprocesses"), 3)


@async_test
async def test_globaloptions_gives_the_endpoints_and_check_delay(tmp_path, tracker):
    async with controlled(tmp_path, []) as (arbiter, send):
        options = ok(await send("globaloptions"))["options"]
        assert set(options) == {"endpoint", "pubsub_endpoint", "stats_endpoint", "multicast_endpoint", "check_delay"}
        assert options["endpoint"] == arbiter.endpoint and options["check_delay"] == 0.5
        assert ok(await send("globaloptions", option="endpoint"))["options"] == {"endpoint": arbiter.endpoint}
        error(await send("globaloptions", option="nope"), 3, "'nope' not an existing option")


@async_test
async def test_listsockets_lists_network_and_unix_sockets_by_fd(tmp_path, tracker):
    sockets = [CircusSocket("web", host="127.0.0.1", port=0, backlog=5),
               CircusSocket("local", path=str(tmp_path / "local.sock"))]  # fmt: skip
    async with controlled(tmp_path, [], sockets=sockets) as (arbiter, send):
        listed = ok(await send("listsockets"))["sockets"]
        assert [s["fd"] for s in listed] == sorted(s.fileno() for s in sockets)
        by_name = {s["name"]: s for s in listed}
        assert by_name["web"]["host"] == "127.0.0.1" and by_name["web"]["port"] == sockets[0].port != 0
        assert by_name["web"]["backlog"] == 5
        assert by_name["local"]["path"] == str(tmp_path / "local.sock") and "port" not in by_name["local"]


STATS_HOOK = '''
def extra(watcher, arbiter, hook_name, pid, stats):
    stats["extra"] = "hello %d" % pid
'''


@async_test
async def test_stats_of_everything_one_watcher_one_process_and_extended(tmp_path, workers, tracker):
    (tmp_path / "statshook.py").write_text(STATS_HOOK)
    sys.path.insert(0, str(tmp_path))
    watchers = two_watchers(workers)
    watchers[0]["hooks"] = {"extended_stats": "statshook.extra"}
    try:
        async with controlled(tmp_path, watchers) as (arbiter, send):
            pids = sorted(r["pid"] for r in await workers.await_reports("web", 2))
            infos = ok(await send("stats"))["infos"]
            assert set(infos) == {"Web", "idle"} and infos["idle"] == {}
            assert sorted(int(pid) for pid in infos["Web"]) == pids
            reply = ok(await send("stats", name="web"))
            assert reply["name"] == "web" and sorted(map(int, reply["info"])) == pids
            info = reply["info"][str(pids[0])]
            assert info["pid"] == pids[0] and info["cmdline"] and "mem_info1" in info and "extra" not in info
            reply = ok(await send("stats", name="web", process=pids[1], extended=True))
            assert reply["process"] == pids[1] and reply["info"]["extra"] == "hello %d" % pids[1]
            error(await send("stats", name="web", process=1), 3, "process 1 not found in 'web'")
            error(await send("stats", process=pids[0]), 3)
    finally:
        sys.path.remove(str(tmp_path))


@async_test
async def test_dstats_describes_circusd_and_its_children(tmp_path, workers, tracker):
    async with controlled(tmp_path, two_watchers(workers)) as (arbiter, send):
        pids = {r["pid"] for r in await workers.await_reports("web", 2)}
        info = ok(await send("dstats"))["info"]
        assert info["pid"] == os.getpid()
        assert pids <= {child["pid"] for child in info["children"]}


@async_test
async def test_listen_on_the_control_socket_says_to_use_pubsub(tmp_path, tracker):
    async with controlled(tmp_path, []) as (arbiter, send):
        error(await send("listen"), 3, "invalid message. use a pub/sub socket")


@async_test
async def test_ipython_without_ipykernel_says_what_to_install(tmp_path, tracker):
    import importlib.util

    import pytest

    if importlib.util.find_spec("ipykernel") is not None:
        pytest.skip("ipykernel is installed")
    async with controlled(tmp_path, []) as (arbiter, send):
        reply = error(await send("ipython"), 3)
        assert "pip install ipykernel" in reply["reason"]
