"""reload: replace the processes of one watcher or of every watcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import WAITING, Flag, OptionalNameCommand, as_key, discard, find_watcher, optional

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Reload(OptionalNameCommand):
    """Reload the arbiter or a watcher

    A graceful reload starts new processes, then stops the old ones (or,
    with ``sequential``, replaces them one at a time); a watcher with
    ``send_hup`` gets SIGHUP instead. With ``graceful`` false the processes
    are stopped, then started.

    ZMQ message
    -----------

    ::

        {"command": "reload",
         "properties": {"name": "<name>", "graceful": true,
                        "sequential": false, "waiting": false}}

    Without ``name`` every watcher is reloaded, in priority order. With
    ``name`` and ``waiting``, the reply has ``info``: ``{"stopped": [pids],
    "started": [pids], "kept": [pids]}``.

    Command line
    ------------

    ::

        $ circusctl reload [<name>] [--terminate] [--sequential] [--waiting]

    ``--terminate`` makes the reload not graceful.
    """

    name = "reload"
    options = (
        Flag("terminate", "stop the processes, then start new ones"),
        Flag("sequential", "replace the processes one at a time"),
        WAITING,
    )
    waiting = True

    def flag_props(self, named: bool, opts: dict) -> dict:
        return {
            "graceful": not opts.get("terminate"),
            "sequential": bool(opts.get("sequential")),
            "waiting": opts.get("waiting"),
        }

    def validate(self, props: dict) -> None:
        super().validate(props)
        optional(props, "graceful", bool)
        optional(props, "sequential", bool)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        graceful = props.get("graceful", True) is not False
        sequential = bool(props.get("sequential"))
        if props.get("name"):
            watcher = find_watcher(arbiter, props["name"])
            return as_key("info", watcher.reload(graceful=graceful, sequential=sequential))
        return discard(arbiter.reload(graceful=graceful, sequential=sequential))
