"""``rm --nostop``: the watcher lets go of its processes (Watcher.abandon) and they live on."""

import os
import signal
import time

import psutil

from helpers import Events, async_test, controlled, ok, pid_alive, python, until_async

# Prints one line, then only sleeps: once abandoned, nothing reads its pipe.
GREETER = python("import os, time\nprint('hello from', os.getpid(), flush=True)\nwhile True:\n    time.sleep(60)")
MAX_AGE = 1


def age(pid):
    return time.time() - psutil.Process(pid).create_time()


def drain(queue):
    entries = []
    while not queue.empty():
        entries.append(queue.get_nowait())
    return entries


@async_test
async def test_processes_left_by_rm_nostop_are_never_respawned_recycled_hooked_or_killed(tmp_path, tracker):
    calls = []

    def record(watcher, arbiter, hook_name, **kwargs):
        calls.append(hook_name)
        return True

    kept = {"name": "kept", "cmd": GREETER, "numprocesses": 2, "max_age": MAX_AGE, "max_age_variance": 0,
            "stdout_stream": {"class": "QueueStream"},
            "hooks": {name: record for name in ("before_signal", "before_reap", "after_reap", "before_stop")}}
    # A watcher with stop_children makes circusd stop the orphans it adopted when it stops.
    other = {"name": "other", "cmd": GREETER, "stop_children": True, "graceful_timeout": 1}
    left = []
    try:
        async with controlled(tmp_path, [kept, other]) as (arbiter, send):
            watcher = arbiter.get_watcher("kept")
            stream = watcher.stdout_stream
            await until_async(lambda: len(watcher.processes) == 2, what="two processes of kept")
            left = watcher.pids
            read = []
            await until_async(lambda: read.extend(drain(stream)) or {e["pid"] for e in read} == set(left),
                              what="a greeting of each process in the stream")
            async with Events(arbiter) as events:
                ok(await send("rm", name="kept", nostop=True, waiting=True))
                await events.next("watcher.kept.remove")
            assert watcher.processes == {} and ok(await send("list"))["watchers"] == ["other"]
            del calls[:]

            first, second = left
            os.kill(first, signal.SIGKILL)  # reaped by circusd, not routed to the watcher any more
            await until_async(lambda: not psutil.pid_exists(first), what="the killed process reaped")
            # Past max_age (and any respawn delay) with nobody acting on it.
            await until_async(lambda: age(second) > MAX_AGE + 1, what="the process older than max_age")
            assert pid_alive(second)
            assert watcher.processes == {} and calls == []
            assert [c.pid for c in psutil.Process().children() if c.pid in left] == [second]
        assert pid_alive(second), "circusd's stop killed a process left by rm --nostop"
    finally:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    assert not any(psutil.pid_exists(pid) for pid in left)
