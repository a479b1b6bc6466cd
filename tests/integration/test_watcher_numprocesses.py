"""incr / decr / set_numprocesses on a live watcher."""

import pytest

from helpers import async_test, live_pids, pid_alive, running_arbiter, until_async


def spec(workers, name, **options):
    options.setdefault("graceful_timeout", 1)
    return dict(name=name, cmd=workers.cmd(name, "wid=$(circus.wid)"), **options)


def wids(watcher):
    return sorted(p.wid for p in watcher.processes.values())


@async_test
async def test_incr_spawns_processes_with_the_lowest_free_wids(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=1)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        assert await watcher.incr(2) == 3
        await until_async(lambda: len(live_pids(watcher)) == 3, what="3 processes")
        assert wids(watcher) == [1, 2, 3]
        assert watcher.numprocesses == 3


@async_test
async def test_decr_stops_the_oldest_processes_first(tmp_path, workers, tracker):
    options = dict(numprocesses=3, warmup_delay=0.2)
    async with running_arbiter(tmp_path, [spec(workers, "w", **options)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        reports = await workers.await_reports("w", 3)
        oldest_first = [r["pid"] for r in reports]
        assert await watcher.decr(2) == 1
        await until_async(lambda: live_pids(watcher) == oldest_first[2:], what="only the newest left")
        assert not pid_alive(oldest_first[0]) and not pid_alive(oldest_first[1])
        assert wids(watcher) == [3]


@async_test
async def test_a_freed_wid_is_reused_by_the_next_spawn(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=3, warmup_delay=0.1)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await workers.await_reports("w", 3)
        await watcher.decr(1)  # the oldest, wid 1, goes
        await until_async(lambda: wids(watcher) == [2, 3], what="wid 1 freed")
        await watcher.incr(1)
        await until_async(lambda: len(live_pids(watcher)) == 3, what="3 processes")
        assert wids(watcher) == [1, 2, 3]


@async_test
async def test_numprocesses_never_goes_below_zero(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", numprocesses=2)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        pids = [r["pid"] for r in await workers.await_reports("w", 2)]
        assert await watcher.decr(5) == 0
        await until_async(lambda: not any(pid_alive(p) for p in pids), what="every process stopped")
        assert await watcher.set_numprocesses(-3) == 0
        assert watcher.numprocesses == 0


@async_test
async def test_incr_on_a_stopped_watcher_only_changes_the_number(tmp_path, workers, tracker):
    watchers = [spec(workers, "w", numprocesses=1, autostart=False)]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("w")
        assert watcher.is_stopped()
        assert await watcher.incr(2) == 3
        assert watcher.is_stopped() and len(watcher) == 0
        result = await watcher.start()
        assert len(result["started"]) == 3 and result["kept"] == []


@async_test
async def test_a_singleton_refuses_more_than_one_process(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [spec(workers, "w", singleton=True)]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await workers.await_reports("w", 1)
        with pytest.raises(ValueError):
            await watcher.incr(1)
        assert watcher.numprocesses == 1
        assert len(live_pids(watcher)) == 1
