"""The built-in plugins against an in-process arbiter and the real things they watch.

Each plugin runs in a thread of the test process with its own event loop,
exactly as ``circus-plugin`` runs it, and talks to the arbiter over ipc://.
"""

import asyncio
import concurrent.futures
import contextlib
import http.server
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from helpers import SLEEPER, async_test, live_pids, python, running_arbiter, until, until_async

from circus.plugins import CircusPlugin
from circus.plugins.command_reloader import CommandReloader
from circus.plugins.flapping import Flapping
from circus.plugins.http_observer import HttpObserver
from circus.plugins.resource_watcher import ResourceWatcher
from circus.plugins.statsd import FullStats, StatsdEmitter
from circus.plugins.watchdog import WatchDog


@contextlib.asynccontextmanager
async def plugin_thread(cls, arbiter, **config):
    """``cls`` started in a thread against ``arbiter``; stopped and joined on exit."""
    plugin = cls(arbiter.endpoint, arbiter.pubsub_endpoint, arbiter.check_delay, **config)
    thread = threading.Thread(target=plugin.start, name="plugin", daemon=True)
    thread.start()
    await until_async(lambda: plugin.running, 5, what="plugin running")
    try:
        yield plugin
    finally:
        plugin.stop()
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 5)
        assert not thread.is_alive(), "plugin thread did not stop"


async def in_plugin(plugin, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` run on the plugin's loop (its sockets are not thread-safe)."""
    done = concurrent.futures.Future()

    def run():
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            done.set_exception(exc)

    plugin.loop.add_callback(run)
    return await asyncio.wrap_future(done)


@contextlib.contextmanager
def udp_server():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def read_lines(sock, into):
    """Append every waiting datagram of ``sock`` to ``into``; return ``into``."""
    while True:
        try:
            into.append(sock.recv(65535).decode())
        except BlockingIOError:
            return into


async def sub_ready(arbiter, seen):
    """Publish a probe event until ``seen()`` is true: the plugin is subscribed."""

    async def probe():
        arbiter.publish("watcher.probe.ready", {"time": time.time()})
        await asyncio.sleep(0.05)
        return seen()

    await until_async(probe, 5, what="the plugin to receive events")


async def new_pid(watcher, old, timeout=8):
    """Wait until ``watcher`` runs a live process other than ``old``; return it."""
    await until_async(lambda: [p for p in live_pids(watcher) if p != old], timeout,
                      what="%s to replace process %s" % (watcher.name, old))
    return [p for p in live_pids(watcher) if p != old][0]


# -- the framework ---------------------------------------------------------


class Recorder(CircusPlugin):
    name = "recorder"

    def handle_init(self):
        self.events = []

    def handle_recv(self, data):
        self.events.append(self.split_data(data))


def test_split_data_keeps_dots_in_watcher_names():
    data = [b"watcher.api.v2.reap", b'{"process_pid": 1}']
    assert CircusPlugin.split_data(data) == ("api.v2", "reap", b'{"process_pid": 1}')
    assert CircusPlugin.load_message(data[1]) == {"process_pid": 1}


def test_an_inactive_plugin_refuses_to_start(tmp_path):
    plugin = Recorder("ipc://%s/c" % tmp_path, "ipc://%s/p" % tmp_path, 1.0, active="false")
    with pytest.raises(ValueError, match="not active"):
        plugin.start()


@async_test
async def test_a_plugin_receives_events_and_calls_commands(tmp_path, tracker):
    watchers = [{"name": "sleeper", "cmd": SLEEPER}]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        async with plugin_thread(Recorder, arbiter) as plugin:
            await sub_ready(arbiter, lambda: any(e[:2] == ("probe", "ready") for e in plugin.events))
            reply = await in_plugin(plugin, plugin.call, "list")
            assert reply["status"] == "ok" and "sleeper" in reply["watchers"]
            watcher = arbiter.get_watcher("sleeper")
            old = live_pids(watcher)[0]
            plugin.loop.add_callback(plugin.cast, "kill", name="sleeper", pid=old)
            await new_pid(watcher, old)
            await until_async(lambda: ("sleeper", "spawn") in [e[:2] for e in plugin.events], 5,
                              what="the spawn event of the replacement")


class Deaf(CircusPlugin):
    """A plugin that forgot handle_recv."""

    name = "deaf"


@async_test
async def test_a_plugin_without_handle_recv_says_so_once_instead_of_an_error_per_event(tmp_path, tracker, caplog):
    caplog.set_level(logging.INFO, logger="circus.plugins")
    watchers = [{"name": "sleeper", "cmd": SLEEPER}]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        async with plugin_thread(Deaf, arbiter), plugin_thread(Recorder, arbiter) as witness:
            await sub_ready(arbiter, lambda: witness.events)
            for _ in range(20):
                arbiter.publish("watcher.sleeper.updated", {"time": time.time()})
            await until_async(lambda: [e[1] for e in witness.events].count("updated") == 20, 5,
                              what="20 events delivered")
    warnings = [r for r in caplog.records if "does not override handle_recv" in r.getMessage()]
    assert len(warnings) == 1
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@async_test
async def test_call_times_out_with_an_error_naming_the_endpoint(tmp_path):
    plugin = Recorder("ipc://%s/nobody" % tmp_path, "ipc://%s/p" % tmp_path, 1.0)
    plugin.call_timeout = 0.2
    thread = threading.Thread(target=plugin.start, daemon=True)
    thread.start()
    await until_async(lambda: plugin.running, 5)
    from circus.exc import CallError

    try:
        with pytest.raises(CallError, match="no reply from circusd at ipc://"):
            await in_plugin(plugin, plugin.call, "list")
    finally:
        plugin.stop()
        thread.join(5)


class Lingering(CircusPlugin):
    """Each event starts a task: ``hang`` waits forever, ``boom`` raises."""

    name = "lingering"

    def handle_init(self):
        self.hanging = threading.Event()
        self.cancelled = threading.Event()

    async def handle_recv(self, data):
        action = self.split_data(data)[1]
        if action == "boom":
            raise RuntimeError("boom from a plugin task")
        if action == "hang":
            self.hanging.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise


@async_test
async def test_a_plugins_tasks_are_logged_when_they_fail_and_cancelled_when_it_stops(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="circus.tasks")
    async with running_arbiter(tmp_path, []) as arbiter:
        async with plugin_thread(Lingering, arbiter) as plugin:
            async def hanging():
                arbiter.publish("watcher.probe.hang", {"time": time.time()})
                await asyncio.sleep(0.05)
                return plugin.hanging.is_set()

            await until_async(hanging, 5, what="the plugin's hanging task")
            arbiter.publish("watcher.probe.boom", {"time": time.time()})
            await until_async(lambda: "boom from a plugin task" in caplog.text, 5, what="the failed task logged")
            assert len(plugin._tasks) >= 1 and not plugin.cancelled.is_set()
        assert plugin.cancelled.is_set()
        assert len(plugin._tasks) == 0
    assert "plugin lingering: background task" in caplog.text


# -- statsd ----------------------------------------------------------------


@async_test
async def test_statsd_emitter_counts_each_event(tmp_path, tracker):
    watchers = [{"name": "sleeper", "cmd": SLEEPER}]
    with udp_server() as statsd:
        lines = []
        config = {"host": "127.0.0.1", "port": str(statsd.getsockname()[1]), "application_name": "shop"}
        async with running_arbiter(tmp_path, watchers) as arbiter:
            async with plugin_thread(StatsdEmitter, arbiter, **config):
                await sub_ready(arbiter, lambda: read_lines(statsd, lines))
                assert "circus.shop.watcher.probe.ready:1|c" in lines
                await arbiter.get_watcher("sleeper").incr()
                await until_async(lambda: "circus.shop.watcher.sleeper.spawn:1|c" in read_lines(statsd, lines), 5,
                                  what="the spawn counter; got %s" % lines)


@async_test
async def test_full_stats_sends_process_gauges_every_loop_rate(tmp_path, tracker):
    watchers = [{"name": "sleeper", "cmd": SLEEPER, "numprocesses": 2}]
    with udp_server() as statsd:
        lines = []
        config = {"host": "127.0.0.1", "port": str(statsd.getsockname()[1]), "loop_rate": "0.2"}
        async with running_arbiter(tmp_path, watchers) as arbiter:
            async with plugin_thread(FullStats, arbiter, **config):
                def gauges():
                    read_lines(statsd, lines)
                    return {l.split(":")[0]: l.split(":")[1] for l in lines if l.startswith("circus.app.watcher._stats.sleeper.")}

                found = await until_async(lambda: len(gauges()) == 7 and gauges(), 5, what="7 gauges; got %s" % lines)
    assert found["circus.app.watcher._stats.sleeper.watchers_num"] == "2|g"
    assert int(found["circus.app.watcher._stats.sleeper.mem_max"].split("|")[0]) > 1 << 20
    assert all(value.endswith("|g") for value in found.values())


# -- flapping --------------------------------------------------------------


def event_times(plugin_events, action):
    return [t for name, act, t in plugin_events if name == "crasher" and act == action]


class Timeline(CircusPlugin):
    """Records (watcher, action, time received) in the test process."""

    name = "timeline"

    def handle_init(self):
        self.events = []

    def handle_recv(self, data):
        watcher, action, _ = self.split_data(data)
        self.events.append((watcher, action, time.monotonic()))


@async_test
async def test_flapping_stops_a_crash_loop_and_retries_after_retry_in(tmp_path, tracker):
    watchers = [{"name": "crasher", "cmd": python("import sys\nsys.exit(3)"), "autostart": False}]
    config = {"attempts": "2", "window": "1", "retry_in": "1.5", "max_retry": "1"}
    async with running_arbiter(tmp_path, watchers, check_delay=0.5) as arbiter:
        async with plugin_thread(Timeline, arbiter) as timeline, plugin_thread(Flapping, arbiter, **config):
            await sub_ready(arbiter, lambda: timeline.events)
            watcher = arbiter.get_watcher("crasher")
            await watcher.start()
            await until_async(lambda: len(event_times(timeline.events, "stop")) >= 2, 9,
                              what="two flapping stops; events %s" % timeline.events)
            stops = event_times(timeline.events, "stop")
            starts = event_times(timeline.events, "start")
            assert len(starts) == 2  # ours, and the retry
            assert starts[1] - stops[0] >= 1.5 - 0.05
            assert watcher.status() == "stopped"
            # max_retry reached: no other retry comes.
            await asyncio.sleep(2)
            assert len(event_times(timeline.events, "start")) == 2
            assert watcher.status() == "stopped"


@async_test
async def test_flapping_per_watcher_options_override_the_plugins(tmp_path, tracker):
    crasher = {"name": "crasher", "cmd": python("import sys\nsys.exit(3)"), "autostart": False,
               "options": {"flapping.max_retry": "0"}}
    config = {"attempts": "2", "window": "1", "retry_in": "0.5", "max_retry": "5"}
    async with running_arbiter(tmp_path, [crasher], check_delay=0.5) as arbiter:
        async with plugin_thread(Timeline, arbiter) as timeline, plugin_thread(Flapping, arbiter, **config):
            await sub_ready(arbiter, lambda: timeline.events)
            await arbiter.get_watcher("crasher").start()
            await until_async(lambda: event_times(timeline.events, "stop"), 8, what="a flapping stop")
            await asyncio.sleep(1.0)  # > retry_in: a retry would have come
            assert len(event_times(timeline.events, "start")) == 1
            assert arbiter.get_watcher("crasher").status() == "stopped"


@async_test
async def test_flapping_ignores_deaths_circus_asked_for(tmp_path, tracker):
    watchers = [{"name": "crasher", "cmd": SLEEPER, "numprocesses": 3}]
    config = {"attempts": "2", "window": "5", "retry_in": "0.5"}
    async with running_arbiter(tmp_path, watchers) as arbiter:
        async with plugin_thread(Timeline, arbiter) as timeline, plugin_thread(Flapping, arbiter, **config):
            await sub_ready(arbiter, lambda: timeline.events)
            watcher = arbiter.get_watcher("crasher")
            await watcher.stop()
            await watcher.start()
            await until_async(lambda: event_times(timeline.events, "start"), 5)
            await asyncio.sleep(1.0)  # > retry_in: a flapping stop would have come
            assert len(event_times(timeline.events, "stop")) == 1
            assert watcher.status() == "active"


# -- resource watcher --------------------------------------------------------


@async_test
async def test_resource_watcher_restarts_a_worker_past_max_mem(tmp_path, tracker):
    hog = python("import time\ndata = b'x' * (80 << 20)\nwhile True: time.sleep(60)")
    watchers = [{"name": "hog", "cmd": hog}]
    config = {"watcher": "hog", "loop_rate": "0.2", "max_mem": "40M", "max_count": "1",
              "max_cpu": "1000", "health_threshold": "1000"}
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("hog")
        first = live_pids(watcher)[0]
        async with plugin_thread(ResourceWatcher, arbiter, **config):
            await new_pid(watcher, first)


@async_test
async def test_resource_watcher_leaves_a_worker_within_its_limits(tmp_path, tracker):
    watchers = [{"name": "small", "cmd": SLEEPER}]
    config = {"watcher": "small", "loop_rate": "0.1", "max_mem": "1G", "max_count": "1",
              "max_cpu": "1000", "health_threshold": "1000"}
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("small")
        first = live_pids(watcher)
        async with plugin_thread(ResourceWatcher, arbiter, **config) as plugin:
            calls = []
            original = plugin.acall

            async def counting(*a, **kw):
                calls.append(a)
                return await original(*a, **kw)

            plugin.acall = counting
            await until_async(lambda: len(calls) >= 5, 5, what="5 checks")
        assert live_pids(watcher) == first


def test_resource_watcher_needs_a_watcher_name():
    with pytest.raises(ValueError, match="'watcher' is required"):
        ResourceWatcher("ipc:///nowhere/c", "ipc:///nowhere/p", 1.0)


def test_resource_watcher_accepts_the_deprecated_service_key():
    plugin = ResourceWatcher("ipc:///nowhere/c", "ipc:///nowhere/p", 1.0, service="web", max_mem="1G")
    assert plugin.watcher == "web"
    assert plugin.limits["max_mem"] == ("bytes", 1 << 30)
    plugin.loop.close()


# -- watchdog ----------------------------------------------------------------

BEATER = textwrap.dedent("""
    import os, socket, sys, time
    port, beats, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(beats):
        sock.sendto(("%d;%f" % (os.getpid(), time.time())).encode(), ("127.0.0.1", port))
        time.sleep(0.1)
    with open(os.path.join(out, "%d.silent" % os.getpid()), "w") as f:
        f.write(str(time.time()))
    while True:
        time.sleep(60)
""")


@async_test
async def test_watchdog_kills_a_process_that_stops_beating(tmp_path, tracker):
    # Generous margins: on a loaded machine a worker may take a second to
    # send its first beat, and must not be taken for a silent one.
    config = {"ip": "127.0.0.1", "port": "0", "loop_rate": "0.5", "max_count": "4"}
    async with running_arbiter(tmp_path, []) as arbiter:
        async with plugin_thread(WatchDog, arbiter, **config) as dog:
            cmd = python(BEATER, dog.port, 20, tmp_path)
            watcher = arbiter.add_watcher("beater", cmd)
            await watcher.start()
            first = live_pids(watcher)[0]
            await new_pid(watcher, first, timeout=15)
            silent_at = float((tmp_path / ("%d.silent" % first)).read_text())
            # It was killed after it went silent, not while it beat.
            assert time.time() - silent_at >= 4 * 0.5 - 0.3


# -- command reloader ----------------------------------------------------------


@async_test
async def test_command_reloader_restarts_a_watcher_whose_program_changed(tmp_path, tracker):
    program = tmp_path / "server"
    program.write_text("#!%s\nimport time\nwhile True: time.sleep(60)\n" % sys.executable)
    program.chmod(0o755)
    watchers = [{"name": "server", "cmd": str(program)}, {"name": "other", "cmd": SLEEPER}]
    async with running_arbiter(tmp_path, watchers) as arbiter:
        server, other = arbiter.get_watcher("server"), arbiter.get_watcher("other")
        first, other_pids = live_pids(server)[0], live_pids(other)
        async with plugin_thread(CommandReloader, arbiter, loop_rate="0.1") as plugin:
            await until_async(lambda: {"server", "other"} <= set(plugin.known), 5, what="a first look")
            stat = program.stat()
            os.utime(program, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
            await new_pid(server, first)
        assert live_pids(other) == other_pids


# -- http observer -------------------------------------------------------------


class Health(http.server.BaseHTTPRequestHandler):
    healthy = True
    served = []

    def do_GET(self):
        self.served.append(self.healthy)
        self.send_response(200 if self.healthy else 500)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def http_server():
    handler = type("H", (Health,), {"healthy": True, "served": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


@async_test
async def test_http_observer_restarts_the_watcher_when_the_url_starts_failing(tmp_path, tracker):
    watchers = [{"name": "web", "cmd": SLEEPER}]
    with http_server() as (server, handler):
        url = "http://127.0.0.1:%d/health" % server.server_address[1]
        config = {"check_url": url, "loop_rate": "0.1", "timeout": "2", "restart_on_error": "web"}
        async with running_arbiter(tmp_path, watchers) as arbiter:
            watcher = arbiter.get_watcher("web")
            first = live_pids(watcher)[0]
            async with plugin_thread(HttpObserver, arbiter, **config):
                await until_async(lambda: len(handler.served) >= 3, 5, what="3 healthy checks")
                assert live_pids(watcher) == [first]
                handler.healthy = False
                await new_pid(watcher, first)


# -- redis observer ------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a unix socket in tmp_path."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    pytest.importorskip("redis", reason="redis-py is not installed (pip install 'circus[redis]')")
    path = tmp_path / "redis.sock"
    proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(path), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(path.exists, 5, what="redis-server to start")
        yield proc, "unix://%s" % path
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


@async_test
async def test_redis_observer_restarts_the_watcher_when_redis_stops_answering(tmp_path, tracker, redis_server):
    import redis

    from circus.plugins.redis_observer import RedisObserver

    proc, url = redis_server
    probe = redis.Redis.from_url(url)
    pings = lambda: probe.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)  # noqa: E731
    watchers = [{"name": "cache-user", "cmd": SLEEPER}]
    config = {"redis_url": url, "loop_rate": "0.1", "timeout": "0.3", "restart_on_timeout": "cache-user"}
    async with running_arbiter(tmp_path, watchers) as arbiter:
        watcher = arbiter.get_watcher("cache-user")
        first = live_pids(watcher)[0]
        async with plugin_thread(RedisObserver, arbiter, **config):
            await until_async(lambda: pings() >= 3, 5, what="3 answered pings")
            probe.close()
            assert live_pids(watcher) == [first]
            proc.send_signal(signal.SIGSTOP)
            await new_pid(watcher, first)
