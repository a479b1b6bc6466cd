"""start, stop, restart, reload and reloadconfig over the control socket of an in-process arbiter."""

import textwrap

import zmq

from circus.arbiter import Arbiter
from circus.client import AsyncCircusClient
from helpers import async_test, controlled, error, ipc_endpoints, ok, pid_alive, until_async


def statuses(arbiter):
    return {w.name: w.status() for w in arbiter.watchers}


def family(workers, names, autostart=False):
    return [{"name": n, "cmd": workers.cmd(n), "autostart": autostart, "graceful_timeout": 2} for n in names]


@async_test
async def test_start_and_stop_one_watcher_report_what_they_did_when_waiting(tmp_path, workers, tracker):
    async with controlled(tmp_path, family(workers, ["web"])) as (arbiter, send):
        info = ok(await send("start", name="web", waiting=True))["info"]
        assert info["kept"] == [] and len(info["started"]) == 1
        again = ok(await send("start", name="WEB", waiting=True))["info"]
        assert again == {"started": [], "kept": info["started"]}
        reply = ok(await send("stop", name="web", waiting=True))
        assert reply["info"] is None and statuses(arbiter) == {"web": "stopped"}
        assert not pid_alive(info["started"][0])


@async_test
async def test_names_match_as_glob_by_default_or_as_regex_or_exactly(tmp_path, workers, tracker):
    async with controlled(tmp_path, family(workers, ["web1", "web2", "api"])) as (arbiter, send):
        reply = ok(await send("start", name="web*", waiting=True))
        assert "info" not in reply
        assert statuses(arbiter) == {"web1": "active", "web2": "active", "api": "stopped"}
        ok(await send("stop", name="w.b1", match="regex", waiting=True))
        assert statuses(arbiter)["web1"] == "stopped"
        error(await send("start", name="web*", match="simple"), 3, "program web* not found")
        error(await send("start", name="nothing*"), 3, "program nothing* not found")
        error(await send("start", name="web", match="fuzzy"), 3, "unknown match method fuzzy")
        error(await send("start", name="(", match="regex"), 3)
        ok(await send("start", name="*", waiting=True))
        assert set(statuses(arbiter).values()) == {"active"}
        ok(await send("stop", waiting=True))
        assert set(statuses(arbiter).values()) == {"stopped"}


@async_test
async def test_start_without_a_name_starts_the_autostart_watchers(tmp_path, workers, tracker):
    watchers = family(workers, ["manual"]) + family(workers, ["auto"], autostart=True)
    async with controlled(tmp_path, watchers) as (arbiter, send):
        ok(await send("stop", waiting=True))
        ok(await send("start", waiting=True))
        assert statuses(arbiter) == {"manual": "stopped", "auto": "active"}


@async_test
async def test_stop_without_waiting_answers_before_the_processes_are_gone(tmp_path, workers, tracker):
    watchers = [{"name": "slow", "cmd": workers.cmd("slow", "ignore-term"), "graceful_timeout": 2}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        pid = (await workers.await_reports("slow", 1))[0]["pid"]
        ok(await send("stop", name="slow"))
        assert pid_alive(pid)
        await until_async(lambda: arbiter.get_watcher("slow").status() == "stopped", timeout=10)
        assert not pid_alive(pid)


@async_test
async def test_restart_of_one_watcher_replaces_its_processes(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 2}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        old = sorted(r["pid"] for r in await workers.await_reports("w", 2))
        info = ok(await send("restart", name="w", waiting=True))["info"]
        assert info["stopped"] == old and len(info["started"]) == 2 and info["kept"] == []
        assert not set(info["started"]) & set(old)


@async_test
async def test_reload_of_one_watcher_is_graceful_unless_terminate(tmp_path, workers, tracker):
    watchers = [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 2, "graceful_timeout": 2}]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        old = sorted(r["pid"] for r in await workers.await_reports("w", 2))
        info = ok(await send("reload", name="w", waiting=True))["info"]
        assert info["stopped"] == old and len(info["started"]) == 2
        info = ok(await send("reload", name="w", graceful=False, waiting=True))["info"]
        assert len(info["stopped"]) == 2 and len(info["started"]) == 2
        info = ok(await send("reload", name="w", sequential=True, waiting=True))["info"]
        assert len(info["stopped"]) == 2 and len(info["started"]) == 2
        error(await send("reload", name="nope"), 3, "program nope not found")


@async_test
async def test_reload_without_a_name_reloads_every_watcher(tmp_path, workers, tracker):
    watchers = [{"name": n, "cmd": workers.cmd(n)} for n in ("a", "b")]
    async with controlled(tmp_path, watchers) as (arbiter, send):
        before = {n: (await workers.await_reports(n, 1))[0]["pid"] for n in ("a", "b")}
        reply = ok(await send("reload", waiting=True))
        assert "info" not in reply
        for name, pid in before.items():
            pids = arbiter.get_watcher(name).pids
            assert len(pids) == 1 and pids != [pid]


INI = """
[circus]
endpoint = {endpoint}
pubsub_endpoint = {pubsub}
check_delay = 0.5

[watcher:a]
cmd = {a}
"""


@async_test
async def test_reloadconfig_applies_a_changed_file_and_refuses_a_broken_one(tmp_path, workers, tracker):
    endpoints = ipc_endpoints(tmp_path)
    ini = tmp_path / "circus.ini"
    base = textwrap.dedent(INI).format(endpoint=endpoints["controller"], pubsub=endpoints["pubsub_endpoint"],
                                       a=workers.cmd("a"))  # fmt: skip
    ini.write_text(base)
    arbiter = Arbiter.load_from_config(str(ini))
    await arbiter.start()
    context = zmq.Context()
    client = AsyncCircusClient(context=context, endpoint=arbiter.endpoint, timeout=15)
    try:
        await workers.await_reports("a", 1)
        ini.write_text(base + "\n[watcher:b]\ncmd = %s\nnumprocesses = 2\n" % workers.cmd("b"))
        changes = ok(await client.send_message("reloadconfig", waiting=True))["changes"]
        assert changes["watchers_added"] == ["b"] and changes["watchers_removed"] == []
        assert statuses(arbiter) == {"a": "active", "b": "active"}
        await workers.await_reports("b", 2)
        ini.write_text(base + "\n[watcher:b]\ncmd = %s\nnumprocesses = many\n" % workers.cmd("b"))
        reply = await client.send_message("reloadconfig", waiting=True)
        assert reply["errno"] == 6 and reply["reason"].startswith("server error: ") and "numprocesses" in reply["reason"]
        assert arbiter.get_watcher("b").numprocesses == 2
    finally:
        client.stop()
        context.term()
        await arbiter.stop()
