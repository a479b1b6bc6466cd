"""list: the watchers, or the pids of one watcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import OptionalNameCommand, find_watcher

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class List(OptionalNameCommand):
    """Get the list of watchers or the processes of one watcher

    ZMQ message
    -----------

    ::

        {"command": "list", "properties": {"name": "<name>"}}

    Without ``name`` the reply has ``watchers``: every watcher name, lower
    case, sorted. With it the reply has ``pids``: the sorted pids of the
    watcher's processes that are alive; with ``ready`` or ``watchdog_sec``
    set it also has ``ready``: ``{pid: true|false}``, whether each process is
    really up (see the readiness page).

    Command line
    ------------

    ::

        $ circusctl list [<name>]

    Prints the names, or the pids, separated by commas.
    """

    name = "list"

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        if props.get("name"):
            watcher = find_watcher(arbiter, props["name"])
            pids = [pid for pid, p in watcher.processes.items() if p.is_alive()]
            if watcher._health.configured:
                return {"pids": sorted(pids), "ready": watcher._health.ready_map()}
            return {"pids": sorted(pids)}
        return {"watchers": sorted(w.name.lower() for w in arbiter.iter_watchers())}

    def console_msg(self, reply: dict) -> str:
        if "pids" in reply:
            return ",".join(str(pid) for pid in reply["pids"])
        return ",".join(reply.get("watchers", []))
