"""The event catalogue (spec/protocol.md §6) as a real SUB socket sees it.

Every lifecycle fact of an in-process arbiter is checked for its topic, the
exact keys (and types) of its payload, and its place in the sequences of the
"Observed sequences" table, with our fix: every process that leaves a
watcher, whatever removed it, is reaped with its exit code.
"""

import contextlib
import signal
import textwrap
import time

from circus.arbiter import Arbiter
from helpers import (Events, async_test, client_of, ipc_endpoints, live_pids, not_error, pid_alive, python,
                     running_arbiter, until_async)

# The exact payload keys of each event.
PAYLOAD_KEYS = {
    "spawn": {"process_pid", "time"},
    "reap": {"process_pid", "time", "exit_code"},
    "kill": {"process_pid", "time"},
    "start": {"time"},
    "stop": {"time"},
    "reload": {"time"},
    "updated": {"time"},
    "add": {"time"},
    "remove": {"time"},
    "hook_success": {"name", "time"},
    "hook_failure": {"name", "time", "error"},
}
PAYLOAD_TYPES = {"time": float, "process_pid": int, "exit_code": int, "name": str, "error": str}


class Catalogue(Events):
    """Every ``watcher.`` event of an arbiter (see helpers.Events); leaving
    checks every received payload against PAYLOAD_KEYS."""

    def __init__(self, arbiter):
        super().__init__(arbiter)
        self.started = time.time()

    async def __aexit__(self, *exc):
        await super().__aexit__(*exc)
        if exc[0] is None:
            self.check_payloads()

    def check_payloads(self):
        """Each payload has exactly its event's keys, with the right types and a current time."""
        for topic, payload, _ in self.received:
            action = topic.rsplit(".", 1)[1]
            assert action in PAYLOAD_KEYS, "unknown event %s %s" % (topic, payload)
            assert set(payload) == PAYLOAD_KEYS[action], "%s: %s" % (topic, payload)
            for key, value in payload.items():
                assert isinstance(value, PAYLOAD_TYPES[key]) and not isinstance(value, bool), (topic, payload)
            assert self.started - 1 <= payload["time"] <= time.time() + 1, (topic, payload)

    def arrivals(self, watcher, action):
        prefix = "watcher.%s.%s" % (watcher, action)
        return [at for t, _, at in self.received if t == prefix]

    def clear(self):
        self.check_payloads()
        super().clear()


@contextlib.asynccontextmanager
async def watching(tmp_path, watchers, **kw):
    """A running arbiter and a Catalogue of its events."""
    async with running_arbiter(tmp_path, watchers, **kw) as arbiter:
        async with Catalogue(arbiter) as events:
            yield arbiter, events


@contextlib.asynccontextmanager
async def control(arbiter):
    """``call(command, **props)`` over the arbiter's control socket; error replies fail."""
    async with client_of(arbiter) as client:

        async def call(command, **props):
            return not_error(await client.send_message(command, **props))

        yield call


def spec(workers, name, *flags, **options):
    options.setdefault("graceful_timeout", 2)
    return dict(name=name, cmd=workers.cmd(name, *flags), **options)


def pids_of(payloads):
    return sorted(p["process_pid"] for p in payloads)


async def running_pids(watcher, count, workers=None):
    """The pids once ``watcher`` runs ``count`` processes; with ``workers``, once each is
    ready (its SIGTERM handler installed, so that it exits 0 when stopped)."""
    await until_async(lambda: len(live_pids(watcher)) == count and len(watcher.pids) == count,
                      what="%d processes of %s" % (count, watcher.name))  # fmt: skip
    pids = live_pids(watcher)
    if workers is not None:
        await until_async(lambda: {r["pid"] for r in workers.reports(watcher.name)} >= set(pids),
                          what="the reports of %s %s" % (watcher.name, pids))  # fmt: skip
    return pids


# -- start and stop ---------------------------------------------------------------


@async_test
async def test_start_publishes_hook_success_then_a_spawn_per_process_then_start(tmp_path, workers, tracker):
    w = spec(workers, "web", numprocesses=2, autostart=False, hooks={"before_start": (lambda **kw: True, False)})
    async with watching(tmp_path, [w]) as (arbiter, events):
        watcher = arbiter.get_watcher("web")
        await watcher.start()
        await events.wait("web", "start")
        assert events.actions("web") == ["hook_success", "spawn", "spawn", "start"]
        assert events.of("web", "hook_success")[0]["name"] == "before_start"
        spawns = events.of("web", "spawn")
        assert pids_of(spawns) == watcher.pids
        for spawn in spawns:  # the time of a spawn is the process's start time
            assert abs(spawn["time"] - watcher.processes[spawn["process_pid"]].started) < 1e-3


@async_test
async def test_stop_publishes_a_kill_per_process_then_their_reaps_then_stop(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "web", numprocesses=2)]) as (arbiter, events):
        watcher = arbiter.get_watcher("web")
        pids = await running_pids(watcher, 2, workers)
        await watcher.stop()
        await events.wait("web", "stop")
        assert events.actions("web") == ["kill", "kill", "reap", "reap", "stop"]
        assert pids_of(events.of("web", "kill")) == pids == pids_of(events.of("web", "reap"))
        assert {r["exit_code"] for r in events.of("web", "reap")} == {0}  # the worker exits 0 on SIGTERM


@async_test
async def test_a_process_ignoring_sigterm_gets_two_kills_then_a_reap_with_minus_9(tmp_path, workers, tracker):
    stubborn = spec(workers, "stubborn", "ignore-term", graceful_timeout=0.5)
    async with watching(tmp_path, [stubborn]) as (arbiter, events):
        watcher = arbiter.get_watcher("stubborn")
        (pid,) = await running_pids(watcher, 1)
        await workers.await_reports("stubborn", 1)  # its SIGTERM handler is installed
        await watcher.stop()
        await events.wait("stubborn", "stop")
        assert events.actions("stubborn") == ["kill", "kill", "reap", "stop"]
        first, second = events.arrivals("stubborn", "kill")
        assert second - first >= 0.45, "SIGKILL came %.2fs after SIGTERM, graceful_timeout is 0.5" % (second - first)
        (reap,) = events.of("stubborn", "reap")
        assert (reap["process_pid"], reap["exit_code"]) == (pid, -signal.SIGKILL)


# -- processes leaving a running watcher -----------------------------------------


@async_test
async def test_decr_publishes_kill_and_reap_for_each_removed_process(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "web", numprocesses=3)]) as (arbiter, events):
        watcher = arbiter.get_watcher("web")
        await running_pids(watcher, 3, workers)
        oldest = [p.pid for p in sorted(watcher.processes.values())][:2]
        await watcher.decr(2)
        reaps = await events.wait("web", "reap", 2)
        assert sorted(events.actions("web")) == ["kill", "kill", "reap", "reap"]
        assert pids_of(events.of("web", "kill")) == sorted(oldest) == pids_of(reaps)
        assert {r["exit_code"] for r in reaps} == {0}


@async_test
async def test_the_kill_command_publishes_kill_reap_then_the_replacement_spawn(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "web")]) as (arbiter, events), control(arbiter) as call:
        (pid,) = await running_pids(arbiter.get_watcher("web"), 1, workers)
        await call("kill", name="web", pid=pid, waiting=True)
        (spawn,) = await events.wait("web", "spawn")
        assert events.actions("web") == ["kill", "reap", "spawn"]
        assert events.of("web", "kill")[0]["process_pid"] == pid
        assert (events.of("web", "reap")[0]["process_pid"], events.of("web", "reap")[0]["exit_code"]) == (pid, 0)
        assert spawn["process_pid"] != pid


@async_test
async def test_max_age_publishes_kill_reap_then_spawn(tmp_path, workers, tracker):
    aging = spec(workers, "aging", max_age=1, max_age_variance=0)
    async with watching(tmp_path, [aging]) as (arbiter, events):
        (pid,) = await running_pids(arbiter.get_watcher("aging"), 1, workers)
        (spawn,) = await events.wait("aging", "spawn", timeout=15)
        assert events.actions("aging")[:3] == ["kill", "reap", "spawn"]
        assert [p["process_pid"] for p in events.of("aging", "kill")][:1] == [pid]
        reap = events.of("aging", "reap")[0]
        assert (reap["process_pid"], reap["exit_code"]) == (pid, 0)
        assert spawn["process_pid"] != pid


CRASH_ONCE = """
import os, sys, time
flag = sys.argv[1]
if not os.path.exists(flag):
    open(flag, "w").close()
    sys.exit(3)
while True:
    time.sleep(60)
"""


@async_test
async def test_a_crash_publishes_reap_with_its_exit_code_then_spawn_at_once(tmp_path, tracker):
    crasher = {"name": "crash", "cmd": python(CRASH_ONCE, tmp_path / "crashed"), "graceful_timeout": 2}
    # check_delay 30: the respawn must not wait for the periodic check.
    async with running_arbiter(tmp_path, [dict(crasher, autostart=False)], check_delay=30) as arbiter:
        async with Catalogue(arbiter) as events:
            started = time.monotonic()
            await arbiter.get_watcher("crash").start()
            await events.wait("crash", "spawn", 2)
            assert time.monotonic() - started < 10
            # The first process may die before or after the watcher is declared started.
            assert [a for a in events.actions("crash") if a != "start"] == ["spawn", "reap", "spawn"]
            first, second = events.of("crash", "spawn")
            (reap,) = events.of("crash", "reap")
            assert (reap["process_pid"], reap["exit_code"]) == (first["process_pid"], 3)
            assert pid_alive(second["process_pid"])


# -- reload and restart -------------------------------------------------------


@async_test
async def test_a_graceful_reload_publishes_new_spawns_then_kill_and_reap_of_the_old_then_reload(
    tmp_path, workers, tracker
):
    async with watching(tmp_path, [spec(workers, "web", numprocesses=2)]) as (arbiter, events):
        watcher = arbiter.get_watcher("web")
        old = await running_pids(watcher, 2)
        await watcher.reload()
        await events.wait("web", "reload")
        actions = events.actions("web")
        assert actions[:2] == ["spawn", "spawn"] and actions[-1] == "reload", actions
        assert sorted(actions[2:-1]) == ["kill", "kill", "reap", "reap"], actions
        assert actions.index("reap") > actions.index("kill")
        new = pids_of(events.of("web", "spawn"))
        assert not set(new) & set(old)
        assert pids_of(events.of("web", "kill")) == old == pids_of(events.of("web", "reap"))


@async_test
async def test_a_sequential_reload_publishes_kill_reap_spawn_per_process_then_reload(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "web", numprocesses=2)]) as (arbiter, events):
        watcher = arbiter.get_watcher("web")
        old = await running_pids(watcher, 2)
        await watcher.reload(sequential=True)
        await events.wait("web", "reload")
        assert events.actions("web") == ["kill", "reap", "spawn"] * 2 + ["reload"]
        events_ = events.events("web")
        for index in (0, 3):  # each kill is followed by the reap of the same process
            assert events_[index][1]["process_pid"] == events_[index + 1][1]["process_pid"]
        assert pids_of(events.of("web", "reap")) == old


@async_test
async def test_restart_and_non_graceful_reload_publish_the_stop_then_the_start_sequence(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "web", numprocesses=2)]) as (arbiter, events), \
            control(arbiter) as call:  # fmt: skip
        watcher = arbiter.get_watcher("web")
        await running_pids(watcher, 2)
        stop_then_start = ["kill", "kill", "reap", "reap", "stop", "spawn", "spawn", "start"]
        await call("restart", name="web", waiting=True)
        await events.wait("web", "start")
        assert events.actions("web") == stop_then_start
        events.clear()
        await call("reload", name="web", graceful=False, waiting=True)
        await events.wait("web", "start")
        assert events.actions("web") == stop_then_start, "no reload event after graceful=false"


# -- changes of the watcher list and of options -----------------------------------


@async_test
async def test_set_publishes_one_updated_per_key(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "web")]) as (arbiter, events), control(arbiter) as call:
        pids = await running_pids(arbiter.get_watcher("web"), 1)
        await call("set", name="web", options={"graceful_timeout": 3, "max_retry": 7}, waiting=True)
        await events.flush()
        assert events.actions("web") == ["updated"] * 2
        assert live_pids(arbiter.get_watcher("web")) == pids


@async_test
async def test_add_and_rm_publish_add_then_remove_followed_by_the_stop_sequence(tmp_path, workers, tracker):
    async with watching(tmp_path, []) as (arbiter, events), control(arbiter) as call:
        await call("add", name="Extra", cmd=workers.cmd("extra"), options={"numprocesses": 2}, start=True,
                   waiting=True)  # fmt: skip
        await events.wait("extra", "start")
        assert events.actions("extra") == ["add", "spawn", "spawn", "start"]
        await call("rm", name="extra", waiting=True)
        await events.wait("extra", "stop")
        assert events.actions("extra")[4:] == ["remove", "kill", "kill", "reap", "reap", "stop"]


@async_test
async def test_topics_use_the_lower_cased_name_with_underscores_for_spaces(tmp_path, workers, tracker):
    async with watching(tmp_path, [spec(workers, "Web Site", autostart=False)]) as (arbiter, events):
        await arbiter.get_watcher("web site").start()
        await events.wait("web_site", "start")
        assert {t for t, _, _ in events.received} == {"watcher.web_site.spawn", "watcher.web_site.start"}


# -- hooks --------------------------------------------------------------------


def failing(message):
    def hook(**kwargs):
        raise ValueError(message)

    return hook


@async_test
async def test_a_failing_before_start_hook_publishes_hook_failure_and_nothing_else(tmp_path, workers, tracker):
    w = spec(workers, "web", autostart=False, hooks={"before_start": (failing("no start today"), False)})
    async with watching(tmp_path, [w]) as (arbiter, events):
        watcher = arbiter.get_watcher("web")
        await watcher.start()
        await events.flush()
        # The start is aborted before anything happened: no stop event (spec/python-api.md §6).
        assert events.actions("web") == ["hook_failure"]
        (failure,) = events.of("web", "hook_failure")
        assert failure["name"] == "before_start" and "no start today" in failure["error"]
        assert watcher.status() == "stopped" and watcher.pids == []


@async_test
async def test_a_failing_after_start_hook_publishes_hook_failure_then_the_stop_sequence(tmp_path, workers, tracker):
    hooks = {"before_start": (lambda **kw: True, False), "after_start": (failing("not today"), False)}
    async with watching(tmp_path, [spec(workers, "web", autostart=False, hooks=hooks)]) as (arbiter, events):
        await arbiter.get_watcher("web").start()
        await events.wait("web", "stop")
        assert events.actions("web") == ["hook_success", "spawn", "hook_failure", "kill", "reap", "stop"]
        assert [p["name"] for p in events.of("web", "hook_success")] == ["before_start"]
        (failure,) = events.of("web", "hook_failure")
        assert failure["name"] == "after_start" and "not today" in failure["error"]


# -- reloadconfig -----------------------------------------------------------------

INI = """
[circus]
endpoint = {endpoint}
pubsub_endpoint = {pubsub}
multicast_endpoint = udp://237.219.251.97:0
check_delay = 5

[watcher:keep]
cmd = {keep}
graceful_timeout = 2

[watcher:gone]
cmd = {gone}
numprocesses = 2
graceful_timeout = 2

[watcher:change]
cmd = {change}
graceful_timeout = 2

[watcher:size]
cmd = {size}
graceful_timeout = 2
numprocesses = {size_n}
"""


@async_test
async def test_reloadconfig_publishes_remove_and_reaps_for_removed_and_replaced_watchers(tmp_path, workers, tracker):
    endpoints = ipc_endpoints(tmp_path)
    names = {"endpoint": endpoints["controller"], "pubsub": endpoints["pubsub_endpoint"],
             **{n: workers.cmd(n) for n in ("keep", "gone", "change", "size")}}  # fmt: skip
    ini = tmp_path / "circus.ini"
    ini.write_text(textwrap.dedent(INI).format(size_n=2, **names))
    arbiter = Arbiter.load_from_config(str(ini))
    await arbiter.start()
    try:
        gone = await running_pids(arbiter.get_watcher("gone"), 2, workers)
        (change,) = await running_pids(arbiter.get_watcher("change"), 1, workers)
        await running_pids(arbiter.get_watcher("size"), 2)
        oldest = min(arbiter.get_watcher("size").processes.values()).pid
        await running_pids(arbiter.get_watcher("keep"), 1)
        after = textwrap.dedent(INI).format(size_n=1, **dict(names, change=workers.cmd("change", "v=2")))
        ini.write_text(after.replace("[watcher:gone]", "[watcher:new]"))
        async with Catalogue(arbiter) as events:
            await arbiter.reload_from_config()
            await events.wait("gone", "stop")
            await events.wait("change", "start")
            await events.wait("new", "start")
            await events.wait("size", "reap")
            await events.flush()
        # Removed: remove, then the stop sequence with a reap for each process.
        assert events.actions("gone") == ["remove", "kill", "kill", "reap", "reap", "stop"]
        assert pids_of(events.of("gone", "reap")) == gone
        # Replaced: the old instance stops (its process reaped), the new one starts.
        assert events.actions("change") == ["kill", "reap", "stop", "spawn", "start"]
        assert events.of("change", "reap")[0]["process_pid"] == change
        # Added: add, then the start sequence; resized: the oldest process goes.
        assert events.actions("new") == ["add", "spawn", "spawn", "start"]
        assert events.actions("size") == ["kill", "reap"]
        assert events.of("size", "reap")[0]["process_pid"] == oldest
        assert events.actions("keep") == []
    finally:
        await arbiter.stop()

