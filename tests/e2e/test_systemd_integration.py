"""circusd under systemd: it tells its own supervisor how it is (READY=1,
RELOADING=1, STOPPING=1, WATCHDOG=1 on a NOTIFY_SOCKET the test binds), it
takes sockets passed the socket-activation way, and it hands sockets to
workers the same way."""

import signal
import socket
import sys
import time

import pytest

from circus.client import CircusClient
from helpers import Probe, ReadyWorkers, call, http_get_tcp, ok, until


class Supervisor:
    """The test's end of NOTIFY_SOCKET: every datagram circusd sends, in order."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []

    def receive(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            self.messages.append(dict(
                line.split("=", 1) for line in data.decode().split("\n") if line))

    def wait_for(self, key, value=None, after=0, timeout=20):
        """Index of the first message from ``after`` on holding ``key`` (= ``value``)."""
        def found():
            for index, message in enumerate(self.receive()[after:], after):
                if key in message and (value is None or message[key] == value):
                    return index + 1  # truthy even for index 0
            return None

        return until(found, timeout, what="%s=%s from circusd; got %s"
                     % (key, value, self.messages)) - 1

    def close(self):
        self.sock.close()


@pytest.fixture
def supervisor(tmp_path):
    sup = Supervisor(tmp_path / "notify.sock")
    yield sup
    sup.close()


def test_ready_reloading_stopping_and_watchdog(circusd, workers, supervisor):
    daemon = circusd(env={"NOTIFY_SOCKET": supervisor.path, "WATCHDOG_USEC": "300000"})
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
        numprocesses = 2
    """ % workers.cmd("web"))
    daemon.start()
    ready = supervisor.wait_for("READY", "1")
    # READY=1 means every autostart watcher is running.
    assert len(daemon.pids("web")) == 2
    assert supervisor.messages[ready].get("MAINPID") == str(daemon.pid)
    # WATCHDOG_USEC=0.3 s: circusd pings at least every 0.15 s.
    first = supervisor.wait_for("WATCHDOG", "1")
    supervisor.wait_for("WATCHDOG", "1", after=first + 3, timeout=10)

    client = CircusClient(endpoint=daemon.endpoint, timeout=30)
    try:
        mark = len(supervisor.receive())
        assert client.send_message("reloadconfig")["status"] == "ok"
        reloading = supervisor.wait_for("RELOADING", "1", after=mark)
        assert "MONOTONIC_USEC" in supervisor.messages[reloading]
        supervisor.wait_for("READY", "1", after=reloading + 1)
    finally:
        client.stop()

    mark = len(supervisor.receive())
    assert daemon.terminate() == 0
    supervisor.wait_for("STOPPING", "1", after=mark)


def test_no_notify_socket_no_messages_and_no_error(circusd, workers):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
    """ % workers.cmd("web"))
    daemon.start()
    daemon.wait_pids("web", 1)
    daemon.wait_log(r"arbiter started")
    assert "notify" not in daemon.log().lower()
    assert daemon.terminate() == 0


# A worker that serves HTTP on what socket activation passed it, answering
# its pid, LISTEN_PID and LISTEN_FDNAMES.
ACTIVATED_WORKER = r'''
import os, socket
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not mine"
count = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"]
listener = socket.socket(fileno=3)
while True:
    conn, _ = listener.accept()
    conn.recv(65536)
    body = ("%d %s %s %d" % (os.getpid(), os.environ["LISTEN_PID"], names, count)).encode()
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (len(body), body))
    conn.close()
'''

# Plays systemd: the listener becomes fd 3 of circusd, LISTEN_PID its pid.
ACTIVATE = (
    "import os, sys\n"
    "os.dup2(int(sys.argv[1]), 3)\n"
    "os.environ['LISTEN_PID'] = str(os.getpid())\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def start_activated(circusd, tmp_path, env=None):
    """circusd given a listening socket 'web' the systemd way, with two activated workers on it;
    (daemon, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    worker = tmp_path / "activated.py"
    worker.write_text(ACTIVATED_WORKER)

    daemon = circusd(env=dict(env or {}, LISTEN_FDS="1", LISTEN_FDNAMES="web"))
    daemon.write_ini("""
        [socket:web]
        systemd = true
        # The worker accepts in blocking mode, as with systemd's default NonBlocking=no.
        blocking = true

        [watcher:app]
        cmd = %s %s
        numprocesses = 2
        use_sockets = true
        listen_fds = true
    """ % (sys.executable, worker))
    with listener:  # circusd holds it once started
        daemon.start(prefix=[sys.executable, "-c", ACTIVATE, str(listener.fileno())],
                     pass_fds=[listener.fileno()])
    until(lambda: len(daemon.children()) == 2, timeout=20, what="two workers")
    return daemon, port


def test_socket_activation_end_to_end(circusd, tmp_path):
    daemon, port = start_activated(circusd, tmp_path)
    pids = {kid.pid for kid in daemon.children()}
    answers = set()
    deadline = time.monotonic() + 20
    while answers != pids and time.monotonic() < deadline:
        pid, listen_pid, names, count = http_get_tcp("127.0.0.1", port).split()
        assert pid == listen_pid and names == "web" and count == "1"
        answers.add(int(pid))
    assert answers == pids

    client = CircusClient(endpoint=daemon.endpoint, timeout=30)
    try:
        sockets = client.send_message("listsockets")["sockets"]
    finally:
        client.stop()
    assert [(s["name"], s["port"]) for s in sockets] == [("web", port)]
    assert daemon.terminate() == 0


def test_systemd_socket_without_an_inherited_fd_is_a_clear_error(circusd):
    daemon = circusd()
    daemon.write_ini("""
        [socket:web]
        systemd = true

        [watcher:app]
        cmd = sleep 60
        use_sockets = true
    """)
    rc, out, err = daemon.run()
    assert rc == 1
    assert "socket web: systemd = true but circusd was given no socket named 'web'" in out + err


def test_workers_do_not_get_circusds_notify_socket_or_watchdog(circusd, workers, supervisor):
    # WATCHDOG_PID names another process: no watchdog for circusd either.
    daemon = circusd(env={"NOTIFY_SOCKET": supervisor.path, "WATCHDOG_USEC": "200000",
                          "WATCHDOG_PID": "1"})
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
        copy_env = true
    """ % workers.cmd("web"))
    daemon.start()
    ready = supervisor.wait_for("READY", "1")
    env = workers.wait_reports("web", 1)[0]["env"]
    assert env["PYTHONUNBUFFERED"] == "1"  # circusd's environment was copied...
    leaked = [key for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID") if key in env]
    assert leaked == []  # ...but not what belongs to circusd's supervisor
    assert supervisor.messages[ready]["MAINPID"] == str(daemon.pid)
    assert daemon.terminate() == 0
    supervisor.wait_for("STOPPING", "1")
    # An enabled watchdog pings as soon as circusd starts, before READY=1.
    assert not [m for m in supervisor.messages if "WATCHDOG" in m]


def test_sighup_reload_is_bracketed_by_reloading_and_ready(circusd, workers, supervisor):
    daemon = circusd(env={"NOTIFY_SOCKET": supervisor.path})
    body = """
        [watcher:web]
        cmd = %s
        numprocesses = %d
    """
    daemon.write_ini(body % (workers.cmd("web"), 1))
    daemon.start()
    supervisor.wait_for("READY", "1")
    daemon.write_ini(body % (workers.cmd("web"), 3))
    mark = len(supervisor.receive())
    daemon.signal(signal.SIGHUP)  # what systemctl reload sends (ExecReload)
    reloading = supervisor.wait_for("RELOADING", "1", after=mark)
    ready = supervisor.wait_for("READY", "1", after=reloading + 1)
    # READY=1 comes once the reload is applied.
    assert len(daemon.pids("web")) == 3
    assert supervisor.messages[ready]["STATUS"].startswith("1 of 1 autostart watchers up")
    assert daemon.terminate() == 0


def test_a_failed_reloadconfig_is_still_followed_by_ready(circusd, workers, supervisor):
    daemon = circusd(env={"NOTIFY_SOCKET": supervisor.path})
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
    """ % workers.cmd("web"))
    daemon.start()
    supervisor.wait_for("READY", "1")
    daemon.ini.write_text("[watcher:web]\nnumprocesses = many\n")
    mark = len(supervisor.receive())
    reply = call(daemon, "reloadconfig", waiting=True, timeout=30)
    assert reply["status"] == "error"
    reloading = supervisor.wait_for("RELOADING", "1", after=mark)
    supervisor.wait_for("READY", "1", after=reloading + 1)
    assert len(daemon.pids("web")) == 1
    assert daemon.terminate() == 0


def test_an_unreachable_notify_socket_is_logged_and_circusd_runs_on(circusd, workers, tmp_path):
    missing = tmp_path / "no" / "such" / "notify.sock"
    daemon = circusd(env={"NOTIFY_SOCKET": str(missing), "WATCHDOG_USEC": "100000"})
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
        numprocesses = 2
    """ % workers.cmd("web"))
    daemon.start()
    daemon.wait_pids("web", 2)
    daemon.wait_log(r"could not notify the supervisor at NOTIFY_SOCKET=%s" % missing)
    # Logged once, not at every watchdog ping; and circusd still answers.
    assert ok(call(daemon, "numprocesses"))["numprocesses"] == 2
    assert daemon.log().count("could not notify") == 1
    assert daemon.terminate() == 0


def test_listen_fds_gives_each_worker_the_sockets_in_the_order_its_command_names_them(
        circusd, tmp_path):
    probe = Probe(tmp_path)
    daemon = circusd()
    # zeta named first: fd 3. $(circus.sockets.NAME) is where the worker has
    # the socket, so serve=... finds alpha at fd 4.
    daemon.write_ini("""
        [socket:zeta]
        host = 127.0.0.1
        port = 0

        [socket:alpha]
        host = 127.0.0.1
        port = 0

        [watcher:app]
        cmd = %s %s
        numprocesses = 2
        listen_fds = true
    """ % (sys.executable, probe.args("app", "other=$(circus.sockets.zeta)",
                                      "serve=$(circus.sockets.alpha)")))
    daemon.start()
    reports = probe.wait("app", 2, timeout=20)
    ports = {s["name"]: s["port"] for s in ok(call(daemon, "listsockets"))["sockets"]}
    for report in reports:
        env = report["env"]
        assert (env["LISTEN_FDS"], env["LISTEN_FDNAMES"]) == ("2", "zeta:alpha")
        assert env["LISTEN_PID"] == str(report["pid"])
        assert report["fds"]["3"]["address"] == ["127.0.0.1", ports["zeta"]]
        assert report["fds"]["4"]["address"] == ["127.0.0.1", ports["alpha"]]
        # Only the two sockets are passed: nothing above fd 4 but the probe's own.
        sockets_above = [fd for fd, info in report["fds"].items()
                         if int(fd) > 4 and info["target"].startswith("socket:")]
        assert sockets_above == []
    served = {int(http_get_tcp("127.0.0.1", ports["alpha"])) for _ in range(20)}
    assert served <= {r["pid"] for r in reports} and served
    assert daemon.terminate() == 0


def test_listen_fds_without_named_sockets_passes_them_all_by_name(circusd, tmp_path):
    probe = Probe(tmp_path)
    daemon = circusd()
    daemon.write_ini("""
        [socket:web]
        host = 127.0.0.1
        port = 0

        [socket:admin]
        path = %s

        [watcher:app]
        cmd = %s %s
        listen_fds = true
    """ % (tmp_path / "admin.sock", sys.executable, probe.args("app")))
    daemon.start()
    report = probe.wait("app")[0]
    assert (report["env"]["LISTEN_FDS"], report["env"]["LISTEN_FDNAMES"]) == ("2", "admin:web")
    assert report["env"]["LISTEN_PID"] == str(report["pid"])
    assert report["fds"]["3"]["family"] == socket.AF_UNIX
    assert daemon.terminate() == 0


def test_ready_waits_for_the_workers_readiness(circusd, tmp_path, supervisor):
    workers = ReadyWorkers(tmp_path)
    daemon = circusd(env={"NOTIFY_SOCKET": supervisor.path})
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
        ready = notify
        ready_timeout = 20
    """ % workers.cmd("late", "ready-after=1.0"))
    daemon.start()
    ready = supervisor.wait_for("READY", "1")
    # circusd's READY=1 waited for its worker's, sent 1 s after its start:
    # seen at once, the worker is ready already.
    assert "not_ready" not in call(daemon, "status", name="web")
    assert supervisor.messages[ready]["STATUS"] == "1 of 1 autostart watchers up, 1 processes"
    (report,) = workers.wait_reports("late", 1)
    # The worker was not given circusd's own NOTIFY_SOCKET but the workers' one.
    assert report["env"]["NOTIFY_SOCKET"] != supervisor.path
    assert daemon.terminate() == 0
