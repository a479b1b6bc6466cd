"""Events a watcher publishes as its processes come and go."""

import os
import signal
import time

from helpers import Events, async_test, live_pids, running_arbiter, until_async


def spec(workers, name, *flags, **options):
    options.setdefault("graceful_timeout", 1)
    return dict(name=name, cmd=workers.cmd(name, *flags), **options)


@async_test
async def test_a_crashed_process_yields_reap_with_its_exit_code_then_spawn(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w")], check_delay=30) as arbiter:
        watcher = arbiter.get_watcher("w")
        (report,) = await workers.await_reports("w", 1)
        async with Events(arbiter) as events:
            os.kill(report["pid"], signal.SIGKILL)
            reap = await events.next("watcher.w.reap")
            spawn = await events.next("watcher.w.spawn")
        assert reap["process_pid"] == report["pid"] and reap["exit_code"] == -signal.SIGKILL
        assert spawn["process_pid"] != report["pid"]
        assert abs(spawn["time"] - time.time()) < 10
        await until_async(lambda: live_pids(watcher) == [spawn["process_pid"]], what="the new process owned")


@async_test
async def test_every_process_removed_by_decr_yields_a_reap_event(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        pids = sorted(r["pid"] for r in await workers.await_reports("w", 2))
        async with Events(arbiter) as events:
            await watcher.decr(2)
            reaped = {(await events.next("watcher.w.reap"))["process_pid"] for _ in pids}
        assert sorted(reaped) == pids


@async_test
async def test_stopping_a_watcher_publishes_kill_reap_and_stop(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "s")]) as arbiter:
        watcher = arbiter.get_watcher("s")
        (report,) = await workers.await_reports("s", 1)
        async with Events(arbiter) as events:
            await watcher.stop()
            await events.next("watcher.s.stop")
        topics = [topic for topic, _ in events.seen if topic.startswith("watcher.s.")]
        assert topics == ["watcher.s.kill", "watcher.s.reap", "watcher.s.stop"], topics
        reap = dict(events.seen)["watcher.s.reap"]
        assert reap["process_pid"] == report["pid"]
