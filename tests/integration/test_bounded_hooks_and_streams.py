"""A hook that hangs and a stream that is slow never hold circusd or the workers."""

import asyncio
import threading
import time

from helpers import SLEEPER, Events, async_test, python, running_arbiter, until_async


def hang(watcher, arbiter, hook_name, **kwargs):
    threading.Event().wait(60)
    return True


@async_test
async def test_a_hanging_hook_is_stopped_after_hook_timeout_and_reported(tmp_path, tracker):
    watcher = {
        "name": "w",
        "cmd": SLEEPER,
        "hooks": {"before_start": hang},
        "hook_timeout": 0.5,
        "autostart": False,
    }
    async with running_arbiter(tmp_path, [watcher]) as arbiter:
        async with Events(arbiter) as events:
            w = arbiter.get_watcher("w")
            started = time.monotonic()
            await w.start()
            assert time.monotonic() - started < 5
            failure = await events.next("watcher.w.hook_failure")
        assert failure["name"] == "before_start"
        assert "0.5" in failure["error"]
        assert w.status() == "stopped" and not w.processes


@async_test
async def test_a_hanging_hook_whose_failures_are_ignored_lets_the_start_go_on(tmp_path, tracker):
    watcher = {
        "name": "w",
        "cmd": SLEEPER,
        "hooks": {"before_start": (hang, True)},
        "hook_timeout": 0.3,
        "graceful_timeout": 1,
    }
    async with running_arbiter(tmp_path, [watcher]) as arbiter:
        assert arbiter.get_watcher("w").status() == "active"


class SlowStream:
    """Takes 0.2 s per chunk, like a stream writing to a congested disk."""

    def __init__(self):
        self.data = bytearray()

    def __call__(self, entry):
        time.sleep(0.2)
        self.data += entry["data"]


WRITER = """
import os, sys, time
started = time.monotonic()
for _ in range(32):
    sys.stdout.buffer.write(b"x" * 32768)
    sys.stdout.buffer.flush()
with open(sys.argv[1], "w") as f:
    f.write(str(time.monotonic() - started))
time.sleep(60)
"""


@async_test
async def test_a_slow_stream_never_blocks_the_worker_nor_the_loop_and_loses_nothing(tmp_path, tracker):
    stream = SlowStream()
    done = tmp_path / "done"
    watcher = {
        "name": "w",
        "cmd": python(WRITER, str(done)),
        "stdout_stream": {"stream": stream},
        "graceful_timeout": 1,
    }
    async with running_arbiter(tmp_path, [watcher]):
        # While the stream crawls, the loop keeps ticking on time.
        worst = 0.0
        while not done.exists():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - before)
        # 1 MB went into the pipe at once although the stream needs seconds for it.
        assert float(done.read_text()) < 2
        assert worst < 0.5
        await until_async(lambda: len(stream.data) == 32 * 32768, timeout=60, what="every byte to reach the stream")
