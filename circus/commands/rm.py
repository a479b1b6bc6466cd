"""rm: remove a watcher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import WAITING, Command, Flag, discard, find_watcher, optional, required

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Rm(Command):
    """Remove a watcher

    The watcher's processes are stopped (unless ``nostop``: they then keep
    running, no longer supervised) and the watcher is forgotten.

    ZMQ message
    -----------

    ::

        {"command": "rm",
         "properties": {"name": "<name>", "nostop": false, "waiting": false}}

    With ``waiting`` the reply comes once the processes are stopped.

    Command line
    ------------

    ::

        $ circusctl rm <name> [--nostop] [--waiting]
    """

    name = "rm"
    properties = ("name",)
    options = (Flag("nostop", "leave the processes running"), WAITING)
    waiting = True
    usage = "<name>"

    def message(self, *args: str, **opts: Any) -> dict:
        props = super().message(*args)
        props["properties"].update(nostop=bool(opts.get("nostop")), waiting=bool(opts.get("waiting")))
        return props

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)
        optional(props, "nostop", bool)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        watcher = find_watcher(arbiter, props["name"])
        return discard(arbiter.rm_watcher(watcher.name, nostop=bool(props.get("nostop"))))
