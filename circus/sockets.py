"""Sockets that circusd binds and hands down to its children.

A ``[socket:NAME]`` section becomes a :class:`CircusSocket`. circusd binds
every socket before any watcher starts, so a worker started with
``use_sockets = true`` inherits a ready, listening file descriptor whose
number it gets as ``$(circus.sockets.NAME)``. :class:`CircusSockets` is the
arbiter's name -> socket mapping.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import stat
import struct
from typing import Any, Iterable, Mapping, Optional, Union

from circus import activation, options

logger = logging.getLogger("circus.sockets")

# Not every Python build exposes the constant; 25 is its value on Linux.
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)

# A hand-over steers a SO_REUSEPORT group with a classic BPF program
# (Linux >= 4.5; detaching needs 5.3): <asm-generic/socket.h>.
SO_ATTACH_REUSEPORT_CBPF = 51
SO_DETACH_REUSEPORT_BPF = 68


# A program: one instruction, BPF_RET|BPF_K i -- "the group's socket number i".
# The kernel copies it when it is attached; the buffers live as long as the module.
_STEER_CODES = [ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, i)) for i in (0, 1)]
# A hand-over's group is {old, fresh}, in that order.
_STEER_TO_OLD, _STEER_TO_FRESH = (struct.pack("HxxxxxxQ", 1, ctypes.addressof(code)) for code in _STEER_CODES)

# struct tcp_info: for a listener, tcpi_unacked (the 7th u32) is the accept queue length.
_TCP_INFO = struct.Struct("7I")


def queue_length(sock: socket.socket) -> Optional[int]:
    """Connections waiting in a TCP listener's accept queue; None for other sockets."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
    except OSError:
        return None
    return _TCP_INFO.unpack(raw[: _TCP_INFO.size])[6]


# listen() only means something for connection-oriented sockets.
LISTENING_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)

# The [socket:NAME] keys: the option table's socket rows.
CONFIG_KEYS = tuple(row.name for row in options.rows("socket"))
# The constructor reads these from text itself (the Python API takes
# 'AF_INET', 'tcp', '077'); load_from_config converts the others.
_READ_BY_CONSTRUCTOR = ("family", "type", "proto", "umask")


def _convert(name: str, key: str, value: Any, keyed: bool = False) -> Any:
    """``value`` of socket ``name``'s ``key`` through the option table's converter.

    A ValueError names the socket (and, when ``keyed``, the key).
    """
    row = options.lookup("socket", key)
    assert row is not None, "socket key %r has no row in the option table" % key
    try:
        return row.convert(value)
    except ValueError as exc:
        where = "socket %r: %s" % (name, key) if keyed else "socket %r" % name
        raise ValueError("%s: %s" % (where, exc)) from None


def _constant(name: str, value: Union[str, int], what: str) -> int:
    """Turn ``'AF_INET'`` (any case) or an int into the socket module constant."""
    if isinstance(value, int):
        return value
    return int(getattr(socket, _convert(name, what, value)))


def _protocol(name: str, proto: Union[str, int, None]) -> int:
    """A protocol number from an int, a numeric string or a name ('tcp')."""
    if proto is None or proto == "":
        return 0
    return _convert(name, "proto", proto)


def _umask(name: str, umask: Union[str, int, None]) -> Optional[int]:
    """An umask from an int or an octal string ('077'); None leaves the umask alone."""
    if umask is None or umask == "":
        return None
    return _convert(name, "umask", umask)


def _bind_error(name: str, where: str, exc: OSError) -> OSError:
    """An OSError that names the socket and the address, keeping the errno."""
    reason = exc.strerror or str(exc)
    error = OSError("socket %r: cannot bind %s: %s" % (name, where, reason))
    error.errno = exc.errno
    return error


def check_address(name: str, family: Union[str, int, None], path: Optional[str]) -> None:
    """Refuse a unix socket without a ``path`` (it would be bound at ``./None``)."""
    if path:
        return
    if family == socket.AF_UNIX or str(family).strip().upper() == "AF_UNIX":
        raise ValueError("socket %r: family = AF_UNIX needs a path" % name)


def _create_error(name: str, family: int, type_: int, proto: int, exc: OSError) -> OSError:
    """The OSError of a socket the kernel refuses to create, naming it and the likely fix."""
    hint = ""
    if type_ == socket.SOCK_RAW:
        hint = " (SOCK_RAW needs a proto and CAP_NET_RAW)"
    error = OSError(
        "socket %r: cannot create the socket (%s, %s, proto %d): %s%s"
        % (name, socket.AddressFamily(family).name, socket.SocketKind(type_).name, proto,
           exc.strerror or exc, hint)
    )
    error.errno = exc.errno
    return error


class CircusSocket(socket.socket):
    """One socket owned by circusd.

    Constructing it creates the OS socket (inheritable, SO_REUSEADDR) but
    binds nothing; :meth:`bind_and_listen` does. ``path`` forces AF_UNIX
    and makes ``host``/``port`` meaningless. After binding, ``host`` and
    ``port`` hold the real address (``port = 0`` asks for a free port).

    With ``so_reuseport`` every worker gets its own socket from
    :meth:`bind_fresh`, all bound to the same address so that the kernel
    spreads connections among them.
    """

    def __init__(
        self,
        name: str = "",
        host: Optional[str] = "localhost",
        port: int = 8080,
        family: Union[str, int] = socket.AF_INET,
        type: Union[str, int] = socket.SOCK_STREAM,
        backlog: int = 2048,
        path: Optional[str] = None,
        umask: Union[str, int, None] = None,
        replace: bool = False,
        interface: Optional[str] = None,
        so_reuseport: bool = False,
        blocking: bool = False,
        proto: Union[str, int] = 0,
        systemd: bool = False,
    ) -> None:
        self.systemd = bool(systemd)
        if self.systemd:
            self._adopt(name, activation.dup_inherited(name), backlog, blocking)
            return
        family_num = socket.AF_UNIX if path else _constant(name, family, "family")
        type_num = _constant(name, type, "type")
        proto_num = _protocol(name, proto)
        check_address(name, family_num, path)
        self._check(name, family_num, type_num, int(port), so_reuseport)
        try:
            super().__init__(family_num, type_num, proto_num)
        except OSError as exc:
            raise _create_error(name, family_num, type_num, proto_num, exc) from None
        self.name = name
        self.host = host
        self.port = int(port)
        self.backlog = int(backlog)
        self.path = path
        self.umask = _umask(name, umask)
        self.replace = bool(replace)
        self.interface = interface or None
        self.so_reuseport = bool(so_reuseport)
        self.blocking = bool(blocking)
        # Set by a successful bind: the pid that may unlink the unix path
        # (a forked copy of circusd must not remove the parent's file).
        self._bound_by: Optional[int] = None
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.setblocking(self.blocking)
        self.set_inheritable(True)

    def _adopt(self, name: str, fd: int, backlog: int, blocking: bool) -> None:
        """Be the socket circusd's supervisor bound (``systemd = true``)."""
        super().__init__(fileno=fd)
        self.name = name
        self.backlog = int(backlog)
        self.umask, self.replace, self.interface = None, False, None
        self.so_reuseport, self.blocking = False, bool(blocking)
        self._bound_by = None  # never ours to unlink
        if self.family == socket.AF_UNIX:
            self.host, self.port = None, 0
            self.path = self.getsockname() or None
        else:
            self.host, self.port = self.getsockname()[:2]
            self.path = None
        self.setblocking(self.blocking)
        self.set_inheritable(True)

    @classmethod
    def inherited(cls, like: "CircusSocket", fd: int, ours: bool) -> "CircusSocket":
        """Socket ``like`` (of the configuration) on fd ``fd``, bound by an earlier
        image of this circusd (``circus.upgrade``); ``ours``: circusd bound it
        (not its supervisor), so it may unlink its path and hand it over."""
        sock = cls.__new__(cls)
        sock._adopt(like.name, fd, like.backlog, like.blocking)
        sock.systemd = like.systemd
        sock.umask, sock.replace, sock.interface = like.umask, like.replace, like.interface
        sock.so_reuseport = like.so_reuseport
        if like.family == socket.AF_UNIX:
            sock.path = like.path
        sock._bound_by = os.getpid() if ours else None
        return sock

    @staticmethod
    def _check(name: str, family: int, type_: int, port: int, so_reuseport: bool) -> None:
        if family != socket.AF_UNIX and not 0 <= port <= 65535:
            raise ValueError("socket %r: port %d is outside 0-65535" % (name, port))
        if not so_reuseport:
            return
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError("socket %r: so_reuseport needs AF_INET or AF_INET6" % name)
        if type_ not in LISTENING_TYPES and port == 0:
            # Each worker's fresh socket would get its own random port.
            raise ValueError("socket %r: so_reuseport on a datagram socket needs a fixed port" % name)

    def __repr__(self) -> str:
        return "<CircusSocket %r at %s fd=%d>" % (self.name, self.location, self.fileno())

    # -- addresses -----------------------------------------------------

    @property
    def location(self) -> str:
        """``host:port`` (``[host]:port`` for IPv6) or the unix path."""
        if self.family == socket.AF_UNIX:
            return str(self.path)
        if self.family == socket.AF_INET6:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def _resolve(self) -> Any:
        """The sockaddr to bind: the first getaddrinfo answer for host:port."""
        host = self.host if self.host not in (None, "", "*") else None
        try:
            infos = socket.getaddrinfo(
                host, self.port, self.family, self.type, self.proto, socket.AI_PASSIVE
            )
        except socket.gaierror as exc:
            raise _bind_error(self.name, self.location, exc)
        return infos[0][4]

    def as_dict(self) -> dict:
        """What ``listsockets`` reports for this socket."""
        info: dict = {"fd": self.fileno(), "name": self.name, "backlog": self.backlog}
        if self.family == socket.AF_UNIX:
            info["path"] = self.path
        else:
            info["host"] = self.host
            info["port"] = self.port
        return info

    # -- binding -------------------------------------------------------

    def bind_and_listen(self) -> None:
        """Bind (and listen, for stream/seqpacket sockets).

        Raises OSError naming the socket and the address when the bind
        fails. With ``so_reuseport`` a stream socket is bound but never
        listens: that reserves the address (and learns the real port when
        ``port = 0``) while the workers' own sockets take the connections;
        a datagram socket is left unbound, as it would otherwise take a
        share of the datagrams that nobody reads. A ``systemd`` socket came
        bound: nothing to do.
        """
        if self.systemd or self._bound_by == os.getpid():
            return  # bound already (by the supervisor, or before an upgrade)
        if self.so_reuseport:
            if self.type not in LISTENING_TYPES:
                return
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if self.interface:
            self._bind_to_device(self)
        if self.family == socket.AF_UNIX:
            self._bind_unix()
        else:
            self._bind_inet(self, self._resolve())
            self.host, self.port = self.getsockname()[:2]
        if self.type in LISTENING_TYPES and not self.so_reuseport:
            self.listen(self.backlog)
        self._bound_by = os.getpid()
        logger.debug("socket %r bound at %s, fd %d", self.name, self.location, self.fileno())

    def _bind_to_device(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, SO_BINDTODEVICE, self.interface.encode() + b"\0"  # type: ignore[union-attr]
            )
        except OSError as exc:
            hint = " (needs root or CAP_NET_RAW)" if exc.errno == errno.EPERM else ""
            error = OSError(
                "socket %r: cannot bind to interface %r: %s%s"
                % (self.name, self.interface, exc.strerror or exc, hint)
            )
            error.errno = exc.errno
            raise error from exc

    def _bind_inet(self, sock: socket.socket, sockaddr: Any) -> None:
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise _bind_error(self.name, self.location, exc) from exc

    def _bind_unix(self) -> None:
        path = str(self.path)
        self._clear_path(path)
        old_umask = os.umask(self.umask) if self.umask is not None else None
        try:
            self.bind(path)
        except OSError as exc:
            raise _bind_error(self.name, path, exc) from exc
        finally:
            if old_umask is not None:
                os.umask(old_umask)

    def _clear_path(self, path: str) -> None:
        """Refuse an existing path, or unlink it when ``replace`` is set.

        Only a socket file is ever unlinked: a typo must not delete data.
        """
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not self.replace:
            raise OSError(
                errno.EADDRINUSE,
                "socket %r: cannot bind %s: the file already exists; remove it "
                "or set replace = true" % (self.name, path),
            )
        if not stat.S_ISSOCK(mode):
            raise OSError(
                errno.EEXIST,
                "socket %r: cannot replace %s: it is not a socket file" % (self.name, path),
            )
        os.unlink(path)

    def bind_fresh(self) -> socket.socket:
        """A new socket bound to this socket's address, for one worker.

        Only for ``so_reuseport`` sockets. The caller hands its fd to one
        child and closes it in circusd right after the spawn.
        """
        if not self.so_reuseport:
            raise ValueError("socket %r: bind_fresh() needs so_reuseport = true" % self.name)
        if self.type in LISTENING_TYPES and self._bound_by is None:
            raise RuntimeError("socket %r: call bind_and_listen() before bind_fresh()" % self.name)
        return self._new_listener()

    def _new_listener(self) -> socket.socket:
        """A socket in this one's SO_REUSEPORT group: same address, same options."""
        fresh = socket.socket(self.family, self.type, self.proto)
        try:
            fresh.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            fresh.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if self.interface:
                self._bind_to_device(fresh)
            self._bind_inet(fresh, self._resolve())
            if self.type in LISTENING_TYPES:
                fresh.listen(self.backlog)
            fresh.setblocking(self.blocking)
            fresh.set_inheritable(True)
        except BaseException:
            fresh.close()
            raise
        return fresh

    # -- handing over to a new generation of workers ----------------------

    def can_hand_over(self) -> bool:
        """True for a bound TCP listener of one shared socket (not ``so_reuseport``)."""
        return (
            self.family in (socket.AF_INET, socket.AF_INET6)
            and self.type == socket.SOCK_STREAM
            and not self.so_reuseport
            and self._bound_by is not None
        )

    def hand_over(self, steer_to_fresh: bool = True) -> Optional["Handover"]:
        """Put a new listener under this socket's fd; the old one takes no new connection.

        From now on the kernel queues every new connection on the new
        listener, which the processes spawned next inherit; the processes
        that still hold the old listener keep accepting what was already
        queued on it. With ``steer_to_fresh`` false, new connections keep
        going to the old listener until :meth:`Handover.steer_to_fresh`.
        Returns the :class:`Handover` to finish once they are gone (or to
        undo), or None where the kernel refuses (the socket is then left
        as it was).
        """
        if not self.can_hand_over():
            return None
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        old = socket.socket(fileno=os.dup(self.fileno()))
        try:
            fresh = self._new_listener()
        except OSError as exc:
            logger.warning("socket %r: no new listener for the hand-over: %s", self.name, exc)
            self._end_group(old)
            return None
        try:
            program = _STEER_TO_FRESH if steer_to_fresh else _STEER_TO_OLD
            fresh.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, program)
            os.dup2(fresh.fileno(), self.fileno())
        except OSError as exc:
            logger.warning("socket %r: the kernel refused the hand-over: %s", self.name, exc)
            fresh.close()
            self._end_group(old)
            return None
        fresh.close()
        logger.debug("socket %r: new connections go to a new listener", self.name)
        return Handover(self, old)

    def _end_group(self, old: socket.socket) -> None:
        """Back to one plain listener: no steering program, no SO_REUSEPORT."""
        old.close()
        for level, option, value in (
            (socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0),
            (socket.SOL_SOCKET, socket.SO_REUSEPORT, 0),
        ):
            try:
                self.setsockopt(level, option, value)
            except OSError:
                pass  # no program attached

    def close(self) -> None:
        """Close the socket; remove the unix socket file we created."""
        if self.family == socket.AF_UNIX and self._bound_by == os.getpid():
            self._bound_by = None
            try:
                os.unlink(str(self.path))
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("socket %r: cannot remove %s: %s", self.name, self.path, exc)
        super().close()

    # -- configuration -------------------------------------------------

    @classmethod
    def load_from_config(cls, config: Mapping[str, Any]) -> "CircusSocket":
        """Build from a ``[socket:NAME]`` dict: ``name`` plus the section's keys.

        Values may be converted already or still be ini strings; unknown
        keys are refused so that a typo does not go unnoticed.
        """
        conf = {k: v for k, v in config.items() if not k.startswith("__")}
        if "name" not in conf:
            raise ValueError("socket config has no 'name'")
        name = conf.pop("name")
        unknown = sorted(set(conf) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(
                "socket %r: unknown option%s %s" % (name, "s" if len(unknown) > 1 else "", ", ".join(unknown))
            )
        for key, value in conf.items():
            if isinstance(value, str) and key not in _READ_BY_CONSTRUCTOR:
                conf[key] = _convert(name, key, value, keyed=True)
        if conf.get("host") is None:
            conf.pop("host", None)
        return cls(name=name, **conf)


class Handover:
    """A listener being retired by :meth:`CircusSocket.hand_over`.

    No new connection reaches it; the connections already in its accept
    queue wait for the old processes, which still hold it, to accept them.
    """

    def __init__(self, sock: CircusSocket, old: socket.socket) -> None:
        self.sock = sock
        self.old = old

    def queued(self) -> int:
        """Connections waiting in the old listener's accept queue."""
        return queue_length(self.old) or 0

    def steer_to_fresh(self) -> None:
        """From now on, new connections go to the new listener (raises OSError if the kernel refuses)."""
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, _STEER_TO_FRESH)

    def undo(self) -> None:
        """Put the old listener back under the fd, alone: the new one is closed.

        For a hand-over still steering to the old listener, once the
        processes that hold the new one are gone.
        """
        os.dup2(self.old.fileno(), self.sock.fileno())
        self.sock._end_group(self.old)

    def finish(self) -> None:
        """Stop the old listener for good (its last holders may be gone or not)."""
        try:
            # shutdown() unhashes it even if a stray process still holds it.
            self.old.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock._end_group(self.old)


class CircusSockets(dict):
    """The arbiter's sockets by name."""

    def __init__(self, sockets: Iterable[CircusSocket] = ()) -> None:
        super().__init__((sock.name, sock) for sock in sockets)

    def add(self, sock: CircusSocket) -> None:
        """Register a socket under its name; refuses a duplicate name."""
        if sock.name in self:
            raise ValueError("socket %r is defined twice" % sock.name)
        self[sock.name] = sock

    def bind_and_listen_all(self) -> None:
        """Bind every socket; on a failure close them all and re-raise."""
        try:
            for sock in self.values():
                sock.bind_and_listen()
        except BaseException:
            self.close_all()
            raise

    def close_all(self) -> None:
        """Close every socket (unix socket files are removed)."""
        for sock in self.values():
            sock.close()
