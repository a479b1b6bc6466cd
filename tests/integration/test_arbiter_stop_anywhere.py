"""Arbiter.stop() from the arbiter's loop, from another thread, from another loop, and after the end."""

import asyncio
import sys
import threading

from circus import get_arbiter
from helpers import async_test, ipc_endpoints, live_pids, pid_alive, running_arbiter, until, until_async


def _stack(thread):
    """The function names on ``thread``'s stack, innermost first."""
    frame, names = sys._current_frames().get(thread.ident), []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


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
        outcome["returned"] = arbiter.start()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        pid = workers.wait_reports("w", 1)[0]["pid"]
        until(lambda: arbiter.running, what="the arbiter to run")
        assert arbiter.stop() is None  # blocks until everything is stopped
        assert not arbiter.running and not pid_alive(pid)
    finally:
        thread.join(15)
    assert outcome == {"returned": None}
    assert arbiter.stop() is None


def test_a_stop_from_another_thread_while_the_arbiter_is_still_binding_ends_it_once_started(
        tmp_path, workers, tracker):
    from circus.sockets import CircusSocket

    binding, release = threading.Event(), threading.Event()

    class SlowSocket(CircusSocket):
        """Holds the start inside the binding of the sockets until the test says so."""

        def bind_and_listen(self):
            binding.set()
            release.wait(10)
            super().bind_and_listen()

    arbiter = get_arbiter([{"name": "w", "cmd": workers.cmd("w")}],
                          sockets=[SlowSocket(name="slow", host="127.0.0.1", port=0)], **ipc_endpoints(tmp_path))
    outcome = {}
    starter = threading.Thread(target=lambda: outcome.update(returned=arbiter.start()))
    stopper = threading.Thread(target=lambda: outcome.update(stop=arbiter.stop()))
    starter.start()
    try:
        assert binding.wait(10)
        stopper.start()
        until(lambda: not stopper.is_alive() or "result" in _stack(stopper),
              what="the stop to wait for its result (or to return)")
        release.set()
        stopper.join(15)
        starter.join(15)
        assert not stopper.is_alive() and not starter.is_alive(), "the stop was lost: the arbiter still runs"
        assert outcome == {"stop": None, "returned": None}
        assert not arbiter.running
    finally:
        release.set()
        if starter.is_alive():
            arbiter.stop()
            starter.join(15)
