"""Spine behaviour not exercised elsewhere, on an in-process arbiter with real children."""

import asyncio
import json
import logging
import os
import shutil
import signal
import time

import psutil
import pytest

from circus import process as process_module
from helpers import async_test, live_pids, pid_alive, python, running_arbiter, until_async

SIGNAL_RECORDER = r"""
import json, os, signal, sys, time
path = os.path.join(sys.argv[1], "%d.signals" % os.getpid())
got = []

def record(signum, frame):
    got.append(signum)
    with open(path + ".tmp", "w") as f:
        json.dump(got, f)
    os.rename(path + ".tmp", path)
    if signum != signal.SIGHUP:
        os._exit(0)

for sig in (signal.SIGHUP, signal.SIGTERM):
    signal.signal(sig, record)
open(os.path.join(sys.argv[1], "%d.ready" % os.getpid()), "w").close()
while True:
    time.sleep(60)
"""


def ready(directory, pids):
    return all((directory / ("%d.ready" % pid)).exists() for pid in pids)


def signals_of(directory, pid):
    path = directory / ("%d.signals" % pid)
    return json.loads(path.read_text()) if path.exists() else []


@async_test
async def test_reload_with_send_hup_signals_each_process_and_keeps_it(tmp_path, tracker):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = {"name": "hup", "cmd": python(SIGNAL_RECORDER, marks), "numprocesses": 2,
            "send_hup": True, "graceful_timeout": 2}
    plain = {"name": "plain", "cmd": python(SIGNAL_RECORDER, marks), "graceful_timeout": 2}
    async with running_arbiter(tmp_path, [spec, plain]) as arbiter:
        hup, other = arbiter.get_watcher("hup"), arbiter.get_watcher("plain")
        await until_async(lambda: len(live_pids(hup)) == 2 and ready(marks, hup.pids), what="2 ready")
        await until_async(lambda: live_pids(other) and ready(marks, other.pids), what="plain ready")
        before, plain_before = live_pids(hup), live_pids(other)
        await arbiter.reload()
        await until_async(lambda: all(signals_of(marks, pid) == [signal.SIGHUP] for pid in before),
                          what="SIGHUP recorded by %s" % before)
        assert live_pids(hup) == before, "send_hup must keep the processes"
        assert hup.status() == "active"
        # Without send_hup a reload replaces the processes.
        await until_async(lambda: live_pids(other) and live_pids(other) != plain_before,
                          what="plain replaced")
        assert signals_of(marks, plain_before[0]) == [signal.SIGTERM]


@async_test
async def test_a_respawn_that_gives_up_stops_the_watcher_and_its_other_processes(tmp_path, tracker):
    program = tmp_path / "mysleep"
    shutil.copy("/bin/sleep", program)
    spec = {"name": "w", "cmd": "%s 60" % program, "numprocesses": 2, "max_retry": 1,
            "graceful_timeout": 1}
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        watcher = arbiter.get_watcher("w")
        await until_async(lambda: len(live_pids(watcher)) == 2, what="2 processes")
        victim, survivor = watcher.pids
        program.unlink()  # every respawn now fails to exec
        os.kill(victim, signal.SIGKILL)
        await until_async(lambda: watcher.status() == "stopped", timeout=5,
                          what="watcher stopped (is %s)" % watcher.status())
        assert not pid_alive(survivor), "the other process was left running"
        assert len(watcher) == 0


@async_test
async def test_max_retry_minus_1_retries_in_the_background_and_stop_ends_it_at_once(tmp_path, tracker, caplog):
    async with running_arbiter(tmp_path, []) as arbiter:
        watcher = arbiter.add_watcher("ghost", "/nonexistent/ghost-4242", max_retry=-1)
        result = await asyncio.wait_for(watcher.start(), 3)
        assert result == {"started": [], "kept": []}
        assert watcher.status() == "active", "retrying forever, not stopped"
        attempts = lambda: caplog.text.count("ghost-4242")  # noqa: E731
        await until_async(lambda: attempts() >= 5, timeout=5, what="five spawn attempts")
        began = time.monotonic()
        await asyncio.wait_for(watcher.stop(), 3)
        assert time.monotonic() - began < 1
        assert watcher.status() == "stopped"
        after_stop = attempts()
        await asyncio.sleep(0.3)  # would be enough for more attempts; not a synchronisation
        assert attempts() == after_stop, "still retrying after the stop"


@async_test
async def test_process_reports_age_children_and_info_and_signals_its_children(tmp_path, workers, tracker):
    spec = {"name": "w", "cmd": workers.cmd("w", "fork-child"), "stop_children": True,
            "graceful_timeout": 1}
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        watcher = arbiter.get_watcher("w")
        (report,) = await workers.await_reports("w", 1)
        process = watcher.processes[report["pid"]]
        grandchild = report["grandchild"]
        assert process.status == process_module.RUNNING
        assert 0 <= process.age() < 30
        assert process.children() == [grandchild] and process.is_child(grandchild)
        info = process.info()
        assert info["pid"] == report["pid"] and info["wid"] == 1
        assert [c["pid"] for c in info["children"]] == [grandchild]
        for key in ("mem_info1", "mem_info2", "cpu", "mem", "ctime", "username", "nice",
                    "create_time", "age", "cmdline", "started"):
            assert key in info, key
        with pytest.raises(psutil.NoSuchProcess):
            process.send_signal_child(os.getpid(), signal.SIGTERM)
        process.send_signal_child(grandchild, signal.SIGTERM)
        await until_async(lambda: not pid_alive(grandchild), what="the grandchild gone")
        assert process.is_alive()


def test_circus_util_and_circus_logger_are_the_names_plugins_import():
    import circus
    from circus import convert, logsetup, naming, procinfo, substitute, util

    assert circus.logger is logging.getLogger("circus")
    owners = {
        "to_bool": convert, "to_signum": convert, "to_uid": convert, "to_gid": convert,
        "bytes2human": convert, "human2bytes": convert, "get_info": procinfo,
        "resolve_name": naming, "replace_gnu_args": substitute, "parse_env_dict": substitute,
        "configure_logger": logsetup,
    }
    for name, owner in owners.items():
        assert getattr(util, name) is getattr(owner, name), "circus.util.%s is a second copy" % name
    assert util.DEFAULT_ENDPOINT_DEALER == "tcp://127.0.0.1:5555"
    assert util.DEFAULT_ENDPOINT_SUB == "tcp://127.0.0.1:5556"
    assert util.DEFAULT_ENDPOINT_STATS == "tcp://127.0.0.1:5557"
    assert util.DEFAULT_ENDPOINT_MULTICAST == "udp://237.219.251.97:12027"
    assert util.to_signum("SIGRTMIN+1") == signal.SIGRTMIN + 1
    assert util.human2bytes("1.5M") == 1572864 and util.bytes2human(10000) == "9.77K"
