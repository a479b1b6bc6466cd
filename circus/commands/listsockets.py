"""listsockets: the sockets circusd has bound."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import Command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class ListSockets(Command):
    """Get the list of sockets

    ZMQ message
    -----------

    ::

        {"command": "listsockets"}

    The reply has ``sockets``, sorted by file descriptor: ``{"fd", "name",
    "backlog", "host", "port"}`` for a network socket, ``{"fd", "name",
    "backlog", "path"}`` for a unix socket.

    Command line
    ------------

    ::

        $ circusctl listsockets

    Prints one ``<fd>:socket '<name>' at <host>:<port>`` (or ``at <path>``)
    line per socket.
    """

    name = "listsockets"
    readonly = True

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        sockets = [sock.as_dict() for sock in arbiter.sockets.values()]
        return {"sockets": sorted(sockets, key=lambda s: s["fd"])}

    def console_msg(self, reply: dict) -> str:
        lines = []
        for sock in reply.get("sockets", []):
            where = sock["path"] if "path" in sock else "%s:%s" % (sock.get("host"), sock.get("port"))
            lines.append("%s:socket '%s' at %s" % (sock["fd"], sock["name"], where))
        return "\n".join(lines)
