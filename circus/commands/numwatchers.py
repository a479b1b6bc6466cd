"""numwatchers: how many watchers circusd has."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import Command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class NumWatchers(Command):
    """Get the number of watchers

    Plugin and circusd-stats watchers count too.

    ZMQ message
    -----------

    ::

        {"command": "numwatchers"}

    The reply has ``numwatchers``.

    Command line
    ------------

    ::

        $ circusctl numwatchers
    """

    name = "numwatchers"
    readonly = True

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        return {"numwatchers": arbiter.numwatchers()}

    def console_msg(self, reply: dict) -> str:
        return str(reply.get("numwatchers"))
