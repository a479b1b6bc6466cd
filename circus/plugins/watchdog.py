"""WatchDog: kill processes that stop sending heartbeats; their watcher replaces them.

Processes of the watchers whose name matches ``watchers_regex`` send UDP
datagrams to ``ip``:``port`` matching ``msg_regex`` (default
``<pid>;<timestamp>``). Every ``loop_rate`` seconds each tracked pid that
sent nothing during the last ``loop_rate`` seconds gets a miss; after
``max_count`` misses in a row it is stopped with the ``kill`` command
(``watchers_stop_signal``, ``watchers_graceful_timeout`` when given).
Plugin watchers (``plugin:*``) are never tracked: they do not beat.
"""

import logging
import re
import socket
import time
from typing import Any, Sequence

from circus.convert import to_signum
from circus.exc import CallError
from circus.plugins import CircusPlugin

logger = logging.getLogger("circus.plugins.watchdog")

DEFAULT_MSG_REGEX = r"^(?P<pid>.*);(?P<timestamp>.*)$"


class _Beat:
    def __init__(self, watcher):
        self.watcher = watcher
        self.last = time.monotonic()
        self.misses = 0


class WatchDog(CircusPlugin):
    """Options: loop_rate, watchers_regex, msg_regex, max_count, ip, port,
    watchers_stop_signal, watchers_graceful_timeout."""

    name = "watchdog"

    def configure(self, config: dict[str, Any]) -> None:
        self.loop_rate = float(config.get("loop_rate", 60))
        self.watchers_regex = re.compile(config.get("watchers_regex", ".*"))
        self.msg_regex = re.compile(config.get("msg_regex", DEFAULT_MSG_REGEX))
        self.max_count = int(config.get("max_count", 3))
        self.ip = config.get("ip", "127.0.0.1")
        self.port = int(config.get("port", 1664))
        stop_signal = config.get("watchers_stop_signal")
        self.stop_signal = to_signum(stop_signal) if stop_signal else None
        timeout = config.get("watchers_graceful_timeout")
        self.graceful_timeout = float(timeout) if timeout else None
        self.pids: dict[int, _Beat] = {}
        self.sock: socket.socket | None = None

    # -- setup --------------------------------------------------------------

    def handle_init(self) -> None:
        family = socket.getaddrinfo(self.ip, self.port, 0, socket.SOCK_DGRAM)[0][0]
        self.sock = sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((self.ip, self.port))
        self.port = sock.getsockname()[1]
        logger.info("watchdog listening for heartbeats on %s:%d", self.ip, self.port)
        self.loop.add_callback(self._listen, sock)
        self.periodic(self.look_after, self.loop_rate)

    def _listen(self, sock):
        self.loop.asyncio_loop.add_reader(sock.fileno(), self._read_beats, sock)

    def handle_stop(self) -> None:
        if self.sock is not None:
            self.loop.asyncio_loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def watched(self, watcher: str) -> bool:
        return not watcher.startswith("plugin:") and self.watchers_regex.match(watcher) is not None

    async def discover(self) -> bool:
        """Track the processes circusd lists; forget the ones it no longer lists.

        Events keep the list current between two looks; this catches what
        events cannot tell (processes older than the plugin, lost events).
        Returns False when circusd did not answer.
        """
        try:
            names = (await self.acall("list")).get("watchers") or []
            listed = {}
            for watcher in filter(self.watched, names):
                for pid in (await self.acall("list", name=watcher)).get("pids") or []:
                    listed[pid] = watcher
        except CallError as exc:
            logger.warning("%s", exc)
            return False
        for pid in [p for p in self.pids if p not in listed]:
            del self.pids[pid]
        for pid, watcher in listed.items():
            self.pids.setdefault(pid, _Beat(watcher))
        return True

    # -- events -------------------------------------------------------------

    def handle_recv(self, data: Sequence[bytes]) -> None:
        watcher, action, msg = self.split_data(data)
        if not self.watched(watcher):
            return
        if action == "spawn":
            pid = self.load_message(msg).get("process_pid")
            self.pids[pid] = _Beat(watcher)
        elif action in ("reap", "kill"):
            self.pids.pop(self.load_message(msg).get("process_pid"), None)
        elif action in ("stop", "remove"):
            for pid in [p for p, beat in self.pids.items() if beat.watcher == watcher]:
                del self.pids[pid]

    def _read_beats(self, sock):
        while True:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            self.heartbeat(data.decode("utf-8", "replace").strip())

    def heartbeat(self, text: str) -> None:
        """Record a heartbeat datagram; unknown pids and bad messages are ignored."""
        match = self.msg_regex.match(text)
        if match is None:
            logger.debug("not a heartbeat: %r", text)
            return
        try:
            pid = int(match.group("pid"))
        except (IndexError, ValueError):
            logger.debug("heartbeat without a valid pid: %r", text)
            return
        beat = self.pids.get(pid)
        if beat is not None:
            beat.last = time.monotonic()
            beat.misses = 0

    # -- decisions ----------------------------------------------------------

    async def look_after(self) -> None:
        """Count a miss for each silent pid; kill the ones silent too long."""
        if not await self.discover():
            return
        now = time.monotonic()
        for pid, beat in list(self.pids.items()):
            if now - beat.last < self.loop_rate:
                continue
            beat.misses += 1
            if beat.misses >= self.max_count:
                logger.warning("%s[%d]: no heartbeat for %.1fs, killing it", beat.watcher, pid, now - beat.last)
                del self.pids[pid]
                self.kill(beat.watcher, pid)

    def kill(self, watcher: str, pid: int) -> None:
        props = {"name": watcher, "pid": pid}
        if self.stop_signal is not None:
            props["signum"] = self.stop_signal
        if self.graceful_timeout is not None:
            props["graceful_timeout"] = self.graceful_timeout
        self.cast("kill", **props)
