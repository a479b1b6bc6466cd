"""numprocesses: how many processes one watcher, or circusd, runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import OptionalNameCommand, find_watcher

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class NumProcesses(OptionalNameCommand):
    """Get the number of processes

    ZMQ message
    -----------

    ::

        {"command": "numprocesses", "properties": {"name": "<name>"}}

    The reply's ``numprocesses`` counts the processes of watcher ``name``
    (then ``watcher_name`` echoes the name), or of every watcher when no
    name is given.

    Command line
    ------------

    ::

        $ circusctl numprocesses [<name>]
    """

    name = "numprocesses"
    readonly = True

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        name = props.get("name")
        if name:
            watcher = find_watcher(arbiter, name)
            return {"numprocesses": len(watcher), "watcher_name": name}
        return {"numprocesses": arbiter.numprocesses()}

    def console_msg(self, reply: dict) -> str:
        return str(reply.get("numprocesses"))
