"""reloadconfig: apply the changes of the configuration file."""

from circus.commands import WAITING, Command
from circus.exc import ArgumentError


async def _result(awaitable):
    result = await awaitable
    return result if isinstance(result, dict) else None


class ReloadConfig(Command):
    """Reload the configuration file

    circusd reads its configuration file again and applies the difference:
    removed watchers are stopped, new ones started, changed ones restarted
    (a change of ``numprocesses`` alone is applied in place); sockets and
    plugins likewise.

    ZMQ message
    -----------

    ::

        {"command": "reloadconfig", "properties": {"waiting": false}}

    With ``waiting`` the reply comes once the changes are applied; a
    failure (such as an invalid file) is an error reply (errno 6) with the
    reason.

    Command line
    ------------

    ::

        $ circusctl reloadconfig [--waiting]
    """

    name = "reloadconfig"
    options = (WAITING,)
    waiting = True

    def message(self, *args, **opts):
        if args:
            raise ArgumentError("Invalid number of arguments")
        return self.make_message(waiting=opts.get("waiting"))

    def prepare(self, arbiter, props):
        return _result(arbiter.reload_from_config())
