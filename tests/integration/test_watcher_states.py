"""The watcher state machine, driven through its public coroutines."""

import asyncio
import os
import signal
import time

from helpers import async_test, live_pids, pid_alive, running_arbiter, until_async


def spec(workers, name, *flags, **options):
    options.setdefault("graceful_timeout", 1)
    return dict(name=name, cmd=workers.cmd(name, *flags), **options)


@async_test
async def test_start_from_stopped_spawns_and_start_when_active_keeps(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=2, autostart=False)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        assert watcher.status() == "stopped" and len(watcher) == 0
        first = await watcher.start()
        assert watcher.status() == "active"
        assert len(first["started"]) == 2 and first["kept"] == []
        again = await watcher.start()
        assert again["started"] == [] and sorted(again["kept"]) == sorted(first["started"])


@async_test
async def test_stop_ends_every_process_and_leaves_the_watcher_stopped(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        pids = [r["pid"] for r in await workers.await_reports("w", 2)]
        await watcher.stop()
        assert watcher.status() == "stopped"
        assert len(watcher) == 0
        assert not any(pid_alive(p) for p in pids)
        await watcher.stop()  # stopping a stopped watcher is a no-op
        assert watcher.status() == "stopped"


@async_test
async def test_a_watcher_is_stopping_while_it_waits_for_graceful_timeout(tmp_path, workers, tracker):
    watchers = [spec(workers, "w", "ignore-term", graceful_timeout=1)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        (report,) = await workers.await_reports("w", 1)
        started = time.monotonic()
        stopping = asyncio.ensure_future(watcher.stop())
        await until_async(lambda: watcher.status() == "stopping", timeout=1, what="status 'stopping'")
        await stopping
        elapsed = time.monotonic() - started
        assert watcher.status() == "stopped"
        assert not pid_alive(report["pid"])
        assert 0.9 <= elapsed < 3, "stop took %.2fs with graceful_timeout 1" % elapsed


@async_test
async def test_restart_replaces_every_process(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        old = sorted(r["pid"] for r in await workers.await_reports("w", 2))
        result = await watcher.restart()
        assert sorted(result["stopped"]) == old
        assert len(result["started"]) == 2 and not set(result["started"]) & set(old)
        assert watcher.status() == "active"
        assert live_pids(watcher) == sorted(result["started"])


@async_test
async def test_a_dead_process_is_replaced_without_waiting_for_check_delay(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w")], check_delay=30) as arbiter:
        watcher = arbiter.get_watcher("w")
        (report,) = await workers.await_reports("w", 1)
        os.kill(report["pid"], signal.SIGKILL)
        await until_async(lambda: live_pids(watcher) not in ([], [report["pid"]]), timeout=3,
                          what="a replacement within 3 s although check_delay is 30")
        assert watcher.status() == "active"


@async_test
async def test_without_respawn_a_watcher_whose_processes_all_exit_ends_stopped(tmp_path, workers, tracker):
    watchers = [spec(workers, "w", "exit=3", numprocesses=2, respawn=False)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        await workers.await_reports("w", 2)
        await until_async(lambda: watcher.status() == "stopped", timeout=5, what="watcher stopped")
        assert len(watcher) == 0
        assert len(workers.reports("w")) == 2


@async_test
async def test_a_command_that_cannot_be_executed_stops_its_watcher_after_max_retry(tmp_path, workers, tracker):
    watchers = [dict(name="bad", cmd="/nonexistent/prog-4242", max_retry=2),
                spec(workers, "good")]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        bad = arbiter.get_watcher("bad")
        await until_async(lambda: bad.status() == "stopped", timeout=5, what="'bad' stopped")
        assert len(bad) == 0
        assert arbiter.get_watcher("good").status() == "active"
        assert arbiter.running
