"""circusd-stats' parts with real processes and sockets, without circusd."""

import asyncio
import os
import socket
import subprocess
import sys

import psutil
import pytest

from circus.convert import bytes2human
from circus.procinfo import get_info
from circus.stats.collector import Collector, aggregate, socket_messages
from circus.stats.hits import HitCounter, address_of
from circus.stats.sampler import ProcessGone, ProcessSampler, human_size
from helpers import async_test, until, until_async

# Each prints "ready" once started, so that start-up costs are not measured.
BUSY = "print('ready', flush=True)\nwhile True: pass"
IDLE = "import time\nprint('ready', flush=True)\nwhile True: time.sleep(60)"
WITH_CHILD = (
    "import subprocess, time\nsubprocess.Popen(['sleep', '60'])\n"
    "print('ready', flush=True)\nwhile True: time.sleep(60)"
)


@pytest.fixture
def spawn():
    procs = []

    def start(code):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout.readline() == b"ready\n"
        return proc

    yield start
    for proc in procs:
        for child in psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []:
            child.kill()
        proc.kill()
        proc.wait()
        proc.stdout.close()


def rounds(collector, count):
    """The messages of ``count`` rounds, 0.3 s apart (CPU % needs time between rounds)."""
    import time

    messages = []
    for _ in range(count):
        messages = dict(collector.round())
        time.sleep(0.3)
    return messages


def test_a_busy_process_shows_high_cpu_and_an_idle_one_near_zero(spawn):
    busy, idle = spawn(BUSY), spawn(IDLE)
    collector = Collector()
    collector.add("Busy", busy.pid)
    collector.add("idle", idle.pid)
    # On a loaded machine the busy loop gets less than a core: poll for a
    # round where it clearly stands out, while the idle one stays near zero.
    def busy_stands_out():
        messages.update(rounds(collector, 1))
        assert messages["stat.idle.%d" % idle.pid]["cpu"] < 5
        return messages["stat.busy.%d" % busy.pid]["cpu"] > 15

    messages = rounds(collector, 1)
    until(busy_stands_out, timeout=20, interval=0, what="busy cpu > 15%%: %s" % messages.get("stat.busy"))
    assert messages["stat.busy"]["pid"] == [busy.pid]
    assert list(messages)[-1] == "stat.idle"  # watchers in name order, aggregate after its pids


def test_the_sampler_reports_the_same_fields_as_get_info(spawn):
    proc = spawn(IDLE)
    sampled = ProcessSampler(proc.pid).sample()
    reference = get_info(proc.pid)
    assert set(sampled) == set(reference)
    for key in ("pid", "username", "nice", "cmdline", "mem_info2", "children"):
        assert sampled[key] == reference[key], key
    assert abs(sampled["create_time"] - reference["create_time"]) < 0.02
    assert sampled["cpu"] == 0.0  # the first round has nothing to compare with


def test_children_are_reported_with_their_own_figures(spawn):
    parent = spawn(WITH_CHILD)
    # Wait for the exec: between fork and exec the child is still "python".
    until(lambda: [c for c in psutil.Process(parent.pid).children() if c.cmdline()[:1] == ["sleep"]],
          what="the sleep child of the worker")
    (child,) = psutil.Process(parent.pid).children()
    info = ProcessSampler(parent.pid).sample()
    assert [c["pid"] for c in info["children"]] == [child.pid]
    assert info["children"][0]["cmdline"] == "sleep"


def test_a_vanished_process_is_dropped_from_its_watcher_and_never_raises(spawn):
    gone, kept = spawn(IDLE), spawn(IDLE)
    collector = Collector()
    collector.add("w", gone.pid)
    collector.add("w", kept.pid)
    gone.kill()
    gone.wait()
    messages = dict(collector.round())
    assert messages["stat.w"]["pid"] == [kept.pid]
    assert gone.pid in collector.gone and gone.pid not in collector.watchers["w"]
    with pytest.raises(ProcessGone):
        ProcessSampler(gone.pid).sample()


def test_events_add_remove_and_clear_processes(spawn):
    a, b = spawn(IDLE), spawn(IDLE)
    collector = Collector()
    collector.on_event("web", "spawn", {"process_pid": a.pid})
    collector.on_event("web", "spawn", {"process_pid": b.pid})
    assert sorted(collector.watchers["web"]) == sorted([a.pid, b.pid])
    collector.on_event("web", "kill", {"process_pid": a.pid})
    assert list(collector.watchers["web"]) == [b.pid]
    collector.on_event("web", "stop", {})
    assert "web" not in collector.watchers
    collector.on_event("circusd-stats", "spawn", {"process_pid": a.pid})
    collector.on_event("circushttpd", "spawn", {"process_pid": b.pid})
    assert "circusd-stats" not in collector.watchers
    messages = dict(collector.round())
    assert messages["stat.circus.%d" % b.pid]["name"] == "circushttpd"


def test_aggregates_say_na_when_nothing_was_readable():
    assert aggregate([], []) == {"pid": [], "cpu": "N/A", "mem": "N/A", "age": "N/A"}
    infos = [{"cpu": 10.0, "mem": 1.0, "age": 3.0}, {"cpu": "N/A", "mem": 2.0, "age": 5.0}]
    assert aggregate([1, 2], infos) == {"pid": [1, 2], "cpu": 10.0, "mem": 3.0, "age": 5.0}


def test_sizes_are_formatted_like_bytes2human():
    for number in (0, 1, 1023, 1024, 10000, 9_420_000, 2**30 + 5, 2**42):
        assert human_size(number) == bytes2human(number)


def test_socket_messages_follow_the_spec():
    sockets = [{"fd": 5, "name": "web", "host": "127.0.0.1", "port": 8080, "backlog": 10},
               {"fd": 7, "name": "api", "path": "/tmp/api.sock", "backlog": 10},
               {"fd": 9, "name": "v6", "host": "::1", "port": 81, "backlog": 10}]
    messages = dict(socket_messages(sockets, {5: 3, 7: "N/A", 9: 1}))
    assert messages["stat.sockets.5"] == {"fd": 5, "subtopic": 5, "reads": 3, "address": "127.0.0.1:8080"}
    assert messages["stat.sockets.7"]["reads"] == "N/A"
    assert messages["stat.sockets"] == {"addresses": ["127.0.0.1:8080", "/tmp/api.sock", "[::1]:81"], "reads": 4}
    assert dict(socket_messages([], {})) == {}
    assert address_of(sockets[2]) == "[::1]:81"


@async_test
async def test_hits_count_each_connection_without_taking_it_from_the_workers(tmp_path):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(50)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(tmp_path / "s.sock"))
    unix.listen(50)
    infos = [{"fd": tcp.fileno(), "name": "tcp", "host": "127.0.0.1", "port": tcp.getsockname()[1]},
             {"fd": unix.fileno(), "name": "unix", "path": str(tmp_path / "s.sock")}]
    counter = HitCounter(asyncio.get_running_loop())
    clients = []
    try:
        counter.reset(infos, os.getpid())
        assert counter.take() == {tcp.fileno(): 0, unix.fileno(): 0}
        for _ in range(4):  # nobody accepts: every one is counted
            clients.append(socket.create_connection(tcp.getsockname()))
        await until_async(lambda: counter._hits[tcp.fileno()] >= 4, what="4 tcp hits")
        clients.append(socket.socket(socket.AF_UNIX))
        clients[-1].connect(str(tmp_path / "s.sock"))
        await until_async(lambda: counter._hits[unix.fileno()] >= 1, what="1 unix hit")
        assert counter.take() == {tcp.fileno(): 4, unix.fileno(): 1}
        # The connections are still there for the workers to accept.
        for _ in range(4):
            conn, _ = tcp.accept()
            conn.close()
        unix.accept()[0].close()
        clients.append(socket.create_connection(tcp.getsockname()))
        await until_async(lambda: counter._hits[tcp.fileno()] >= 1, what="a hit after accepts")
        assert counter.take() == {tcp.fileno(): 1, unix.fileno(): 0}
    finally:
        counter.close()
        for sock in clients + [tcp, unix]:
            sock.close()


@async_test
async def test_a_socket_that_cannot_be_seen_has_na_hits():
    counter = HitCounter(asyncio.get_running_loop())
    try:
        lonely = {"fd": 999, "name": "elsewhere", "host": "127.0.0.1", "port": 1}
        counter.reset([lonely], None)
        assert counter.take() == {999: "N/A"}
    finally:
        counter.close()
