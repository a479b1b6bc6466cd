"""Arbiter.stop() from the arbiter's loop, from another thread, from another loop, and after the end."""

import asyncio
import threading

from circus import get_arbiter
from helpers import async_test, ipc_endpoints, live_pids, pid_alive, running_arbiter, until, until_async


@async_test
async def test_stop_on_the_arbiters_loop_runs_even_when_not_awaited(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [{"name": "w", "cmd": workers.cmd("w"), "numprocesses": 2}]) as arbiter:
        await workers.await_reports("w", 2)
        pids = live_pids(arbiter.get_watcher("w"))
        task = arbiter.stop()
        assert isinstance(task, asyncio.Task)
        await until_async(lambda: not arbiter.running, what="the arbiter to stop")
        assert task.done() and not any(pid_alive(pid) for pid in pids)


def test_stop_from_a_thread_running_its_own_loop_is_awaitable(tmp_path, workers, tracker):
    arbiter = get_arbiter([{"name": "w", "cmd": workers.cmd("w")}], background=True, **ipc_endpoints(tmp_path))
    arbiter.start()
    try:
        workers.wait_reports("w", 1)

        async def stop_it():
            await arbiter.stop()
            return arbiter.running

        assert asyncio.run(stop_it()) is False
    finally:
        arbiter.stop()
    until(lambda: not arbiter.is_alive(), what="the arbiter thread to end")


def test_a_blocking_start_ends_when_another_thread_stops_it_and_a_later_stop_does_nothing(tmp_path, workers, tracker):
    arbiter = get_arbiter([{"name": "w", "cmd": workers.cmd("w")}], **ipc_endpoints(tmp_path))
    outcome = {}

    def run():
        outcome["restart"] = arbiter.start()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        pid = workers.wait_reports("w", 1)[0]["pid"]
        until(lambda: arbiter.running, what="the arbiter to run")
        assert arbiter.stop() is None  # blocks until everything is stopped
        assert not arbiter.running and not pid_alive(pid)
    finally:
        thread.join(15)
    assert outcome == {"restart": False}
    assert arbiter.stop() is None
