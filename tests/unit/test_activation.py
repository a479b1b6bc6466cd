"""Socket activation: sockets passed to circusd the systemd way, and the
wrapper that passes a watcher's sockets to a worker the same way."""

import json
import os
import socket
import subprocess
import sys

from circus import activation

REPORT = """
import json, os, socket
n = int(os.environ["LISTEN_FDS"])
out = {"pid": os.getpid(), "listen_pid": os.environ["LISTEN_PID"],
       "names": os.environ["LISTEN_FDNAMES"],
       "ports": [socket.socket(fileno=3 + i).getsockname()[1] for i in range(n)],
       "extra": sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2 + n)}
print(json.dumps(out))
"""


def _listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_worker_gets_its_sockets_from_fd_3_with_its_own_pid():
    first, second = _listener(), _listener()
    # Order reversed and far from 3, so that the wrapper must move both.
    fds = [second.fileno(), first.fileno()]
    env = dict(os.environ, **activation.worker_env(["b", "a"]))
    argv = activation.worker_argv([sys.executable, "-c", REPORT], fds)
    proc = subprocess.run(argv, env=env, pass_fds=fds, stdout=subprocess.PIPE, check=True)
    got = json.loads(proc.stdout)
    assert got["listen_pid"] == str(got["pid"])
    assert got["names"] == "b:a"
    assert got["ports"] == [second.getsockname()[1], first.getsockname()[1]]
    # The listdir fd itself may show; nothing else from circusd is left open.
    assert len(got["extra"]) <= 1
    first.close(), second.close()


def test_inherited_sockets_by_name():
    sock = _listener()
    port = sock.getsockname()[1]
    # A supervisor's exec: the socket at fd 3, the variables naming us.
    code = (
        "import os, socket, json\n"
        "from circus import activation\n"
        "os.environ['LISTEN_PID'] = str(os.getpid())\n"
        "found = activation.inherited_sockets()\n"
        "inheritable = os.get_inheritable(found['web'])\n"
        "print(json.dumps({'found': found, 'inheritable': inheritable,"
        " 'port': socket.socket(fileno=found['web']).getsockname()[1],"
        " 'left': [k for k in os.environ if k.startswith('LISTEN_')]}))\n"
    )
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="web",
               PYTHONPATH=os.path.dirname(os.path.dirname(activation.__file__)))
    wrapped = activation.worker_argv([sys.executable, "-c", code], [sock.fileno()])
    proc = subprocess.run(wrapped, env=env, pass_fds=[sock.fileno()],
                          stdout=subprocess.PIPE, check=True)
    got = json.loads(proc.stdout)
    assert got == {"found": {"web": 3}, "port": port, "inheritable": False, "left": []}
    sock.close()


def test_variables_for_another_process_are_ignored_and_removed():
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b", "HOME": "/"}
    assert activation.inherited_sockets(environ) == {}
    assert environ == {"HOME": "/"}


def test_bad_counts_and_missing_fds_are_skipped(caplog):
    me = str(os.getpid())
    assert activation.inherited_sockets({"LISTEN_PID": me, "LISTEN_FDS": "x"}) == {}
    assert "not a number" in caplog.text
    assert activation.inherited_sockets({"LISTEN_PID": me, "LISTEN_FDS": "0"}) == {}


def test_a_named_fd_that_is_not_open_is_skipped(caplog, monkeypatch):
    # A fd number far above what this test process has open.
    monkeypatch.setattr(activation, "LISTEN_FDS_START", 900)
    found = activation.inherited_sockets(
        {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "web"})
    assert found == {}
    assert "fd 900 (web) is passed, but it is not open" in caplog.text


def test_an_executable_runs_under_the_given_argv0():
    sock = _listener()
    code = ("import os, socket\n"
            "argv0 = open('/proc/self/cmdline', 'rb').read().split(b'\\0')[0].decode()\n"
            "print(argv0, os.environ['LISTEN_PID'] == str(os.getpid()),"
            " socket.socket(fileno=3).getsockname()[1])\n")
    argv = activation.worker_argv(["my-worker", "-c", code], [sock.fileno()], sys.executable)
    env = dict(os.environ, **activation.worker_env(["web"]))
    proc = subprocess.run(argv, env=env, pass_fds=[sock.fileno()], stdout=subprocess.PIPE, check=True)
    assert proc.stdout.decode().split() == ["my-worker", "True", str(sock.getsockname()[1])]
    sock.close()


def test_worker_fds_are_where_the_wrapper_puts_the_sockets():
    assert activation.worker_fds(["zeta", "alpha"]) == {"zeta": 3, "alpha": 4}
