"""get: the values of some options of a watcher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import Command, find_watcher, required
from circus.commands.options import format_value
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Get(Command):
    """Get the value of some options of a watcher

    ZMQ message
    -----------

    ::

        {"command": "get", "properties": {"name": "<name>", "keys": ["key1", "key2"]}}

    The reply has ``options``: ``{key: value}`` in the order asked. A key the
    watcher does not have is refused (``'<key>' option not found``).

    Command line
    ------------

    ::

        $ circusctl get <name> <key> [<key> ...]

    Prints one ``key: value`` line per key.
    """

    name = "get"
    readonly = True
    properties = ("name", "keys")
    usage = "<name> <key> [<key> ...]"

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) < 2:
            raise ArgumentError("Invalid number of arguments")
        return self.make_message(name=args[0], keys=list(args[1:]))

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)
        keys = required(props, "keys", list)
        if not all(isinstance(key, str) for key in keys):
            raise MessageError("message invalid: 'keys' must be a list of strings")

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        watcher = find_watcher(arbiter, props["name"])
        values = {}
        for key in props["keys"]:
            try:
                values[key] = watcher.get_option(key)
            except KeyError:
                raise MessageError("%r option not found" % key) from None
        return {"options": values}

    def console_msg(self, reply: dict) -> str:
        options = reply.get("options", {})
        return "\n".join("%s: %s" % (key, format_value(value)) for key, value in options.items())
