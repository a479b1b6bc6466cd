"""stats: process information of the watchers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import Command, Flag, find_watcher, format_info, int_arg, optional
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome
    from circus.procinfo import Slicer
    from circus.watcher import Watcher


def process_lines(pid: int | str, info: object) -> list[str]:
    """``<pid>: <info line>`` then one line per child, indented by three spaces."""
    lines = ["%s: %s" % (pid, format_info(info))]
    if isinstance(info, dict):
        lines.extend("   %s" % format_info(child) for child in info.get("children") or [])
    return lines


def _by_pid(infos):
    return sorted(infos.items(), key=lambda item: int(item[0]))


async def watcher_info(watcher: Watcher, extended: bool, slicer: Slicer) -> dict[int, Any]:
    """``watcher.info(extended)``, letting the loop serve other requests between processes.

    A process reaped meanwhile is left out.
    """
    infos = {}
    for pid in watcher.pids:
        if pid in watcher.processes:
            infos[pid] = watcher.process_info(pid, extended)
            await slicer.tick()
    return infos


async def _all_infos(watchers, extended):
    from circus.procinfo import Slicer

    slicer = Slicer()
    return {"infos": {w.name: await watcher_info(w, extended, slicer) for w in watchers}}


async def _named_info(name, watcher, extended):
    from circus.crashloop import status_details
    from circus.procinfo import Slicer

    return {"name": name, "info": await watcher_info(watcher, extended, Slicer()), **status_details(watcher)}


class Stats(Command):
    """Get process infos

    For every process: pid, command, user, nice value, resident and virtual
    memory, CPU and memory percentages, CPU time, age, and the same for its
    children; then its ``wid`` and ``respawn_delay``, the seconds the latest
    respawn of that slot waited (0 unless the slot keeps failing to start;
    with the ``respawn_delay`` option, its backoff).

    ZMQ message
    -----------

    ::

        {"command": "stats",
         "properties": {"name": "<name>", "process": <pid>, "extended": false}}

    Every property is optional. Without ``name`` the reply has ``infos``:
    ``{watcher: {pid: info}}``. With ``name`` it has ``name`` and ``info``
    (``{pid: info}``), and ``respawn_backoff`` when the watcher has
    ``respawn_delay`` (see ``status``); with ``process`` too, ``process``
    and ``info`` (that process's info). ``extended`` lets the watcher's ``extended_stats`` hook
    add its own keys.

    Command line
    ------------

    ::

        $ circusctl stats [--extended] [<name> [<pid>]]

    Prints ``<watcher>:`` headers and one line per process:
    ``<pid>: <pid>  <cmdline> <user> <nice> <rss> <vms> <cpu%> <mem%> <ctime>``.
    """

    name = "stats"
    readonly = True
    options = (Flag("extended", "let the extended_stats hook add its infos"),)
    usage = "[<name> [<pid>]]"

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) > 2:
            raise ArgumentError("Invalid number of arguments")
        name = args[0] if args else None
        process = int_arg(args[1], "pid") if len(args) == 2 else None
        return self.make_message(name=name, process=process, extended=opts.get("extended"))

    def validate(self, props: dict) -> None:
        super().validate(props)
        optional(props, "name", str)
        optional(props, "extended", bool)
        if optional(props, "process", int) is not None and not props.get("name"):
            raise MessageError("message invalid: 'process' needs 'name'")

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        extended = bool(props.get("extended"))
        name = props.get("name")
        if not name:
            return _all_infos(list(arbiter.iter_watchers()), extended)
        watcher = find_watcher(arbiter, name)
        pid = props.get("process")
        if pid is None:
            return _named_info(name, watcher, extended)
        if pid not in watcher.processes:
            raise MessageError("process %d not found in %r" % (pid, name))
        return {"process": pid, "info": watcher.process_info(pid, extended)}

    def console_msg(self, reply: dict) -> str:
        if "infos" in reply:
            lines = []
            for name in sorted(reply["infos"]):
                lines.append("%s:" % name)
                for pid, info in _by_pid(reply["infos"][name]):
                    lines.extend(process_lines(pid, info))
            return "\n".join(lines)
        if "process" in reply:
            return "\n".join(process_lines(reply["process"], reply.get("info")))
        lines = ["%s:" % reply.get("name")]
        for pid, info in _by_pid(reply.get("info") or {}):
            lines.extend(process_lines(pid, info))
        return "\n".join(lines)
