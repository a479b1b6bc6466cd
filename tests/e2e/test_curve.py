"""CurveZMQ on a real circusd: keys from circusctl keygen, full and read-only clients, strangers."""

import contextlib
import os
import signal
import stat
import subprocess
import sys

import pytest
import zmq

from circus.client import CircusClient, make_message
from circus.commands import errors, get_commands
from circus.consumer import CircusConsumer
from circus.exc import CallError
from helpers import REPO_ROOT, SLEEPER, repo_env, until

WATCHERS = """
[watcher:sleepers]
cmd = %s
numprocesses = 2
""" % SLEEPER


def circusctl(*args, env=None):
    return subprocess.run([sys.executable, "-m", "circus.circusctl", *map(str, args)], capture_output=True,
                          text=True, env=repo_env(env or {}), timeout=60)


def next_event(consumer, timeout=0.1):
    """The next ``(topic, body)`` of a CircusConsumer, None after ``timeout`` seconds."""
    if not consumer.pubsub_socket.poll(int(timeout * 1000)):
        return None
    frames = consumer.pubsub_socket.recv_multipart()
    return frames[0], frames[-1]


def keygen(directory, name):
    result = circusctl("keygen", directory, "--name", name)
    assert result.returncode == 0, result.stderr
    return directory / ("%s.key" % name), directory / ("%s.key_secret" % name)


@pytest.fixture
def keys(tmp_path):
    """Key pairs: circusd's, an authorized client's, a read-only one's, a stranger's."""
    made = {}
    for name, where in (("server", "server"), ("admin", "authorized"), ("viewer", "readonly"),
                        ("stranger", "elsewhere")):
        made[name] = keygen(tmp_path / where, name)
    return made


@contextlib.contextmanager
def secured_daemon(circusd, keys, tmp_path, env=None):
    """A circusd with Curve on (and a client factory ``connect(key name)``)."""
    daemon = circusd(env=env)
    daemon.write_ini(WATCHERS, circus={
        "curve_secret_key": keys["server"][1],
        "curve_authorized_keys": tmp_path / "authorized",
        "curve_readonly_keys": tmp_path / "readonly",
    })
    daemon.start()
    clients = []

    def connect(name, timeout=5, server="server"):
        context = zmq.Context()
        client = CircusClient(context=context, endpoint=daemon.endpoint, timeout=timeout,
                              curve_key=keys[name][1] if name else None,
                              server_key=keys[server][0] if name else None)
        clients.append((client, context))
        return client

    daemon.connect = connect
    wait_for_keyed_answer(daemon)
    try:
        yield daemon
    finally:
        for client, context in clients:
            client.stop()
            context.term()


def wait_for_keyed_answer(daemon, timeout=20):
    def answers():
        try:
            return daemon.connect("admin", timeout=1).send_message("numwatchers")["status"] == "ok"
        except CallError:
            return False

    until(answers, timeout, what=lambda: "circusd to answer a keyed client; log:\n%s" % daemon.log()[-2000:])


@pytest.fixture
def secured(circusd, keys, tmp_path):
    with secured_daemon(circusd, keys, tmp_path) as daemon:
        yield daemon


def test_keygen_writes_a_pair_the_secret_readable_only_by_its_owner(tmp_path):
    public, secret = keygen(tmp_path / "made" / "here", "ops")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    import zmq.auth

    pub, sec = zmq.auth.load_certificate(str(secret))
    assert sec and zmq.auth.load_certificate(str(public)) == (pub, None)
    result = circusctl("keygen", tmp_path, "--name", "../up")
    assert result.returncode == 1 and "invalid key name" in result.stderr


def test_authorized_key_runs_every_command_a_stranger_times_out(secured, keys):
    admin = secured.connect("admin")
    assert admin.send_message("status")["statuses"] == {"sleepers": "active"}
    assert admin.send_message("incr", name="sleepers", waiting=True)["status"] == "ok"
    for name, server in (("stranger", "server"), (None, None), ("admin", "stranger")):
        with pytest.raises(CallError, match="Timed out"):
            secured.connect(name, timeout=1, server=server).send_message("status")
    secured.wait_log(r"CurveZMQ client .* refused: its public key \S+ is in no key directory")
    # The keyless client and the one with the wrong server key never reach the gate; logged too.
    # Which side notices the mechanism mismatch first is a race: either reason.
    secured.wait_log(r"a client of the control endpoint \S+ was refused: "
                     r"(it does not use CurveZMQ|the handshake broke off \(.*a client without --curve-key)")
    secured.wait_log(r"a client of the control endpoint \S+ was refused: its messages cannot be decrypted")
    # Strangers did not disturb anybody.
    assert admin.send_message("numprocesses")["numprocesses"] == 3


def test_refused_peer_is_logged_once(secured):
    stranger = secured.connect("stranger", timeout=0.5)
    for _ in range(3):
        with pytest.raises(CallError):
            stranger.send_message("status")
    assert secured.log().count("refused: its public key") == 1


def test_circusctl_with_keys_and_the_hint_without_them(secured, keys):
    base = ["--endpoint", secured.endpoint, "--timeout", "1"]
    right = circusctl(*base, "status", env={"CIRCUSCTL_CURVE_KEY": str(keys["admin"][1]),
                                            "CIRCUSCTL_SERVER_KEY": str(keys["server"][0])})
    assert right.returncode == 0 and right.stdout.strip() == "sleepers: active", right.stderr
    wrong = circusctl(*base, "--curve-key", keys["stranger"][1], "--server-key", keys["server"][0], "status")
    assert wrong.returncode == 1
    assert "the key is not authorized" in wrong.stderr and "wrong server key" in wrong.stderr
    missing = circusctl(*base, "--curve-key", keys["stranger"][1], "status")
    assert missing.returncode == 1 and "--server-key is missing" in missing.stderr


def test_readonly_key_runs_read_commands_and_nothing_else(secured, keys):
    viewer = secured.connect("viewer")
    commands = get_commands()
    with CircusConsumer(["arbiter."], endpoint=secured.pubsub_endpoint, curve_key=keys["admin"][1],
                        server_key=keys["server"][0], timeout=0.1) as events:
        for name in sorted(commands):
            reply = viewer.call(make_message(name))
            if commands[name].readonly:
                assert reply.get("errno") != errors.FORBIDDEN, (name, reply)
            else:
                assert reply["status"] == "error" and reply["errno"] == errors.FORBIDDEN, (name, reply)
                assert "read-only" in reply["reason"] and repr(name) in reply["reason"]
        # Events before the SUB joined are lost: refuse once more until one arrives.
        seen = []

        def denied():
            viewer.send_message("quit")
            event = next_event(events)
            if event:
                seen.append(event)
            return bool(seen)

        until(denied, 10, what="an arbiter.denied event")
    import json

    topic, body = seen[0]
    assert topic == b"arbiter.denied"
    event = json.loads(body)
    changing = {name for name, command in commands.items() if not command.readonly}
    assert event["key"] == "viewer" and event["command"] in changing and event["time"] > 0
    assert viewer.send_message("status")["statuses"] == {"sleepers": "active"}
    assert secured.alive()
    assert viewer.send_message("numprocesses")["numprocesses"] == 2


def test_subscriber_without_keys_gets_nothing_a_keyed_one_gets_events(secured, keys):
    assert_only_keyed_subscribers_get_events(secured, keys)


def assert_only_keyed_subscribers_get_events(daemon, keys):
    admin = daemon.connect("admin")
    with CircusConsumer(["watcher."], endpoint=daemon.pubsub_endpoint, timeout=0.05) as bare, \
            CircusConsumer(["watcher."], endpoint=daemon.pubsub_endpoint, curve_key=keys["viewer"][1],
                           server_key=keys["server"][0], timeout=0.05) as keyed:
        got = []

        def keyed_got_one():
            admin.send_message("incr", name="sleepers")
            event = next_event(keyed)
            if event:
                got.append(event)
            return bool(got)

        until(keyed_got_one, 15, what="an event on the keyed subscriber")
        admin.send_message("decr", name="sleepers", waiting=True)
        until(lambda: (next_event(keyed) or (b"",))[0].endswith(b".kill"), 10)
        assert next_event(bare, 0.2) is None


def test_bad_key_paths_exit_1_with_one_line(circusd, keys, tmp_path):
    cases = {
        "curve_secret_key": (tmp_path / "nope.key_secret", "cannot read the curve_secret_key file"),
        "curve_authorized_keys": (tmp_path / "no-dir", "cannot read curve_authorized_keys"),
    }
    for key, (value, words) in cases.items():
        daemon = circusd(directory=tmp_path / key)
        settings = {"curve_secret_key": keys["server"][1], key: value}
        daemon.write_ini(WATCHERS, circus=settings)
        rc, _out, err = daemon.run()
        assert rc == 1, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and str(value) in lines[0], err
    no_server_key = circusd(directory=tmp_path / "dirs-only")
    no_server_key.write_ini(WATCHERS, circus={"curve_authorized_keys": tmp_path / "authorized"})
    rc, _out, err = no_server_key.run()
    assert rc == 1 and "curve_authorized_keys needs curve_secret_key" in err
    public_only = circusd(directory=tmp_path / "public")
    public_only.write_ini(WATCHERS, circus={"curve_secret_key": keys["server"][0]})
    rc, _out, err = public_only.run()
    assert rc == 1 and "holds no secret key" in err


def test_exposed_endpoint_without_curve_is_warned(circusd, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    daemon = circusd()
    daemon.write_ini(WATCHERS, circus={"endpoint": "tcp://0.0.0.0:%d" % port})
    daemon.start()
    daemon.wait_log(r"WARNING.*control endpoint tcp://0.0.0.0:%d is reachable from other hosts" % port)
    quiet = circusd(directory=tmp_path / "local")
    quiet.write_ini(WATCHERS)
    quiet.start().wait_answering()
    assert "reachable from other hosts" not in quiet.log()


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_helpers_circusd_starts_use_its_keys(circusd, keys, tmp_path):
    """circusd-stats, a plugin and the web console get in; the stats channel takes keyed clients only."""
    from circus.stats.client import StatsClient
    from helpers import http_get_tcp, python

    daemon = circusd()
    port = free_port()
    stats_endpoint = "ipc://%s" % (tmp_path / "stats.sock")
    daemon.write_ini("""
        [watcher:crasher]
        cmd = %s

        [plugin:flapping]
        use = circus.plugins.flapping.Flapping
        """ % python("import sys\nsys.exit(3)"), circus={
        "curve_secret_key": keys["server"][1],
        "curve_authorized_keys": tmp_path / "authorized",
        "curve_readonly_keys": tmp_path / "readonly",
        "statsd": "true", "stats_endpoint": stats_endpoint,
        "httpd": "true", "httpd_port": port, "check_delay": 1, "debug": "true",
    })
    daemon.start()
    # The plugin follows the events and stops the crasher through the control socket.
    daemon.wait_log(r"crasher: flapping, stopped", timeout=20)
    context = zmq.Context()
    keyed = StatsClient(stats_endpoint, context=context, curve_key=keys["viewer"][1], server_key=keys["server"][0])
    bare = StatsClient(stats_endpoint, context=context)
    try:
        got = until(lambda: keyed.receive(timeout=0.2), 20, what="a stat on the keyed stats client")
        assert got[0] in ("circus", "circusd-stats", "circushttpd", "plugin:flapping", "sockets")
        assert bare.receive(timeout=0.5) is None
    finally:
        keyed.socket.close()
        bare.socket.close()
        context.term()
    # The web console, connected through circusd's own keys, lists the watchers.
    page = until(lambda: _page(http_get_tcp, port), 20, what="the console's index page")
    assert "crasher" in page
    # Nobody was refused but the test's own keyless stats client.
    refusals = [line for line in daemon.log().splitlines() if "refused" in line]
    assert all("of the stats endpoint" in line for line in refusals), refusals


def _page(get, port):
    try:
        body = get("127.0.0.1", port, "/")
    except OSError:
        return None
    return body if "crasher" in body else None


def test_circusctl_listen_with_keys_prints_events(secured, keys):
    admin = secured.connect("admin")
    proc = subprocess.Popen([sys.executable, "-m", "circus.circusctl", "--endpoint", secured.pubsub_endpoint,
                             "--curve-key", str(keys["viewer"][1]), "--server-key", str(keys["server"][0]),
                             "listen", "watcher."], stdout=subprocess.PIPE, text=True, env=repo_env({}),
                            start_new_session=True)
    secured.tracker.add_root(proc.pid)
    import selectors

    lines = []
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)

        def printed():
            admin.send_message("incr", name="sleepers")
            if selector.select(0.2):
                lines.append(proc.stdout.readline())
            return lines

        try:
            until(printed, 20, what="circusctl listen to print an event")
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
    assert lines[0].startswith("watcher.sleepers.")


def test_circusctl_logs_follow_with_keys(circusd, keys, tmp_path):
    from test_logs import TICKER, read_lines

    daemon = circusd()
    daemon.write_ini("""
        [watcher:ticker]
        cmd = %s
        stdout_stream.class = FileStream
        stdout_stream.filename = %s
        """ % (TICKER, tmp_path / "ticker.out"), circus={
        "curve_secret_key": keys["server"][1], "curve_readonly_keys": tmp_path / "readonly"})
    daemon.start()
    argv = [sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.endpoint, "--timeout", "2",
            "--curve-key", keys["viewer"][1], "--server-key", keys["server"][0], "logs", "ticker", "-n", "1", "-f"]
    until(lambda: "tick" in circusctl(*argv[3:-1]).stdout, 20, what="the ticker's lines through a keyed circusctl")
    follower = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=repo_env({}))
    daemon.tracker.add_root(follower.pid)
    try:
        lines = read_lines(follower, 30, timeout=20)  # 1 from the ring, then the log events
        assert all("ticker[" in line and "stdout: tick" in line for line in lines), lines
    finally:
        follower.kill()
        follower.wait()
        follower.stdout.close()
        follower.stderr.close()


def test_an_upgrade_keeps_curve_on_for_keyed_and_keyless_clients(secured):
    import re

    admin = secured.connect("admin")
    before = sorted(admin.send_message("list", name="sleepers")["pids"])
    secured.signal(signal.SIGUSR2)
    until(lambda: re.search(r"upgrade: done", secured.log()), timeout=30,
          what=lambda: "the upgrade to end; log:\n%s" % secured.log()[-3000:])

    def listed():
        try:
            return sorted(secured.connect("admin", timeout=1).send_message("list", name="sleepers")["pids"])
        except CallError:
            return None

    assert until(listed, 20, what="a keyed client answered after the upgrade") == before
    with pytest.raises(CallError, match="Timed out"):
        secured.connect(None, timeout=1).send_message("status")
    with pytest.raises(CallError, match="Timed out"):
        secured.connect("stranger", timeout=1).send_message("status")
    viewer = secured.connect("viewer")
    assert viewer.send_message("quit")["errno"] == errors.FORBIDDEN
    assert secured.alive()


REFUSE_EXEC = """\
import os
flag = %r
real_execve = os.execve


def execve(*args):
    if os.path.exists(flag):
        raise PermissionError(13, "the exec was refused")
    return real_execve(*args)


os.execve = execve
"""


def test_a_failed_exec_brings_the_control_plane_back_with_curve_on(circusd, keys, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REFUSE_EXEC % str(tmp_path / "refuse-exec"))
    env = {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(site)])}
    with secured_daemon(circusd, keys, tmp_path, env=env) as daemon:
        (tmp_path / "refuse-exec").write_text("")
        daemon.signal(signal.SIGUSR2)
        daemon.wait_log(r"upgrade: cannot execute .*the exec was refused")
        wait_for_keyed_answer(daemon)
        with pytest.raises(CallError, match="Timed out"):
            daemon.connect(None, timeout=1).send_message("status")
        assert_only_keyed_subscribers_get_events(daemon, keys)
