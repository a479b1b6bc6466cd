"""quit: stop every watcher, then circusd."""

from circus.commands import WAITING, Command, discard


class Quit(Command):
    """Quit the arbiter immediately

    Every watcher is stopped (each with its graceful timeout), then circusd
    exits.

    ZMQ message
    -----------

    ::

        {"command": "quit", "properties": {"waiting": false}}

    Without ``waiting`` the reply is sent before anything is stopped; with
    it, once every watcher is stopped.

    Command line
    ------------

    ::

        $ circusctl quit [--waiting]
    """

    name = "quit"
    options = (WAITING,)
    waiting = True

    def prepare(self, arbiter, props):
        return discard(arbiter.shutdown())
