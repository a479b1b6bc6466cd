import errno
import os
import select
import socket
import stat

import pytest

from circus.sockets import CircusSocket, CircusSockets


def _accept_one(sock_family, address, listener):
    """Open a client connection and accept it on ``listener``."""
    client = socket.socket(sock_family, socket.SOCK_STREAM)
    try:
        client.settimeout(5)
        client.connect(address)
        listener.settimeout(5)
        conn, _ = listener.accept()
        conn.close()
    finally:
        client.close()


@pytest.fixture
def sockets():
    """Collects sockets made by a test and closes them all afterwards."""
    made = []
    yield made
    for sock in made:
        sock.close()


def test_port_zero_binds_a_free_port_and_reports_it(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0)
    sockets.append(sock)
    sock.bind_and_listen()
    assert sock.port != 0
    assert sock.getsockname() == ("127.0.0.1", sock.port)
    assert sock.location == "127.0.0.1:%d" % sock.port
    _accept_one(socket.AF_INET, ("127.0.0.1", sock.port), sock)


def test_localhost_is_resolved_and_the_real_host_is_reported(sockets):
    sock = CircusSocket("web", host="localhost", port=0)
    sockets.append(sock)
    sock.bind_and_listen()
    assert sock.host == "127.0.0.1"


def test_socket_is_inheritable_nonblocking_and_reuses_address(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0)
    sockets.append(sock)
    sock.bind_and_listen()
    assert sock.get_inheritable()
    assert sock.getblocking() is False
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)


def test_blocking_option_makes_a_blocking_socket(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0, blocking=True)
    sockets.append(sock)
    assert sock.getblocking() is True


def test_as_dict_for_inet_and_unix_sockets(sockets, tmp_path):
    inet = CircusSocket("web", host="127.0.0.1", port=0, backlog=10)
    unix = CircusSocket("api", path=str(tmp_path / "api.sock"))
    sockets.extend([inet, unix])
    inet.bind_and_listen()
    unix.bind_and_listen()
    assert inet.as_dict() == {
        "fd": inet.fileno(),
        "name": "web",
        "backlog": 10,
        "host": "127.0.0.1",
        "port": inet.port,
    }
    assert unix.as_dict() == {
        "fd": unix.fileno(),
        "name": "api",
        "backlog": 2048,
        "path": str(tmp_path / "api.sock"),
    }


def test_unix_socket_is_bound_and_removed_on_close(tmp_path):
    path = str(tmp_path / "web.sock")
    sock = CircusSocket("web", path=path)
    sock.bind_and_listen()
    try:
        assert sock.family == socket.AF_UNIX
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert sock.location == path
        _accept_one(socket.AF_UNIX, path, sock)
    finally:
        sock.close()
    assert not os.path.exists(path)


def test_existing_unix_path_is_refused_without_replace(sockets, tmp_path):
    path = str(tmp_path / "web.sock")
    first = CircusSocket("old", path=path)
    sockets.append(first)
    first.bind_and_listen()
    second = CircusSocket("web", path=path)
    sockets.append(second)
    with pytest.raises(OSError) as info:
        second.bind_and_listen()
    assert "socket 'web'" in str(info.value)
    assert path in str(info.value)
    assert "replace = true" in str(info.value)


def test_replace_unlinks_a_stale_socket_file(sockets, tmp_path):
    path = str(tmp_path / "web.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # leaves the file behind, like a crashed daemon
    sock = CircusSocket("web", path=path, replace=True)
    sockets.append(sock)
    sock.bind_and_listen()
    _accept_one(socket.AF_UNIX, path, sock)


def test_replace_never_deletes_a_regular_file(sockets, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("precious")
    sock = CircusSocket("web", path=str(path), replace=True)
    sockets.append(sock)
    with pytest.raises(OSError, match="not a socket file"):
        sock.bind_and_listen()
    assert path.read_text() == "precious"


def test_unix_socket_file_mode_follows_the_octal_umask(sockets, tmp_path):
    path = str(tmp_path / "web.sock")
    before = os.umask(0o022)
    try:
        sock = CircusSocket("web", path=path, umask="077")
        sockets.append(sock)
        sock.bind_and_listen()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        # The process umask is restored after the bind.
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)


def test_no_umask_leaves_the_process_umask_in_charge(sockets, tmp_path):
    path = str(tmp_path / "web.sock")
    before = os.umask(0o027)
    try:
        sock = CircusSocket("web", path=path)
        sockets.append(sock)
        sock.bind_and_listen()
    finally:
        os.umask(before)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o750


def test_bad_umask_is_refused_naming_the_socket():
    with pytest.raises(ValueError, match="socket 'web'"):
        CircusSocket("web", path="/tmp/x.sock", umask="99")


def test_bind_failure_names_socket_and_address(sockets):
    first = CircusSocket("first", host="127.0.0.1", port=0)
    sockets.append(first)
    first.bind_and_listen()
    taken = CircusSocket("web", host="127.0.0.1", port=first.port)
    sockets.append(taken)
    # SO_REUSEADDR does not let a second socket bind a listening address.
    with pytest.raises(OSError) as info:
        taken.bind_and_listen()
    assert str(info.value) == (
        "socket 'web': cannot bind 127.0.0.1:%d: Address already in use" % first.port
    )
    assert info.value.errno == errno.EADDRINUSE


def test_unresolvable_host_names_the_socket(sockets):
    sock = CircusSocket("web", host="no-such-host.invalid", port=0)
    sockets.append(sock)
    with pytest.raises(OSError, match=r"^socket 'web': cannot bind no-such-host.invalid:0: "):
        sock.bind_and_listen()


def test_port_outside_range_is_refused():
    with pytest.raises(ValueError, match="socket 'web': port 70000"):
        CircusSocket("web", host="127.0.0.1", port=70000)


def test_datagram_socket_binds_without_listening(sockets):
    sock = CircusSocket("dns", host="127.0.0.1", port=0, type="SOCK_DGRAM")
    sockets.append(sock)
    sock.bind_and_listen()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.sendto(b"ping", ("127.0.0.1", sock.port))
    finally:
        sender.close()
    sock.settimeout(5)
    assert sock.recv(10) == b"ping"


def _ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        probe.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        probe.close()


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback (::1)")
def test_ipv6_socket_binds_and_accepts(sockets):
    sock = CircusSocket("web6", host="::1", port=0, family="AF_INET6")
    sockets.append(sock)
    sock.bind_and_listen()
    assert sock.family == socket.AF_INET6
    assert sock.host == "::1"
    assert sock.location == "[::1]:%d" % sock.port
    _accept_one(socket.AF_INET6, ("::1", sock.port), sock)


def test_reuseport_workers_get_fresh_sockets_on_the_same_port(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0, so_reuseport=True)
    sockets.append(sock)
    sock.bind_and_listen()
    assert sock.port != 0
    fresh = [sock.bind_fresh() for _ in range(2)]
    sockets.extend(fresh)
    assert len({f.fileno() for f in fresh}) == 2
    for each in fresh:
        assert each.getsockname() == ("127.0.0.1", sock.port)
        assert each.get_inheritable()
        assert each.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    # Every connection reaches one of the workers' sockets, never the
    # arbiter's reserved (bound, not listening) socket.
    for _ in range(4):
        client = socket.create_connection(("127.0.0.1", sock.port), timeout=5)
        try:
            readable, _, _ = select.select(fresh, [], [], 5)
            assert readable
            conn, _ = readable[0].accept()
            conn.close()
        finally:
            client.close()


def test_reuseport_reserves_the_address_against_other_programs(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0, so_reuseport=True)
    sockets.append(sock)
    sock.bind_and_listen()
    other = socket.socket()
    try:
        with pytest.raises(OSError):
            other.bind(("127.0.0.1", sock.port))
    finally:
        other.close()


def test_bind_fresh_needs_so_reuseport(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0)
    sockets.append(sock)
    sock.bind_and_listen()
    with pytest.raises(ValueError, match="so_reuseport"):
        sock.bind_fresh()


def test_reuseport_is_refused_for_unix_sockets():
    with pytest.raises(ValueError, match="so_reuseport needs AF_INET"):
        CircusSocket("web", path="/tmp/web.sock", so_reuseport=True)


def test_interface_binding_error_names_socket_and_interface(sockets):
    sock = CircusSocket("web", host="127.0.0.1", port=0, interface="nosuchif0")
    sockets.append(sock)
    with pytest.raises(OSError, match="socket 'web': cannot bind to interface 'nosuchif0'"):
        sock.bind_and_listen()


def test_load_from_config_converts_ini_strings(sockets):
    sock = CircusSocket.load_from_config(
        {
            "name": "web",
            "host": "127.0.0.1",
            "port": "0",
            "family": "af_inet",
            "type": "SOCK_STREAM",
            "backlog": "12",
            "blocking": "true",
            "proto": "tcp",
        }
    )
    sockets.append(sock)
    assert sock.name == "web"
    assert sock.backlog == 12
    assert sock.getblocking() is True
    assert sock.proto == socket.IPPROTO_TCP
    sock.bind_and_listen()
    assert sock.port != 0


def test_load_from_config_path_forces_unix_family(sockets, tmp_path):
    sock = CircusSocket.load_from_config(
        {"name": "api", "path": str(tmp_path / "a.sock"), "umask": 0o077, "replace": True}
    )
    sockets.append(sock)
    assert sock.family == socket.AF_UNIX
    assert sock.umask == 0o077
    assert sock.replace is True


def test_load_from_config_refuses_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="socket 'web': unknown option prot"):
        CircusSocket.load_from_config({"name": "web", "prot": "80"})
    with pytest.raises(ValueError, match="socket 'web': port: not an integer"):
        CircusSocket.load_from_config({"name": "web", "port": "eighty"})
    with pytest.raises(ValueError, match="socket 'web': unknown family 'AF_X'"):
        CircusSocket.load_from_config({"name": "web", "family": "AF_X"})
    with pytest.raises(ValueError, match="socket 'web': unknown protocol"):
        CircusSocket.load_from_config({"name": "web", "proto": "nosuchproto"})


def test_circus_sockets_bind_all_and_close_all(tmp_path):
    web = CircusSocket("web", host="127.0.0.1", port=0)
    api = CircusSocket("api", path=str(tmp_path / "api.sock"))
    group = CircusSockets([web, api])
    assert sorted(group) == ["api", "web"]
    group.bind_and_listen_all()
    assert web.port != 0
    assert os.path.exists(str(tmp_path / "api.sock"))
    group.close_all()
    assert web.fileno() == -1
    assert not os.path.exists(str(tmp_path / "api.sock"))


def test_circus_sockets_closes_everything_when_one_bind_fails(tmp_path):
    path = tmp_path / "taken.sock"
    path.write_text("")
    ok = CircusSocket("a_ok", host="127.0.0.1", port=0)
    bad = CircusSocket("b_bad", path=str(path))
    group = CircusSockets([ok, bad])
    with pytest.raises(OSError, match="socket 'b_bad'"):
        group.bind_and_listen_all()
    assert ok.fileno() == -1
    assert bad.fileno() == -1


def test_circus_sockets_refuses_a_duplicate_name(sockets):
    first = CircusSocket("web", host="127.0.0.1", port=0)
    second = CircusSocket("web", host="127.0.0.1", port=0)
    sockets.extend([first, second])
    group = CircusSockets([first])
    with pytest.raises(ValueError, match="socket 'web' is defined twice"):
        group.add(second)


# -- hand-over to the next generation of workers ------------------------------


@pytest.fixture
def listener(sockets):
    """A bound TCP CircusSocket on 127.0.0.1; its clients go in ``listener.clients``."""
    sock = CircusSocket("web", host="127.0.0.1", port=0)
    sockets.append(sock)
    sock.bind_and_listen()

    def connect(count):
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", sock.port), timeout=5))

    sock.connect_clients = connect
    return sock


def _accept_all(listener):
    """Accept every connection queued on ``listener`` right now; return how many."""
    listener.setblocking(False)
    accepted = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return accepted
        conn.close()
        accepted += 1


def test_a_hand_over_sends_new_connections_to_a_new_listener_under_the_same_fd(listener, sockets):
    fd = listener.fileno()
    # What a worker of the old generation holds: the old listener.
    worker = socket.socket(fileno=os.dup(fd))
    sockets.append(worker)
    listener.connect_clients(3)
    handover = listener.hand_over()
    assert handover is not None
    assert listener.fileno() == fd
    assert handover.queued() == 3
    listener.connect_clients(20)
    assert _accept_all(worker) == 3, "the old listener got new connections"
    assert handover.queued() == 0
    assert _accept_all(listener) == 20
    handover.finish()
    listener.connect_clients(5)
    assert _accept_all(listener) == 5
    with pytest.raises(OSError):
        worker.accept()  # the old listener no longer listens, though a process holds it


def test_a_hand_over_can_keep_new_connections_on_the_old_listener_until_it_steers(listener, sockets):
    worker = socket.socket(fileno=os.dup(listener.fileno()))
    sockets.append(worker)
    handover = listener.hand_over(steer_to_fresh=False)
    assert handover is not None
    listener.connect_clients(10)
    assert _accept_all(listener) == 0, "the new listener got connections before the switch"
    assert _accept_all(worker) == 10
    listener.connect_clients(4)
    handover.steer_to_fresh()
    listener.connect_clients(6)
    assert handover.queued() == 4
    assert _accept_all(worker) == 4
    assert _accept_all(listener) == 6
    handover.finish()


def test_an_undone_hand_over_leaves_the_old_listener_alone_under_the_fd(listener, sockets):
    fd = listener.fileno()
    worker = socket.socket(fileno=os.dup(fd))
    sockets.append(worker)
    handover = listener.hand_over(steer_to_fresh=False)
    new_worker = socket.socket(fileno=os.dup(fd))  # what a new process inherits
    new_worker.close()  # ... and gone: it was stopped
    handover.undo()
    assert listener.fileno() == fd
    listener.connect_clients(5)
    assert _accept_all(worker) == 5, "the old listener is not the one under the fd"
    listener.connect_clients(3)
    assert _accept_all(listener) == 3
    assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    # and a next hand-over works as the first one did
    listener.hand_over().finish()
    listener.connect_clients(2)
    assert _accept_all(listener) == 2


def test_hand_overs_can_follow_one_another(listener, sockets):
    for _ in range(3):
        old = socket.socket(fileno=os.dup(listener.fileno()))
        sockets.append(old)
        handover = listener.hand_over()
        listener.connect_clients(4)
        assert _accept_all(old) == 0
        assert _accept_all(listener) == 4
        handover.finish()


def test_after_a_hand_over_the_address_is_still_refused_to_plain_sockets(listener, sockets):
    listener.hand_over().finish()
    intruder = socket.socket()
    sockets.append(intruder)
    with pytest.raises(OSError) as caught:
        intruder.bind(("127.0.0.1", listener.port))
    assert caught.value.errno == errno.EADDRINUSE


def test_only_a_bound_tcp_listener_without_reuseport_is_handed_over(sockets, tmp_path):
    unix = CircusSocket("u", path=str(tmp_path / "u.sock"))
    unbound = CircusSocket("n", host="127.0.0.1", port=0)
    reuse = CircusSocket("r", host="127.0.0.1", port=0, so_reuseport=True)
    sockets.extend([unix, unbound, reuse])
    unix.bind_and_listen()
    reuse.bind_and_listen()
    for sock in (unix, unbound, reuse):
        assert not sock.can_hand_over()
        assert sock.hand_over() is None
@pytest.mark.parametrize("family", ["AF_UNIX", "af_unix", socket.AF_UNIX])
def test_a_unix_socket_without_a_path_is_refused_before_any_socket_exists(family, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="'web': family = AF_UNIX needs a path"):
        CircusSocket(name="web", family=family)
    assert os.listdir(tmp_path) == []


def test_a_socket_the_kernel_refuses_to_create_is_an_oserror_naming_it():
    with pytest.raises(OSError, match=r"'web': cannot create the socket \(AF_INET, SOCK_RAW, proto 0\)") as info:
        CircusSocket(name="web", port=0, type="SOCK_RAW")
    assert info.value.errno == errno.EPROTONOSUPPORT


def test_the_socket_config_keys_are_the_option_tables_socket_rows():
    from circus import options
    from circus.sockets import CONFIG_KEYS

    assert set(CONFIG_KEYS) == {row.name for row in options.rows("socket")}


@pytest.mark.parametrize(
    "key, bad",
    [("family", "AF_X"), ("type", "SOCK_X"), ("proto", "nosuchproto"), ("port", "eighty"),
     ("port", "70000"), ("backlog", "-1"), ("umask", "9"), ("replace", "maybe")],
)  # fmt: skip
def test_the_config_file_and_load_from_config_refuse_a_bad_value_with_the_tables_words(key, bad):
    from circus import options

    with pytest.raises(ValueError) as table:
        options.lookup("socket", key).convert(bad)
    with pytest.raises(ValueError) as loaded:
        CircusSocket.load_from_config({"name": "web", key: bad})
    assert str(loaded.value).startswith("socket 'web': ")
    assert str(loaded.value).endswith(str(table.value))
