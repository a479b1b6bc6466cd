"""Per-slot respawns on an in-process arbiter with real children."""

import asyncio
import os
import signal
import time

from helpers import async_test, live_pids, python, running_arbiter, until_async

# wid 1 fails to start (lives 0.3 s, so stats see it), again and again; the other slots live.
ONE_BAD_SLOT = python("import sys, time\nif sys.argv[1] == '1':\n    time.sleep(0.3)\n    sys.exit(3)\n"
                      "time.sleep(600)", "$(circus.wid)")
FAILING = python("import sys, time\ntime.sleep(0.3)\nsys.exit(3)")


def by_wid(watcher):
    """``{wid: (pid, info)}`` of the live processes, from ``process_info`` (what stats shows)."""
    found = {}
    for pid in live_pids(watcher):
        info = watcher.process_info(pid)
        if isinstance(info, dict):
            found[info["wid"]] = (pid, info)
    return found


def delay_of(watcher, wid):
    entry = by_wid(watcher).get(wid)
    return entry[1]["respawn_delay"] if entry else None


@async_test
async def test_a_slot_that_keeps_failing_does_not_slow_down_the_others(tmp_path, tracker):
    spec = {"name": "w", "cmd": ONE_BAD_SLOT, "numprocesses": 3, "max_retry": -1,
            "graceful_timeout": 1}
    async with running_arbiter(tmp_path, [spec], check_delay=60) as arbiter:
        watcher = arbiter.get_watcher("w")
        await until_async(lambda: (delay_of(watcher, 1) or 0) >= 0.8, 20, what="wid 1 waiting 0.8 s")
        assert delay_of(watcher, 2) == delay_of(watcher, 3) == 0
        victim = by_wid(watcher)[2][0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        await until_async(lambda: by_wid(watcher).get(2, (victim,))[0] != victim, 5, what="wid 2 replaced")
        # Far less than wid 1's delay: slot 2 did not wait for it.
        assert time.monotonic() - killed_at < 0.5
        assert delay_of(watcher, 2) == 0
        assert watcher.status() == "active"


@async_test
async def test_a_decrease_drops_the_respawns_that_wait_and_nothing_spawns_in_their_place(tmp_path, tracker, caplog):
    spec = {"name": "w", "cmd": FAILING, "numprocesses": 3, "max_retry": -1, "graceful_timeout": 1}
    async with running_arbiter(tmp_path, [spec], check_delay=0.1) as arbiter:
        watcher = arbiter.get_watcher("w")
        await until_async(lambda: any(i["respawn_delay"] >= 0.4 for _, i in by_wid(watcher).values()), 20,
                          what="a slot waiting 0.4 s")
        assert await watcher.decr(3) == 0
        await until_async(lambda: not watcher.processes, 5, what="the last processes gone")
        spawns = caplog.text.count("started (wid")
        await asyncio.sleep(1.5)  # past every pending delay, fifteen periodic checks; not a synchronisation
        assert caplog.text.count("started (wid") == spawns and not watcher.processes
        assert watcher.status() == "active"
        assert await watcher.incr(1) == 1
        assert len(watcher.processes) == 1


@async_test
async def test_a_start_spaced_by_warmup_delay_ends_although_its_processes_die_at_once(tmp_path, tracker):
    # Each death during the start is a slot waiting for its respawn, not one
    # more process for the start to spawn: the start ends.
    spec = {"name": "w", "cmd": python("import sys\nsys.exit(3)"), "numprocesses": 3,
            "warmup_delay": 0.3, "max_retry": -1, "autostart": False}
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await asyncio.wait_for(watcher.start(), 10)
        assert watcher.status() == "active"
        await asyncio.wait_for(watcher.stop(), 10)
        assert watcher.status() == "stopped"
