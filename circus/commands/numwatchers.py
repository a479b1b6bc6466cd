"""numwatchers: how many watchers circusd has."""

from circus.commands import Command


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

    def prepare(self, arbiter, props):
        return {"numwatchers": arbiter.numwatchers()}

    def console_msg(self, reply):
        return str(reply.get("numwatchers"))
