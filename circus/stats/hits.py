"""Socket hits: how many connections arrive on circusd's sockets.

circusd-stats cannot accept on circusd's listening sockets (it would steal
the connections from the workers), and the kernel keeps no per-socket
counter of accepted connections. So each socket is registered,
edge-triggered, in a private epoll set: the kernel wakes every waiter of a
listening socket once per queued connection (once per datagram for UDP),
the workers blocked in ``accept`` as well as us, and with ``EPOLLET`` each
wake-up makes the socket ready again. One ready report is at least one
hit; for TCP the growth of the accept queue since the previous report
(``tcpi_unacked`` of ``TCP_INFO``) says how many arrived, so connections
that nobody accepts yet are counted exactly. Arrivals that come closer
together than our wake-up latency while workers drain the queue are
counted once, so under heavy load the figure is a lower bound. An idle
socket costs nothing (0.19 polled every socket 100 times a second and
counted the polls that found it readable, not connections).

The fds come from ``listsockets`` and are circusd's own numbers:
circusd-stats run by circusd (``use_sockets``) inherits them. When run by
hand they are duplicated from circusd with ``pidfd_getfd`` (Linux 5.6, needs
the right to ptrace circusd); failing both, the socket's hits are "N/A".
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import select
import socket
from typing import Dict, Optional, Union

from circus.sockets import queue_length

logger = logging.getLogger("circus.stats.hits")

SYS_PIDFD_GETFD = 438  # the same number on every architecture Linux added it to


def address_of(info: dict) -> str:
    """``host:port`` (``[host]:port`` for IPv6) or the path of a ``listsockets`` entry."""
    if "path" in info:
        return str(info["path"])
    host = str(info.get("host"))
    if ":" in host:
        host = "[%s]" % host
    return "%s:%s" % (host, info.get("port"))


def _matches(sock: socket.socket, info: dict) -> bool:
    """True if ``sock`` is bound where ``listsockets`` says the socket is."""
    try:
        name = sock.getsockname()
    except OSError:
        return False
    if "path" in info:
        return isinstance(name, (str, bytes)) and os.fsdecode(name) == info["path"]
    return isinstance(name, tuple) and name[1] == info.get("port")


def _pidfd_getfd(pid: int, fd: int) -> int:
    """A duplicate of process ``pid``'s ``fd`` in our process (OSError if refused)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return copy
    finally:
        os.close(pidfd)


def _wrap(fd: int, info: dict) -> Optional[socket.socket]:
    """A socket object owning ``fd`` if it is the socket of ``info``, else None (fd closed)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return None
    if _matches(sock, info):
        return sock
    sock.close()
    return None


def open_socket(info: dict, circusd_pid: Optional[int]) -> Optional[socket.socket]:
    """Our own handle on circusd's socket ``info`` (inherited fd first, then pidfd_getfd)."""
    fd = info["fd"]
    try:
        sock = _wrap(os.dup(fd), info)
    except OSError:
        sock = None
    if sock is None and circusd_pid is not None:
        try:
            sock = _wrap(_pidfd_getfd(circusd_pid, fd), info)
        except (OSError, AttributeError) as exc:
            logger.debug("socket %r: pidfd_getfd(%d, %d) failed: %s", info.get("name"), circusd_pid, fd, exc)
    return sock


class HitCounter:
    """Counts connection arrivals on a set of sockets (see the module docstring).

    ``reset(sockets_info, circusd_pid)`` (re)builds the set from a
    ``listsockets`` reply; ``take()`` returns ``{fd: hits or "N/A"}`` since
    the previous call and starts counting afresh.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._socks: Dict[int, socket.socket] = {}  # our fd -> socket
        self._hits: Dict[int, Union[int, str]] = {}  # circusd fd -> hits
        self._ours_to_theirs: Dict[int, int] = {}
        self._queued: Dict[int, Optional[int]] = {}  # our fd -> accept queue length last seen
        loop.add_reader(self._epoll.fileno(), self._on_ready)

    def reset(self, sockets_info: list, circusd_pid: Optional[int]) -> None:
        self._forget()
        for info in sockets_info:
            sock = open_socket(info, circusd_pid)
            if sock is None:
                logger.warning(
                    "socket %r (fd %s): cannot see circusd's socket; its hits are N/A "
                    "(run circusd-stats from circusd with statsd = true, or as circusd's user)",
                    info.get("name"), info["fd"],
                )
                self._hits[info["fd"]] = "N/A"
                continue
            self._epoll.register(sock.fileno(), select.EPOLLIN | select.EPOLLET)
            self._socks[sock.fileno()] = sock
            self._ours_to_theirs[sock.fileno()] = info["fd"]
            self._queued[sock.fileno()] = queue_length(sock)
            self._hits[info["fd"]] = 0

    def _on_ready(self) -> None:
        for ours, _ in self._epoll.poll(0, 256):
            theirs = self._ours_to_theirs.get(ours)
            if theirs is None:
                continue
            before, now = self._queued[ours], queue_length(self._socks[ours])
            self._queued[ours] = now
            grown = now - before if now is not None and before is not None else 0
            self._hits[theirs] = int(self._hits[theirs]) + max(1, grown)

    def take(self) -> Dict[int, Union[int, str]]:
        self._on_ready()  # arrivals the loop has not dispatched yet belong to this round
        for ours, sock in self._socks.items():
            self._queued[ours] = queue_length(sock)
        hits = dict(self._hits)
        for fd, value in self._hits.items():
            if value != "N/A":
                self._hits[fd] = 0
        return hits

    def _forget(self) -> None:
        for ours, sock in self._socks.items():
            self._epoll.unregister(ours)
            sock.close()
        self._socks.clear()
        self._ours_to_theirs.clear()
        self._queued.clear()
        self._hits.clear()

    def close(self) -> None:
        self._forget()
        self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
