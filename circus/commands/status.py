"""status: the state of one watcher or of every watcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import OptionalNameCommand, find_watcher

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Status(OptionalNameCommand):
    """Get the status of one watcher or of all watchers

    A watcher is ``active``, ``stopped``, ``starting`` or ``stopping``.

    ZMQ message
    -----------

    ::

        {"command": "status", "properties": {"name": "<name>"}}

    ``name`` is optional. With it the reply's ``status`` is the watcher's
    state (it replaces ``"ok"``); without it the reply has ``statuses``,
    ``{watcher name: state}`` for every watcher. A watcher with
    ``respawn_delay`` set also has ``respawn_backoff``: the longest wait,
    in seconds, of its slots' latest respawns (0 when none backs off). A
    watcher with readiness configured some of whose running processes are
    not ready yet also has ``not_ready``: their sorted pids.

    Command line
    ------------

    ::

        $ circusctl status [<name>]

    Prints the state of ``<name>``, or one ``<name>: <state>`` line per
    watcher, sorted by name.
    """

    name = "status"

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        if props.get("name"):
            from circus.crashloop import status_details

            watcher = find_watcher(arbiter, props["name"])
            not_ready = watcher._health.not_ready() if watcher._health.configured else []
            return {"status": watcher.status(), **status_details(watcher),
                    **({"not_ready": not_ready} if not_ready else {})}
        return {"statuses": arbiter.statuses()}

    def console_msg(self, reply: dict) -> str:
        if "statuses" in reply:
            statuses = reply["statuses"]
            return "\n".join("%s: %s" % (name, statuses[name]) for name in sorted(statuses))
        if reply.get("not_ready"):
            return "%s (not ready: %s)" % (reply.get("status"), ",".join(map(str, reply["not_ready"])))
        return str(reply.get("status"))
