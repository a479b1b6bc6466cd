"""incr: more processes for a watcher."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from circus import options
from circus.commands import WAITING, Command, as_key, find_watcher, int_arg, optional, required
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome
    from circus.watcher import Watcher

SINGLETON = "This watcher is a Singleton - not changing the number of processes"


class Incr(Command):
    """Increment the number of processes in a watcher

    ZMQ message
    -----------

    ::

        {"command": "incr", "properties": {"name": "<name>", "nb": <nb>, "waiting": false}}

    ``nb`` (default 1) is how many processes to add. With ``waiting`` the
    reply comes once the processes run and has ``numprocesses``, the new
    count. A singleton watcher runs at most 1 process: an ``incr`` past
    that is an error reply naming the watcher and the limit.

    Command line
    ------------

    ::

        $ circusctl incr <name> [<nb>] [--waiting]
    """

    name = "incr"
    properties = ("name",)
    options = (WAITING,)
    waiting = True
    usage = "<name> [<nb>]"

    def message(self, *args: str, **opts: Any) -> dict:
        if not 1 <= len(args) <= 2:
            raise ArgumentError("Invalid number of arguments")
        nb = int_arg(args[1], "nb") if len(args) == 2 else None
        return self.make_message(name=args[0], nb=nb, waiting=opts.get("waiting"))

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)
        if optional(props, "nb", int, default=1) < 0:
            raise MessageError("message invalid: 'nb' must be 0 or more")

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        watcher = find_watcher(arbiter, props["name"])
        nb = props.get("nb", 1)
        early = self.early_reply(watcher, nb)
        if early is not None:
            return early
        return as_key("numprocesses", self.change(watcher, nb))

    def early_reply(self, watcher, nb: int) -> dict | None:
        """The reply when the change is not made (None: make it); raises when it is refused."""
        try:
            options.check_singleton(watcher.name, watcher.singleton, watcher.numprocesses + nb)
        except ValueError as error:
            raise MessageError(str(error)) from None
        return None

    def change(self, watcher: Watcher, nb: int) -> Awaitable[int]:
        return watcher.incr(nb)

    def console_msg(self, reply: dict) -> str:
        if reply.get("singleton"):
            return SINGLETON
        if "numprocesses" in reply:
            return str(reply["numprocesses"])
        return "ok"
