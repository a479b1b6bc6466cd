"""stop: stop watchers (all, one, or those matching a pattern)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from circus.commands.start import Start

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher


class Stop(Start):
    """Stop watchers

    Processes get their watcher's ``stop_signal``, then SIGKILL after
    ``graceful_timeout`` seconds.

    ZMQ message
    -----------

    ::

        {"command": "stop",
         "properties": {"name": "<name>", "match": "glob", "waiting": false}}

    Without ``name`` every watcher is stopped (circusd keeps running). With
    it, the watchers whose name matches: ``match`` is ``glob`` (the
    default), ``regex`` or ``simple`` (the exact name). With ``waiting`` the
    reply comes once they are stopped (then ``info`` is null when a single
    watcher matched).

    Command line
    ------------

    ::

        $ circusctl stop [<name>] [--match simple|glob|regex] [--waiting]
    """

    name = "stop"

    def act(self, watcher: Watcher) -> Awaitable[Any]:
        return watcher.stop()

    def act_on_all(self, arbiter: Arbiter) -> Awaitable[Any]:
        return arbiter.stop_watchers()
