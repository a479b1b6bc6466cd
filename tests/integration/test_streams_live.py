"""Output streams fed by real workers of an in-process arbiter.

Workers write known byte patterns; what the streams received is compared
byte for byte with what was written.
"""

import os
import re
import sys

import pytest

from helpers import async_test, client_of, pid_alive, python, running_arbiter, until_async

MB = 1024 * 1024

# Writes argv[1] bytes of a binary pattern (every byte value, invalid UTF-8
# included) to stdout, reports how long that took on stderr, then waits.
SPEW = """
import os, sys, time
size = int(sys.argv[1])
pattern = bytes(range(256)) * 256
started = time.monotonic()
left = size
while left:
    left -= os.write(1, pattern[:min(left, len(pattern))])
os.write(2, b"wrote in %.3f\\n" % (time.monotonic() - started))
if sys.argv[2:] == ["exit"]:
    os._exit(0)
while True:
    time.sleep(60)
"""

# Prints "<pid> out" on stdout and "<pid> err" on stderr, then waits.
HELLO = """
import os, time
os.write(1, b"%d out\\n" % os.getpid())
os.write(2, b"%d err\\n" % os.getpid())
while True:
    time.sleep(60)
"""

# Prints "tick N" on stdout every 20 ms.
TICKER = """
import os, time
n = 0
while True:
    os.write(1, b"tick %d\\n" % n)
    n += 1
    time.sleep(0.02)
"""

STREAM_MODULE = '''
"""A user-defined stream: records its options, its life and what it received."""

INSTANCES = []


class Collector:
    def __init__(self, tag="none", limit="0", **ignored):
        self.tag = tag
        self.limit = int(limit)
        self.life = []
        self.data = []
        INSTANCES.append(self)

    def open(self):
        self.life.append("open")

    def close(self):
        self.life.append("close")

    def __call__(self, entry):
        if not self.life or self.life[-1] != "write":
            self.life.append("write")
        self.data.append(dict(entry))
'''


def expected_spew(size):
    pattern = bytes(range(256)) * 256
    return (pattern * (size // len(pattern) + 1))[:size]


def watcher(name, code, *args, **options):
    options.setdefault("graceful_timeout", 1)
    return dict(name=name, cmd=python(code, *args), **options)


def drain(queue):
    entries = []
    while not queue.empty():
        entries.append(queue.get_nowait())
    return entries


def file_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


@pytest.fixture
def stream_module(tmp_path):
    """A uniquely named module defining ``Collector``, on a path given to the watcher's env."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    directory = tmp_path / "streammods"
    directory.mkdir()
    name = "streams_%d" % abs(hash(str(tmp_path)))
    (directory / (name + ".py")).write_text(STREAM_MODULE)
    yield directory, name
    sys.path[:] = saved_path
    for module in set(sys.modules) - saved_modules:
        if module.startswith(name):
            del sys.modules[module]


@async_test
async def test_queue_streams_receive_stdout_and_stderr_entries_with_pid_and_name(tmp_path, tracker):
    spec = watcher("w", HELLO, stdout_stream={"class": "QueueStream"},
                   stderr_stream={"class": "QueueStream"}, numprocesses=2)
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        out, err = [], []

        def received_all():
            out.extend(drain(w.stdout_stream))
            err.extend(drain(w.stderr_stream))
            return len(out) >= 2 and len(err) >= 2

        await until_async(received_all, timeout=10, what="two entries on each stream")
        pids = sorted(w.processes)
        for entries, name in ((out, "stdout"), (err, "stderr")):
            assert all(set(e) == {"data", "pid", "name"} for e in entries), entries
            assert all(e["name"] == name for e in entries)
            assert sorted(e["pid"] for e in entries) == pids
            for e in entries:
                assert e["data"] == b"%d %s\n" % (e["pid"], name[3:].encode())


@async_test
async def test_ten_megabytes_written_at_once_arrive_whole_without_blocking_the_worker(tmp_path, tracker):
    out = tmp_path / "out.log"
    spec = watcher("w", SPEW, str(10 * MB), stdout_stream={"class": "FileStream", "filename": str(out)},
                   stderr_stream={"class": "QueueStream"})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        done = []
        await until_async(lambda: done.extend(drain(w.stderr_stream)) or done, timeout=20,
                          what="the worker to finish writing")
        seconds = float(re.match(rb"wrote in ([0-9.]+)", done[0]["data"]).group(1))
        await until_async(lambda: file_size(out) >= 10 * MB, timeout=10,
                          what="10 MB in the file (have %d)" % file_size(out))
        assert out.read_bytes() == expected_spew(10 * MB)
        # A pipe holds 64 KB: the worker finishes only if circusd keeps reading.
        assert seconds < 10, "the worker was blocked %.1fs writing 10 MB" % seconds


@async_test
async def test_bytes_written_just_before_exit_are_delivered(tmp_path, tracker):
    out = tmp_path / "out.log"
    size = 3 * MB + 12345  # not a multiple of any read size
    spec = watcher("w", SPEW, str(size), "exit", respawn=False,
                   stdout_stream={"class": "FileStream", "filename": str(out)})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        await until_async(lambda: w.status() == "stopped", timeout=20,
                          what="the watcher to stop after its worker exited")
        assert out.read_bytes() == expected_spew(size)


@async_test
async def test_each_worker_of_a_crowd_exiting_at_once_delivers_its_last_bytes(tmp_path, tracker):
    code = "import os\nos.write(1, b'last words of %d' % os.getpid())\nos._exit(0)\n"
    spec = watcher("w", code, numprocesses=5, respawn=False, stdout_stream={"class": "QueueStream"})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        stream = w.stdout_stream
        await until_async(lambda: w.status() == "stopped", timeout=20, what="every worker gone")
        entries = drain(stream)
        by_pid = {}
        for e in entries:
            by_pid[e["pid"]] = by_pid.get(e["pid"], b"") + e["data"]
        assert len(by_pid) == 5
        assert all(data == b"last words of %d" % pid for pid, data in by_pid.items())


@async_test
async def test_time_format_prefixes_each_line_with_the_time_and_pid(tmp_path, tracker):
    out = tmp_path / "out.log"
    spec = watcher("w", HELLO, stdout_stream={"class": "FileStream", "filename": str(out),
                                              "time_format": "%Y-%m-%d %H:%M:%S"})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        (pid,) = arbiter.get_watcher("w").processes
        await until_async(lambda: out.exists() and out.read_bytes().endswith(b"\n"), timeout=10,
                          what="a line in %s" % out)
        line = out.read_text()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[%d\] \| %d out\n" % (pid, pid), line), line


@async_test
async def test_a_stream_class_named_by_dotted_path_gets_its_options_and_the_entries(tmp_path, tracker, stream_module):
    directory, module = stream_module
    spec = watcher("w", HELLO, env={"PYTHONPATH": str(directory)},
                   stdout_stream={"class": module + ".Collector", "tag": "mine", "limit": "7"})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        stream = arbiter.get_watcher("w").stdout_stream
        assert type(stream).__module__ == module
        assert (stream.tag, stream.limit) == ("mine", 7)
        await until_async(lambda: stream.data, timeout=10, what="an entry in the custom stream")
        (pid,) = arbiter.get_watcher("w").processes
        assert stream.data == [{"data": b"%d out\n" % pid, "pid": pid, "name": "stdout"}]


@async_test
async def test_streams_are_opened_on_start_and_closed_on_stop(tmp_path, tracker, stream_module):
    directory, module = stream_module
    spec = watcher("w", HELLO, env={"PYTHONPATH": str(directory)}, autostart=False,
                   stdout_stream={"class": module + ".Collector"},
                   stderr_stream={"class": module + ".Collector"})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        out, err = w.stdout_stream, w.stderr_stream
        assert out is not err
        assert out.life == [] and err.life == [], "not opened before the watcher starts"
        await w.start()
        await until_async(lambda: out.data and err.data, timeout=10, what="output on both streams")
        assert out.life == ["open", "write"] and err.life == ["open", "write"]
        await w.stop()
        assert out.life == ["open", "write", "close"] and err.life == ["open", "write", "close"]
        await w.start()
        await until_async(lambda: len(out.data) == 2, timeout=10, what="output after a new start")
        assert out.life == ["open", "write", "close", "open", "write"]
    assert out.life[-1] == "close", "the arbiter's stop closes the streams too"


@async_test
async def test_set_stdout_stream_filename_moves_the_output_of_a_running_watcher(tmp_path, tracker):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    spec = watcher("w", TICKER, stdout_stream={"class": "FileStream", "filename": str(first)})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        (pid,) = w.processes
        await until_async(lambda: file_size(first) > 0, timeout=10, what="ticks in the first file")
        async with client_of(arbiter, timeout=5) as client:
            reply = await client.send_message("set", name="w", waiting=True,
                                              options={"stdout_stream.filename": str(second)})
        assert reply["status"] == "ok", reply
        await until_async(lambda: file_size(second) > 0, timeout=10, what="ticks in the second file")
        frozen = first.read_bytes()
        before = file_size(second)
        await until_async(lambda: file_size(second) > before + 20, timeout=10, what="more ticks")
        assert first.read_bytes() == frozen, "the old stream still receives output"
        assert list(w.processes) == [pid], "changing the stream must not restart the worker"
        ticks = [int(n) for n in re.findall(rb"tick (\d+)\n", frozen + second.read_bytes())]
        assert ticks == list(range(len(ticks))), "a tick was lost or duplicated in the switch"


# log_buffer_size = 0: no ring, the worker inherits circusd's stdout, so a
# stream needs new processes with a pipe; by default the pipe the ring reads
# is already there and the stream takes it over, the worker kept.
@pytest.mark.parametrize("log_buffer_size, keeps_worker", [(0, False), (65536, True)])
@async_test
async def test_set_stdout_stream_class_on_a_watcher_without_a_stream_starts_piping(
        tmp_path, tracker, log_buffer_size, keeps_worker):
    out = tmp_path / "out.log"
    spec = watcher("w", TICKER, log_buffer_size=log_buffer_size)
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        (pid,) = w.processes
        async with client_of(arbiter, timeout=5) as client:
            reply = await client.send_message(
                "set", name="w", waiting=True,
                options={"stdout_stream": {"class": "FileStream", "filename": str(out)}})
        assert reply["status"] == "ok", reply
        await until_async(lambda: b"tick" in (out.read_bytes() if out.exists() else b""), timeout=10,
                          what="ticks in %s once a stream is set" % out)
        assert all(pid_alive(p) for p in w.processes)
        if keeps_worker:
            assert list(w.processes) == [pid], "the stream takes over the pipe: no restart"


@async_test
async def test_log_buffer_size_raised_from_0_pipes_the_processes_spawned_after(tmp_path, tracker):
    spec = watcher("w", HELLO, log_buffer_size=0)
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        (first,) = w.processes
        assert w.processes[first].stdout is None and w.log_ring.lines() == []
        async with client_of(arbiter, timeout=5) as client:
            reply = await client.send_message("set", name="w", waiting=True, options={"log_buffer_size": 4096})
            assert reply["status"] == "ok", reply
            assert list(w.processes) == [first], "log_buffer_size needs no restart"
            os.kill(first, 9)
            await until_async(lambda: first not in w.processes and w.processes, timeout=10,
                              what="a respawned process")
        (second,) = w.processes
        await until_async(lambda: len(w.log_ring.lines()) == 2, timeout=10, what="the new process's lines")
        assert sorted((line["stream"], line["line"]) for line in w.log_ring.lines()) == [
            ("stderr", "%d err" % second), ("stdout", "%d out" % second)]


@async_test
async def test_a_raising_stream_never_blocks_the_worker_nor_stops_the_watcher(tmp_path, tracker):
    def broken(entry):
        raise RuntimeError("disk on fire")

    spec = watcher("w", SPEW, str(MB), stdout_stream={"stream": broken},
                   stderr_stream={"class": "QueueStream"})
    async with running_arbiter(tmp_path, [spec]) as arbiter:
        w = arbiter.get_watcher("w")
        (pid,) = w.processes
        done = []
        # 1 MB does not fit in a pipe: the worker reports only if its stdout is still read.
        await until_async(lambda: done.extend(drain(w.stderr_stream)) or done, timeout=10,
                          what="the worker to get past writing 1 MB")
        assert list(w.processes) == [pid] and pid_alive(pid) and w.status() == "active"
