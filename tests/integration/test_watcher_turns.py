"""Changes to one watcher take turns: the second waits, bounded, instead of failing."""

import asyncio

import pytest

from circus import watcher as watcher_module
from circus.exc import ConflictError
from helpers import SLEEPER, async_test, running_arbiter, until_async


@async_test
async def test_a_second_change_waits_for_the_first_and_both_apply(tmp_path, tracker):
    spec = {"name": "w", "cmd": SLEEPER, "warmup_delay": 0.3, "graceful_timeout": 1}
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        slow = asyncio.ensure_future(w.incr(3))  # takes ~0.9 s of warmup
        await until_async(lambda: len(w.processes) > 1, what="the incr to hold the turn")  # its first spawn
        assert await w.decr(1) == 3
        assert await slow == 4
        assert len(w.processes) == 3


@async_test
async def test_a_change_that_cannot_get_its_turn_in_time_is_refused_with_a_conflict(tmp_path, tracker, monkeypatch):
    monkeypatch.setattr(watcher_module, "CHANGE_WAIT", 0.2)
    spec = {"name": "w", "cmd": SLEEPER, "warmup_delay": 1.0, "graceful_timeout": 0.2}
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        slow = asyncio.ensure_future(w.incr(3))  # holds the watcher ~3 s
        await until_async(lambda: len(w.processes) > 1, what="the incr to hold the turn")  # its first spawn
        with pytest.raises(ConflictError, match="still busy"):
            await w.decr(1)
        assert await slow == 4
