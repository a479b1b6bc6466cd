"""The Watcher methods the manual documents: spawn_process(es), reap_process(es), reap_and_manage_processes."""

import os
import signal

import psutil

from helpers import async_test, live_pids, pid_alive, running_arbiter, until, until_async


@async_test
async def test_spawn_process_and_spawn_processes_start_processes_on_request(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 2}]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await workers.await_reports("w", 2)
        assert await watcher.spawn_process() is True
        assert len(live_pids(watcher)) == 3
        watcher.numprocesses = 5
        started = await watcher.spawn_processes()
        assert len(started) == 2 and set(started) <= set(live_pids(watcher))
        assert len(live_pids(watcher)) == 5
        await workers.await_reports("w", 5)


@async_test
async def test_reap_processes_reaps_an_exit_not_reported_yet_and_reap_and_manage_replaces_it(
        tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 2}]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await workers.await_reports("w", 2)
        victim = watcher.processes[min(watcher.processes)]
        os.kill(victim.pid, signal.SIGKILL)
        # The loop is not given a chance to see the exit: reap_processes must.
        until(lambda: psutil.Process(victim.pid).status() == psutil.STATUS_ZOMBIE, what="a zombie")
        watcher.reap_processes()
        assert victim.pid not in watcher.processes
        assert victim.exit_code == -signal.SIGKILL
        assert not psutil.pid_exists(victim.pid)
        await watcher.reap_and_manage_processes()
        await until_async(lambda: len(live_pids(watcher)) == 2, what="the watcher back to 2 processes")
        assert victim.pid not in live_pids(watcher)


@async_test
async def test_reap_process_leaves_a_running_process_and_reaps_an_exited_one(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 1}]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await workers.await_reports("w", 1)
        (pid,) = watcher.processes
        watcher.reap_process(pid)
        assert pid in watcher.processes and pid_alive(pid)
        os.kill(pid, signal.SIGTERM)
        until(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, what="a zombie")
        watcher.reap_process(pid)
        assert pid not in watcher.processes and not psutil.pid_exists(pid)
        await until_async(lambda: len(live_pids(watcher)) == 1, what="a replacement")
