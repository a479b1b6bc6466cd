"""On-demand start: a stopped watcher that starts at the first connection to its sockets.

While armed, the loop watches the listening sockets of the watcher for a
readable event (a connection waiting to be accepted); the first one disarms
and starts the watcher, whose processes then accept the connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circus.watcher import Watcher

logger = logging.getLogger("circus.watcher")


class OnDemand:
    """The armed sockets of ``watcher``."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self._fds: list[int] = []

    @property
    def armed(self) -> bool:
        return bool(self._fds)

    def arm(self) -> None:
        """Start the watcher at the first connection to one of its sockets."""
        if self._fds:
            return
        loop = asyncio.get_running_loop()
        for name in self.watcher.socket_names():
            fd = self.watcher.sockets[name].fileno()
            loop.add_reader(fd, self._on_socket_event)
            self._fds.append(fd)

    def disarm(self) -> None:
        if not self._fds:
            return
        loop = asyncio.get_running_loop()
        for fd in self._fds:
            loop.remove_reader(fd)
        self._fds = []

    def _on_socket_event(self) -> None:
        self.disarm()
        w = self.watcher
        logger.info("%s: connection on its socket, starting", w.name)
        w._tasks.spawn(w._wake(), name="%s: on demand start" % w.name)
