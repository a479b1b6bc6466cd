"""restart: restart watchers, or the whole arbiter."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from circus.commands.start import Start

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher


class Restart(Start):
    """Restart the arbiter or watchers

    ZMQ message
    -----------

    ::

        {"command": "restart",
         "properties": {"name": "<name>", "match": "glob", "waiting": false}}

    With ``name``, the matching watchers are stopped and started again
    (``match`` as for ``start``); with ``waiting`` and a single match the
    reply has ``info``: ``{"stopped": [pids], "started": [pids], "kept": []}``.
    Without ``name`` every watcher is stopped (lowest priority first), then
    every ``autostart`` watcher is started again (highest priority first).
    The configuration file is not read again: ``reloadconfig`` does that.

    Command line
    ------------

    ::

        $ circusctl restart [<name>] [--match simple|glob|regex] [--waiting]
    """

    name = "restart"

    def act(self, watcher: Watcher) -> Awaitable[Any]:
        return watcher.restart()

    def act_on_all(self, arbiter: Arbiter) -> Awaitable[Any]:
        return arbiter.restart()
