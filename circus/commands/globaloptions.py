"""globaloptions: circusd's own endpoints and check delay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import Command, optional
from circus.commands.options import format_value
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome

GLOBAL_OPTIONS = (
    "endpoint",
    "pubsub_endpoint",
    "stats_endpoint",
    "multicast_endpoint",
    "check_delay",
)


class GlobalOptions(Command):
    """Get the arbiter options

    The options are ``endpoint``, ``pubsub_endpoint``, ``stats_endpoint``,
    ``multicast_endpoint`` and ``check_delay``.

    ZMQ message
    -----------

    ::

        {"command": "globaloptions", "properties": {"option": "<option>"}}

    ``option`` is optional. The reply has ``options``: ``{option: value}``
    for every option, or for the one asked.

    Command line
    ------------

    ::

        $ circusctl globaloptions [<option>]

    Prints one ``option: value`` line per option.
    """

    name = "globaloptions"
    readonly = True
    usage = "[<option>]"

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) > 1:
            raise ArgumentError("Invalid number of arguments")
        return self.make_message(option=args[0] if args else None)

    def validate(self, props: dict) -> None:
        super().validate(props)
        option = optional(props, "option", str)
        if option and option not in GLOBAL_OPTIONS:
            raise MessageError("%r not an existing option" % option)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        wanted = [props["option"]] if props.get("option") else GLOBAL_OPTIONS
        return {"options": {key: getattr(arbiter, key, None) for key in wanted}}

    def console_msg(self, reply: dict) -> str:
        options = reply.get("options", {})
        return "\n".join("%s: %s" % (key, format_value(options[key])) for key in sorted(options))
