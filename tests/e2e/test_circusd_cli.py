"""circusd as a command: arguments, refusing bad configs, daemon and pidfile."""

import os
import signal
import socket

import psutil
import pytest

from helpers import pid_alive, until


def assert_one_line_error(rc, out, err, *names):
    """circusd refused to start: exit 1, one line on stderr naming ``names``."""
    assert rc == 1, "exit code %r; stdout:\n%s\nstderr:\n%s" % (rc, out, err)
    assert "Traceback" not in out + err, "traceback printed:\n%s%s" % (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, "expected one line on stderr, got:\n%s" % err
    for name in names:
        assert name in lines[0], "%r not named in %r" % (name, lines[0])


def test_circusd_without_arguments_prints_usage_and_exits_0(circusd):
    rc, out, err = circusd().run(ini=False)
    assert rc == 0, err
    assert out.startswith("usage: circusd"), out
    for flag in ("--daemon", "--pidfile", "--log-level", "--log-output", "--version"):
        assert flag in out


def test_circusd_version_prints_0_19_0(circusd):
    rc, out, err = circusd().run("--version", ini=False)
    assert rc == 0, err
    assert out.strip() == "0.19.0"


def test_a_missing_config_file_exits_1_naming_it(circusd, tmp_path):
    rc, out, err = circusd().run(tmp_path / "nosuch.ini", ini=False)
    assert_one_line_error(rc, out, err, "nosuch.ini")


BAD_WATCHER_CONFIGS = {
    "unknown section type": ("[wacher:web]\ncmd = {cmd}\n", ["wacher:web"]),
    "non-integer numprocesses": ("[watcher:web]\ncmd = {cmd}\nnumprocesses = two\n",
                                 ["watcher:web", "numprocesses", "two"]),
    "missing cmd": ("[watcher:web]\nnumprocesses = 1\n", ["watcher:web", "cmd"]),
    "unknown signal name": ("[watcher:web]\ncmd = {cmd}\nstop_signal = SIGFOO\n",
                            ["watcher:web", "stop_signal", "SIGFOO"]),
    "unknown uid": ("[watcher:web]\ncmd = {cmd}\nuid = nosuchuser4242\n",
                    ["watcher:web", "uid", "nosuchuser4242"]),
    "negative numprocesses": ("[watcher:web]\ncmd = {cmd}\nnumprocesses = -1\n",
                              ["watcher:web", "numprocesses"]),
    "socket port out of range": ("[socket:web]\nhost = 127.0.0.1\nport = 70000\n",
                                 ["socket:web", "port", "70000"]),
}


@pytest.mark.parametrize("case", sorted(BAD_WATCHER_CONFIGS))
def test_a_bad_config_exits_1_with_one_line_naming_file_section_and_key(case, circusd, workers):
    body, names = BAD_WATCHER_CONFIGS[case]
    daemon = circusd()
    # A good watcher beside the bad part: it must not be started either.
    good = "[watcher:good]\ncmd = %s\n\n" % workers.cmd("good")
    daemon.write_ini(good + body.format(cmd=workers.cmd("web")))
    rc, out, err = daemon.run()
    assert_one_line_error(rc, out, err, "circus.ini", *names)
    assert workers.reports("good") == [] and workers.reports("web") == []


@pytest.mark.parametrize("kind", ["broken link", "directory"])
def test_an_unreadable_include_exits_1_naming_it(kind, circusd, workers, tmp_path):
    target = tmp_path / "extra.ini"
    if kind == "broken link":
        target.symlink_to(tmp_path / "nowhere.ini")
    else:
        target.mkdir()
    daemon = circusd()
    daemon.write_ini("[watcher:good]\ncmd = %s\n" % workers.cmd("good"), circus={"include": "extra.ini"})
    rc, out, err = daemon.run()
    assert_one_line_error(rc, out, err, "extra.ini")
    assert workers.reports("good") == []


def test_a_socket_address_already_in_use_exits_1_with_a_clear_message(circusd, workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = circusd()
        daemon.write_ini("""
            [socket:web]
            host = 127.0.0.1
            port = %d

            [watcher:good]
            cmd = %s
            """ % (port, workers.cmd("good")))
        rc, out, err = daemon.run()
    assert_one_line_error(rc, out, err, "web", str(port))
    assert workers.reports("good") == []


def test_daemon_mode_writes_the_pidfile_refuses_a_second_instance_and_cleans_up(circusd, workers, tmp_path):
    pidfile = tmp_path / "circusd.pid"
    logfile = tmp_path / "daemon.log"
    first = circusd(directory=tmp_path / "first")
    first.write_ini("[watcher:web]\ncmd = %s\n" % workers.cmd("web"))
    rc = first.start("--daemon", "--pidfile", pidfile, "--log-output", logfile).wait(10)
    assert rc == 0, first.log()

    until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile written")
    daemon_pid = int(pidfile.read_text())
    first.tracker.add_root(daemon_pid)
    assert pid_alive(daemon_pid)
    assert daemon_pid != first.pid
    report = workers.wait_reports("web", 1)[0]
    assert psutil.Process(report["pid"]).ppid() == daemon_pid

    second = circusd(directory=tmp_path / "second")
    second.write_ini("[watcher:other]\ncmd = %s\n" % workers.cmd("other"))
    rc, out, err = second.run("--pidfile", pidfile)
    assert rc == 1, out + err
    assert str(pidfile) in out + err
    assert int(pidfile.read_text()) == daemon_pid, "the second circusd rewrote the pidfile"
    assert workers.reports("other") == []

    os.kill(daemon_pid, signal.SIGTERM)
    until(lambda: not pid_alive(daemon_pid), what="daemon exit")
    assert not pidfile.exists()
    assert not pid_alive(report["pid"])
