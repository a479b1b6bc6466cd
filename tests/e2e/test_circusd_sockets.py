"""Sockets bound by circusd and served by its workers."""

import os

from helpers import http_get_tcp, http_get_unix, listening_ports, start, until


def test_a_unix_socket_bound_by_circusd_is_served_by_its_workers(circusd, workers, tmp_path):
    sock = tmp_path / "web.sock"
    daemon = start(circusd, """
        [socket:web]
        path = %s

        [watcher:web]
        cmd = %s
        numprocesses = 3
        use_sockets = true
        """ % (sock, workers.cmd("web", "http=$(circus.sockets.web)")))
    pids = daemon.wait_pids("web", 3)
    for pid in pids:
        workers.report("web", pid)
    assert int(http_get_unix(sock)) in pids
    answered = set()
    until(lambda: answered.add(int(http_get_unix(sock))) or len(answered) > 1, timeout=10,
          what="answers from more than one worker (got %s)" % answered)
    assert answered <= set(pids)
    assert daemon.terminate() == 0, daemon.log()
    assert not sock.exists(), "unix socket file left behind"


def test_a_tcp_socket_on_port_0_gets_an_ephemeral_port_served_by_the_workers(circusd, workers):
    daemon = start(circusd, """
        [socket:web]
        host = 127.0.0.1
        port = 0

        [watcher:web]
        cmd = %s
        numprocesses = 2
        use_sockets = true
        """ % workers.cmd("web", "http=$(circus.sockets.web)"))
    pids = daemon.wait_pids("web", 2)
    for pid in pids:
        workers.report("web", pid)
    (port,) = listening_ports(daemon.pid)
    assert port != 0
    assert int(http_get_tcp("127.0.0.1", port)) in pids


def test_the_socket_fd_is_inherited_with_use_sockets(circusd, workers, tmp_path):
    sock = tmp_path / "web.sock"
    daemon = start(circusd, """
        [socket:web]
        path = %s

        [watcher:web]
        cmd = %s
        use_sockets = true
        """ % (sock, workers.cmd("web", "fd=$(circus.sockets.web)")))
    (pid,) = daemon.wait_pids("web", 1)
    report = workers.report("web", pid)
    fd = [a for a in report["argv"] if a.startswith("--fd=")][0].split("=", 1)[1]
    assert fd.isdigit(), "$(circus.sockets.web) not substituted: %r" % fd
    assert report["fds"][fd].startswith("socket:")


def test_without_use_sockets_the_child_has_only_fds_0_1_2(circusd, workers, tmp_path):
    daemon = start(circusd, """
        [socket:web]
        path = %s

        [watcher:plain]
        cmd = %s
        """ % (tmp_path / "web.sock", workers.cmd("plain")))
    (pid,) = daemon.wait_pids("plain", 1)
    report = workers.report("plain", pid)
    assert sorted(report["fds"]) == ["0", "1", "2"], report["fds"]
    assert report["fds"]["0"] == "/dev/null"


def test_an_on_demand_watcher_starts_on_the_first_connection_to_its_socket(circusd, workers, tmp_path):
    sock = tmp_path / "lazy.sock"
    daemon = start(circusd, """
        [socket:lazy]
        path = %s

        [watcher:lazy]
        cmd = %s
        use_sockets = true
        on_demand = true
        priority = 10

        [watcher:control]
        cmd = %s
        """ % (sock, workers.cmd("lazy", "http=$(circus.sockets.lazy)"), workers.cmd("control")))
    daemon.wait_pids("control", 1)
    workers.wait_reports("control", 1)
    assert daemon.pids("lazy") == [] and workers.reports("lazy") == []
    answer = int(http_get_unix(sock, timeout=15))
    assert daemon.pids("lazy") == [answer]


def test_unix_socket_file_is_removed_when_circusd_exits(circusd, workers, tmp_path):
    sock = tmp_path / "web.sock"
    daemon = start(circusd, """
        [socket:web]
        path = %s

        [watcher:web]
        cmd = %s
        """ % (sock, workers.cmd("web")))
    daemon.wait_pids("web", 1)
    assert sock.exists()
    assert daemon.terminate() == 0
    assert not os.path.exists(sock)
