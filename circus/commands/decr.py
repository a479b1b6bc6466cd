"""decr: fewer processes for a watcher."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from circus.commands.incr import Incr

if TYPE_CHECKING:
    from circus.watcher import Watcher


class Decr(Incr):
    """Decrement the number of processes in a watcher

    The oldest processes are stopped first; the count never goes below 0.

    ZMQ message
    -----------

    ::

        {"command": "decr", "properties": {"name": "<name>", "nb": <nb>, "waiting": false}}

    ``nb`` (default 1) is how many processes to remove. With ``waiting``
    the reply comes once they are stopped and has ``numprocesses``, the new
    count. A singleton watcher is left alone: the reply has
    ``numprocesses`` and ``singleton: true``.

    Command line
    ------------

    ::

        $ circusctl decr <name> [<nb>] [--waiting]
    """

    name = "decr"

    def early_reply(self, watcher, nb: int) -> dict | None:
        # Fewer processes never break the singleton rule: a singleton is
        # left alone, as Circus 0.19 does.
        if watcher.singleton:
            return {"numprocesses": watcher.numprocesses, "singleton": True}
        return None

    def change(self, watcher: Watcher, nb: int) -> Awaitable[int]:
        return watcher.decr(nb)
