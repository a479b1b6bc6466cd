"""numprocesses: how many processes one watcher, or circusd, runs."""

from circus.commands import OptionalNameCommand, find_watcher


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

    def prepare(self, arbiter, props):
        name = props.get("name")
        if name:
            watcher = find_watcher(arbiter, name)
            return {"numprocesses": len(watcher), "watcher_name": name}
        return {"numprocesses": arbiter.numprocesses()}

    def console_msg(self, reply):
        return str(reply.get("numprocesses"))
