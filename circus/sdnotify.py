"""systemd's notify protocol, both ends.

The protocol is one datagram per message on a Unix socket whose address is in
``NOTIFY_SOCKET`` (a path, or ``@name`` for Linux's abstract namespace); the
datagram holds ``KEY=VALUE`` lines such as ``READY=1``, ``STATUS=...``,
``WATCHDOG=1``, ``STOPPING=1`` or ``EXTEND_TIMEOUT_USEC=...``.

:class:`NotifyServer` is the end circusd serves to its workers. The sender of
a datagram is who the kernel says it is (``SO_PASSCRED`` credentials), never
what the datagram claims (a ``MAINPID=`` line is ignored). Garbage, oversized
datagrams and messages without credentials are dropped with a debug line.

:func:`notify` is the end circusd uses towards its own supervisor (systemd
with ``Type=notify``); :func:`watchdog_interval` reads ``WATCHDOG_USEC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from typing import AsyncIterator, Awaitable, Callable, Dict, Mapping, Optional

from circus.tasks import TaskSet

logger = logging.getLogger("circus.sdnotify")

# systemd reads at most this much of a datagram; a longer one is refused here.
MAX_DATAGRAM = 4096
# The keys circus acts on; others (e.g. a library's own) are kept and ignored.
KNOWN_KEYS = ("READY", "STATUS", "WATCHDOG", "STOPPING", "RELOADING",
              "EXTEND_TIMEOUT_USEC", "ERRNO", "MAINPID")

_UCRED = struct.Struct("3i")  # pid, uid, gid

Message = Dict[str, str]


def parse(data: bytes) -> Optional[Message]:
    """``KEY=VALUE`` lines as a dict, or None when ``data`` is not a message.

    A message is UTF-8 text of lines, each ``KEY=VALUE`` with an upper-case
    key; empty lines are allowed (a trailing newline is common).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: Message = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or not key.replace("_", "A").isalnum() or not key.isupper():
            return None
        fields[key] = value
    return fields or None


def _address(name: str) -> str | bytes:
    """The socket address of a ``NOTIFY_SOCKET`` value (``@`` = abstract)."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


class NotifyServer:
    """A notify socket on the loop; each message goes to ``on_message(pid, fields)``.

    ``name`` is what a worker finds in ``NOTIFY_SOCKET``; by default an
    abstract address private to this circusd (nothing on disk to clean up).
    """

    def __init__(self, on_message: Callable[[int, Message], None],
                 name: Optional[str] = None) -> None:
        self.on_message = on_message
        self.name = name or "@circus-notify-%d-%s" % (os.getpid(), os.urandom(6).hex())
        self._sock: Optional[socket.socket] = None
        self._loop = None

    def start(self, loop, fd: Optional[int] = None) -> None:
        """Bind and start reading on ``loop`` (an asyncio loop).

        With ``fd``, the socket is that one, bound to ``name`` already (an
        earlier image of circusd bound it: see :mod:`circus.upgrade`); what
        the workers sent meanwhile waits in it.
        """
        if fd is not None:
            sock = socket.socket(fileno=fd)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if fd is None:
                sock.bind(_address(self.name))
            if fd is None and not self.name.startswith("@"):
                # Workers may run as another user: who sent what is known
                # from the credentials, so anyone may send.
                os.chmod(self.name, 0o777)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._readable)

    def fileno(self) -> Optional[int]:
        """The socket's fd, None when it is not open."""
        return None if self._sock is None else self._sock.fileno()

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, ancdata, flags, _ = self._sock.recvmsg(
                    MAX_DATAGRAM + 1, socket.CMSG_SPACE(_UCRED.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.debug("notify socket: %s", exc)
                return
            self._receive(data, ancdata, flags)

    def _receive(self, data: bytes, ancdata, flags: int) -> None:
        pid = _sender_pid(ancdata)
        if pid is None:
            logger.debug("notify socket: datagram without credentials dropped")
            return
        if len(data) > MAX_DATAGRAM or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            logger.debug("notify socket: oversized datagram from pid %d dropped", pid)
            return
        fields = parse(data)
        if fields is None:
            logger.debug("notify socket: garbage from pid %d dropped: %r", pid, data[:80])
            return
        try:
            self.on_message(pid, fields)
        except Exception:
            logger.exception("notify socket: handling a message of pid %d failed", pid)

    def close(self) -> None:
        """Stop reading and close the socket (and remove a path one)."""
        if self._sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        if not self.name.startswith("@"):
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass


def _sender_pid(ancdata) -> Optional[int]:
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS \
                and len(payload) >= _UCRED.size:
            pid = _UCRED.unpack_from(payload)[0]
            return pid if pid > 0 else None
    return None


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``message`` (``"READY=1"``, ...) to the supervisor in ``NOTIFY_SOCKET``.

    False when there is no such supervisor or it cannot be reached (logged at
    debug level: running without systemd is normal).
    """
    name = environ.get("NOTIFY_SOCKET")
    if not name:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), _address(name))
    except OSError as exc:
        logger.debug("could not notify %s: %s", name, exc)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> Optional[float]:
    """Seconds between the ``WATCHDOG=1`` messages our supervisor expects.

    Half of ``WATCHDOG_USEC`` (as sd_watchdog_enabled advises), or None when
    no watchdog is set for this process (``WATCHDOG_PID`` names another).
    """
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


class Supervisor:
    """circusd's messages to its own supervisor (systemd ``Type=notify``).

    Every method is a no-op without ``NOTIFY_SOCKET``, so circusd calls them
    unconditionally. The variables are read once and removed from the
    environment, so that workers do not talk to circusd's supervisor. A
    supervisor that cannot be reached is logged once (a warning) and
    never stops circusd.
    """

    def __init__(self, environ=os.environ) -> None:
        self.environ = {key: environ.pop(key) for key in
                        ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID") if key in environ}
        self.watchdog_every = watchdog_interval(self.environ)
        self._warned = False
        self._watchdog: Optional["asyncio.Task[None]"] = None

    @property
    def enabled(self) -> bool:
        return "NOTIFY_SOCKET" in self.environ

    def send(self, message: str) -> bool:
        if not self.enabled:
            return False
        sent = notify(message, self.environ)
        if not sent and not self._warned:
            self._warned = True
            logger.warning("could not notify the supervisor at NOTIFY_SOCKET=%s; "
                           "circusd goes on without telling it", self.environ["NOTIFY_SOCKET"])
        return sent

    def ready(self, status: str) -> None:
        self.send("READY=1\nSTATUS=%s\nMAINPID=%d" % (status, os.getpid()))

    def reloading(self) -> None:
        # systemd >= 253 wants the monotonic time with RELOADING=1.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=reloading the configuration" % usec)

    @contextlib.asynccontextmanager
    async def reload(self, up: Callable[[], Awaitable[str]]) -> AsyncIterator[None]:
        """``RELOADING=1`` before the block, ``READY=1`` after it, failed or not.

        ``up`` waits until the watchers are up again and returns the status
        line; a failed reload changed nothing, so circusd is ready as before.
        """
        self.reloading()
        try:
            yield
        finally:
            self.ready(await up())

    def stopping(self) -> None:
        self.send("STOPPING=1\nSTATUS=stopping")

    def start_watchdog(self, tasks: TaskSet) -> None:
        """Ping ``WATCHDOG=1`` in a task of ``tasks`` when ``WATCHDOG_USEC`` asks for it."""
        if self.enabled and self.watchdog_every is not None and self._watchdog is None:
            self._watchdog = tasks.spawn(self.watchdog(), name="systemd watchdog")

    def stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def watchdog(self) -> None:
        """Ping ``WATCHDOG=1`` for as long as the loop runs (when asked for)."""
        if not self.enabled or self.watchdog_every is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_every)
