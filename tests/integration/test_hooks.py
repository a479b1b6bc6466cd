"""Watcher hooks, called around real processes of an in-process arbiter.

Every hook is a recorder (see ``Recorder``) that remembers its keyword
arguments and the watcher's status at the time of the call, so the tests check
the moment, the order, the kwargs and the effect of each return value. Events
are read from the arbiter's pub/sub endpoint by a real ZeroMQ SUB socket.
"""

import json
import signal
import sys
import time

import pytest

from helpers import Events, async_test, client_of, live_pids, pid_alive, running_arbiter, until_async

START_HOOKS = ("before_start", "before_spawn", "after_spawn", "after_start")
STOP_HOOKS = ("before_stop", "before_signal", "after_signal", "before_reap", "after_reap", "after_stop")
ALL_HOOKS = START_HOOKS + STOP_HOOKS


class Recorder:
    """Hooks that record their calls.

    ``returns[name]`` is what hook ``name`` gives back: a value (True when
    absent), an exception instance (raised), or a function called with the
    hook's kwargs.
    """

    def __init__(self, **returns):
        self.returns = returns
        self.calls = []  # (hook name, kwargs, watcher status, pids of the watcher)

    def hook(self, name):
        def hook(*args, **kwargs):
            assert not args, "hooks are called with keyword arguments only"
            watcher = kwargs["watcher"]
            self.calls.append((name, kwargs, watcher.status(), sorted(watcher.processes)))
            result = self.returns.get(name, True)
            if isinstance(result, BaseException):
                raise result
            if callable(result):
                return result(**kwargs)
            return result

        return hook

    def hooks(self, *names, ignore_failure=()):
        return {n: (self.hook(n), n in ignore_failure) for n in names}

    def names(self):
        return [call[0] for call in self.calls]

    def kwargs(self, name):
        return [call[1] for call in self.calls if call[0] == name]

    def clear(self):
        self.calls.clear()


def spec(workers, name, recorder=None, *flags, ignore_failure=(), hook_names=ALL_HOOKS, **options):
    options.setdefault("graceful_timeout", 1)
    options.setdefault("autostart", False)
    if recorder is not None:
        options["hooks"] = recorder.hooks(*hook_names, ignore_failure=ignore_failure)
    return dict(name=name, cmd=workers.cmd(name, *flags), **options)


# -- moments, order and kwargs -------------------------------------------------


@async_test
async def test_start_calls_before_start_then_each_spawn_pair_then_after_start(tmp_path, workers, tracker):
    rec = Recorder()
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        assert rec.calls == [], "no hook may run before the watcher starts"
        result = await watcher.start()
        assert rec.names() == ["before_start", "before_spawn", "after_spawn",
                               "before_spawn", "after_spawn", "after_start"]
        for name, kwargs, _, _ in rec.calls:
            assert kwargs["watcher"] is watcher and kwargs["arbiter"] is arbiter
            assert kwargs["hook_name"] == name
        extra = {name: set(kwargs) - {"watcher", "arbiter", "hook_name"} for name, kwargs, _, _ in rec.calls}
        assert extra == {"before_start": set(), "before_spawn": set(), "after_spawn": {"pid"},
                         "after_start": set()}
        assert sorted(k["pid"] for k in rec.kwargs("after_spawn")) == sorted(result["started"])
        statuses = {name: (status, len(pids)) for name, _, status, pids in rec.calls}
        assert statuses["before_start"] == ("stopped", 0)
        assert statuses["after_start"] == ("starting", 2), "after_start runs once the processes exist"
        # after_spawn sees the new process already in the watcher's table
        for name, kwargs, _, pids in rec.calls:
            if name == "after_spawn":
                assert kwargs["pid"] in pids and pid_alive(kwargs["pid"])
        assert watcher.status() == "active"


@async_test
async def test_stop_calls_stop_then_each_signal_pair_then_each_reap_pair_then_after_stop(tmp_path, workers, tracker):
    rec = Recorder()
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await watcher.start()
        pids = sorted(r["pid"] for r in await workers.await_reports("w", 2))
        rec.clear()
        await watcher.stop()
        assert rec.names() == ["before_stop", "before_signal", "after_signal", "before_signal", "after_signal",
                               "before_reap", "after_reap", "before_reap", "after_reap", "after_stop"]
        statuses = {name: status for name, _, status, _ in rec.calls}
        assert statuses["before_stop"] == "stopping" and statuses["after_stop"] == "stopped"
        for kwargs in rec.kwargs("before_signal") + rec.kwargs("after_signal"):
            assert set(kwargs) == {"watcher", "arbiter", "hook_name", "pid", "signum"}
            assert kwargs["signum"] == signal.SIGTERM
        assert sorted(k["pid"] for k in rec.kwargs("before_signal")) == pids
        before_reap, after_reap = rec.kwargs("before_reap"), rec.kwargs("after_reap")
        for kwargs in before_reap:
            assert set(kwargs) == {"watcher", "arbiter", "hook_name", "process_pid", "time"}
        for kwargs in after_reap:
            assert set(kwargs) == {"watcher", "arbiter", "hook_name", "process_pid", "time",
                                   "exit_code", "process_status"}
            assert kwargs["exit_code"] == 0  # the worker exits 0 on SIGTERM
            assert abs(kwargs["time"] - time.time()) < 30
        assert sorted(k["process_pid"] for k in before_reap) == pids
        # each reap pair is about one process
        reaps = [(c[0], c[1]["process_pid"]) for c in rec.calls if c[0].endswith("_reap")]
        assert reaps[0][1] == reaps[1][1] and reaps[2][1] == reaps[3][1]


@async_test
async def test_a_crash_is_reaped_through_the_reap_hooks_with_its_exit_code(tmp_path, workers, tracker):
    rec = Recorder()
    watchers = [spec(workers, "w", rec, "exit=3", respawn=False,
                     hook_names=("before_reap", "after_reap", "after_stop"))]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        await watcher.start()
        await until_async(lambda: "after_stop" in rec.names(), timeout=5,
                          what="the watcher stopping after its only process exited")
        (after,) = rec.kwargs("after_reap")
        (before,) = rec.kwargs("before_reap")
        assert after["exit_code"] == 3 and after["process_pid"] == before["process_pid"]
        assert rec.names() == ["before_reap", "after_reap", "after_stop"]


@async_test
async def test_extended_stats_gets_the_pid_and_a_stats_dict_it_may_extend(tmp_path, workers, tracker):
    seen = []

    def extend(watcher, arbiter, hook_name, pid, stats):
        seen.append((hook_name, pid))
        stats["queue_length"] = 42

    watchers = [spec(workers, "w", autostart=True, hooks={"extended_stats": extend})]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        (report,) = await workers.await_reports("w", 1)
        plain = watcher.process_info(report["pid"])
        assert "queue_length" not in plain and seen == []
        async with client_of(arbiter, timeout=5) as client:
            reply = await client.send_message("stats", name="w", extended=True)
        assert reply["status"] == "ok", reply
        assert reply["info"][str(report["pid"])]["queue_length"] == 42
        assert seen == [("extended_stats", report["pid"])]


# -- return values -------------------------------------------------------------


@pytest.mark.parametrize("refusal", [False, None, 0])
@async_test
async def test_a_falsy_before_start_keeps_the_watcher_stopped(tmp_path, workers, tracker, refusal):
    rec = Recorder(before_start=refusal)
    async with running_arbiter(tmp_path, [spec(workers, "w", rec)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        async with Events(arbiter) as events:
            result = await watcher.start()
            await events.wait("w", "hook_success")
        assert result == {"started": [], "kept": []}
        assert watcher.status() == "stopped" and len(watcher) == 0
        assert rec.names() == ["before_start"]
        assert workers.reports("w") == []
        assert events.actions("w") == ["hook_success"], "only the hook's own event"


@async_test
async def test_a_falsy_after_start_stops_the_watcher_and_its_processes(tmp_path, workers, tracker):
    rec = Recorder(after_start=False)
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        async with Events(arbiter) as events:
            await watcher.start()
            await events.wait("w", "stop")
        spawned = [k["pid"] for k in rec.kwargs("after_spawn")]
        assert len(spawned) == 2
        assert watcher.status() == "stopped" and len(watcher) == 0
        assert not any(pid_alive(p) for p in spawned)
        assert rec.names()[rec.names().index("after_start"):][:2] == ["after_start", "before_stop"]
        assert rec.names()[-1] == "after_stop"
        assert "start" not in events.actions("w")


@async_test
async def test_a_falsy_before_spawn_spawns_nothing_and_stops_the_watcher(tmp_path, workers, tracker):
    rec = Recorder(before_spawn=None)
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        result = await watcher.start()
        assert result["started"] == []
        assert watcher.status() == "stopped" and len(watcher) == 0
        assert rec.names().count("before_spawn") == 1, "no second spawn after a refusal"
        assert "after_spawn" not in rec.names() and "after_start" not in rec.names()
        assert rec.names()[-1] == "after_stop"
        assert workers.reports("w") == []


@async_test
async def test_a_falsy_after_spawn_kills_the_new_process_and_stops_the_watcher(tmp_path, workers, tracker):
    rec = Recorder(after_spawn=False)
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await watcher.start()
        (refused,) = [k["pid"] for k in rec.kwargs("after_spawn")]
        assert watcher.status() == "stopped" and len(watcher) == 0
        assert not pid_alive(refused)
        (reaped,) = rec.kwargs("after_reap")
        assert reaped["process_pid"] == refused and reaped["exit_code"] == -signal.SIGKILL
        assert "after_start" not in rec.names()


@async_test
async def test_a_falsy_before_signal_suppresses_the_signal_but_not_sigkill(tmp_path, workers, tracker):
    rec = Recorder(before_signal=lambda signum, **_: signum != signal.SIGTERM)
    watchers = [spec(workers, "w", rec, "record-stop", graceful_timeout=0.5)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        await watcher.start()
        (report,) = await workers.await_reports("w", 1)
        rec.clear()
        started = time.monotonic()
        await watcher.stop()
        elapsed = time.monotonic() - started
        assert not pid_alive(report["pid"])
        assert workers.stops("w") == [], "SIGTERM reached the worker although before_signal refused it"
        signals = [(c[0], c[1]["signum"]) for c in rec.calls if c[0].endswith("_signal")]
        assert signals == [("before_signal", signal.SIGTERM),
                           ("before_signal", signal.SIGKILL), ("after_signal", signal.SIGKILL)]
        assert rec.kwargs("after_reap")[0]["exit_code"] == -signal.SIGKILL
        assert elapsed >= 0.45, "SIGKILL came before graceful_timeout (%.2fs)" % elapsed


@async_test
async def test_a_before_signal_refusing_everything_still_lets_sigkill_through(tmp_path, workers, tracker):
    rec = Recorder(before_signal=False)
    watchers = [spec(workers, "w", rec, graceful_timeout=0.3)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        await watcher.start()
        (report,) = await workers.await_reports("w", 1)
        await watcher.stop()
        assert not pid_alive(report["pid"]) and watcher.status() == "stopped"
        assert rec.kwargs("after_reap")[0]["exit_code"] == -signal.SIGKILL


@async_test
async def test_the_signal_command_goes_through_before_signal(tmp_path, workers, tracker):
    rec = Recorder(before_signal=lambda signum, **_: signum != signal.SIGTERM)
    watchers = [spec(workers, "w", rec, "record-stop", "ignore-term", autostart=True)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        (report,) = await workers.await_reports("w", 1)
        async with client_of(arbiter, timeout=5) as client:
            refused = await client.send_message("signal", name="w", signum="TERM")
            allowed = await client.send_message("signal", name="w", signum="INT")
        assert refused["status"] == "ok" and allowed["status"] == "ok"
        await until_async(lambda: workers.stops("w"), timeout=5, what="the SIGINT record")
        assert [s["signal"] for s in workers.stops("w")] == [signal.SIGINT]
        assert [k["signum"] for k in rec.kwargs("after_signal")] == [signal.SIGINT]


# -- failures and events -----------------------------------------------------------


@async_test
async def test_a_raising_before_start_publishes_hook_failure_and_keeps_the_watcher_stopped(tmp_path, workers, tracker):
    rec = Recorder(before_start=RuntimeError("database unreachable"))
    async with running_arbiter(tmp_path, [spec(workers, "w", rec)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        async with Events(arbiter) as events:
            await watcher.start()
            (failure,) = await events.wait("w", "hook_failure")
        assert watcher.status() == "stopped" and workers.reports("w") == []
        assert failure["name"] == "before_start"
        assert "database unreachable" in failure["error"]
        assert abs(failure["time"] - time.time()) < 30


@async_test
async def test_the_ignore_failure_flag_makes_a_raising_before_start_a_success(tmp_path, workers, tracker):
    rec = Recorder(before_start=RuntimeError("not fatal"))
    watchers = [spec(workers, "w", rec, ignore_failure=("before_start",))]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        async with Events(arbiter) as events:
            await watcher.start()
            (failure,) = await events.wait("w", "hook_failure")
        assert failure["name"] == "before_start" and "not fatal" in failure["error"]
        assert watcher.status() == "active"
        await workers.await_reports("w", 1)


@async_test
async def test_a_raising_after_spawn_kills_the_process_like_a_refusal(tmp_path, workers, tracker):
    rec = Recorder(after_spawn=ValueError("bad worker"))
    async with running_arbiter(tmp_path, [spec(workers, "w", rec)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        async with Events(arbiter) as events:
            await watcher.start()
            (failure,) = await events.wait("w", "hook_failure")
        (pid,) = [k["pid"] for k in rec.kwargs("after_spawn")]
        assert failure["name"] == "after_spawn"
        assert watcher.status() == "stopped" and not pid_alive(pid)


@async_test
async def test_raising_stop_hooks_are_ignored_and_the_stop_completes(tmp_path, workers, tracker):
    boom = RuntimeError("boom")
    rec = Recorder(before_stop=boom, before_signal=boom, after_signal=boom, before_reap=boom,
                   after_reap=boom, after_stop=boom)
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, "record-stop")]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await watcher.start()
        (report,) = await workers.await_reports("w", 1)
        async with Events(arbiter) as events:
            await watcher.stop()
            failures = await events.wait("w", "hook_failure", count=6)
        assert [s["signal"] for s in workers.stops("w")] == [signal.SIGTERM], \
            "a raising before_signal must not suppress the stop signal"
        assert watcher.status() == "stopped" and not pid_alive(report["pid"])
        assert [f["name"] for f in failures] == list(STOP_HOOKS)


@async_test
async def test_every_hook_run_publishes_one_hook_success_event_naming_it(tmp_path, workers, tracker):
    rec = Recorder()
    async with running_arbiter(tmp_path, [spec(workers, "w", rec, numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        async with Events(arbiter) as events:
            await watcher.start()
            await workers.await_reports("w", 2)
            await watcher.stop()
            await events.wait("w", "hook_success", count=len(rec.calls))
        successes = events.of("w", "hook_success")
        assert [s["name"] for s in successes] == rec.names()
        assert all(set(s) == {"name", "time"} for s in successes)
        assert events.of("w", "hook_failure") == []


@async_test
async def test_a_hook_returning_false_still_publishes_hook_success(tmp_path, workers, tracker):
    rec = Recorder(before_start=False)
    async with running_arbiter(tmp_path, [spec(workers, "w", rec)]) as arbiter:
        async with Events(arbiter) as events:
            await arbiter.get_watcher("w").start()
            (success,) = await events.wait("w", "hook_success")
        assert success["name"] == "before_start"


# -- hooks by dotted path ------------------------------------------------------------


HOOK_MODULE = """
import json

LOG = {log!r}


def record(watcher, arbiter, hook_name, **kwargs):
    with open(LOG, "a") as log:
        log.write(json.dumps([watcher.name, hook_name, sorted(kwargs)]) + "\\n")
    return True


def refuse(watcher, arbiter, hook_name, **kwargs):
    record(watcher, arbiter, hook_name, **kwargs)
    return False
"""


@pytest.fixture
def hook_dir(tmp_path):
    """A directory holding a uniquely named hooks module; sys.path is restored after."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    directory = tmp_path / "hookmods"
    directory.mkdir()
    name = "hooks_%d" % abs(hash(str(tmp_path)))
    (directory / (name + ".py")).write_text(HOOK_MODULE.format(log=str(tmp_path / "hooks.log")))
    yield directory, name, tmp_path / "hooks.log"
    sys.path[:] = saved_path
    for module in set(sys.modules) - saved_modules:
        if module.startswith(name):
            del sys.modules[module]


def read_log(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@async_test
async def test_hooks_named_by_dotted_path_import_from_the_watchers_pythonpath(tmp_path, workers, tracker, hook_dir):
    directory, module, log = hook_dir
    watchers = [
        spec(workers, "ok", autostart=True, env={"PYTHONPATH": str(directory)},
             hooks={"before_start": module + ".record", "after_spawn": module + ":record"}),
        spec(workers, "no", autostart=True, env={"PYTHONPATH": str(directory)},
             hooks={"before_start": "%s.refuse" % module}),
    ]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        assert arbiter.get_watcher("ok").status() == "active"
        assert arbiter.get_watcher("no").status() == "stopped"
        entries = read_log(log)
        assert ["ok", "before_start", []] in entries
        assert ["ok", "after_spawn", ["pid"]] in entries
        assert ["no", "before_start", []] in entries
        assert workers.reports("no") == []


@async_test
async def test_hooks_given_as_name_comma_flag_strings_honour_the_flag(tmp_path, workers, tracker, hook_dir):
    directory, module, log = hook_dir
    (directory / (module + "_raise.py")).write_text(
        "def explode(**kwargs):\n    raise RuntimeError('explode')\n")
    watchers = [
        spec(workers, "forgiven", autostart=True, env={"PYTHONPATH": str(directory)},
             hooks={"before_start": "%s_raise.explode, true" % module}),
        spec(workers, "strict", autostart=True, env={"PYTHONPATH": str(directory)},
             hooks={"before_start": "%s_raise.explode,false" % module}),
    ]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        assert arbiter.get_watcher("forgiven").status() == "active"
        assert arbiter.get_watcher("strict").status() == "stopped"
        options = dict(arbiter.get_watcher("forgiven").options())
        assert options["hooks.before_start"] == "%s_raise.explode,true" % module


@async_test
async def test_set_replaces_a_hook_of_a_running_watcher(tmp_path, workers, tracker, hook_dir):
    directory, module, log = hook_dir
    watchers = [spec(workers, "w", autostart=True, graceful_timeout=0.3, env={"PYTHONPATH": str(directory)})]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        (first,) = await workers.await_reports("w", 1)
        async with client_of(arbiter, timeout=5) as client:
            reply = await client.send_message("set", name="w", waiting=True,
                                              options={"hooks.before_signal": module + ".refuse"})
        assert reply["status"] == "ok", reply
        await watcher.stop()
        assert ["w", "before_signal", ["pid", "signum"]] in read_log(log)
        assert not pid_alive(first["pid"])
        assert live_pids(watcher) == []
