"""signal: send a signal to the processes of a watcher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import (
    Command,
    Flag,
    check_signal,
    find_watcher,
    int_arg,
    optional,
    required,
)
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Signal(Command):
    """Send a signal

    Sends a signal to every process of a watcher, to one of them, to one
    child of a process, or to the children of the processes.

    ZMQ message
    -----------

    ::

        {"command": "signal",
         "properties": {"name": "<name>", "signum": <signum>, "pid": <pid>,
                        "childpid": <childpid>, "children": false,
                        "recursive": false}}

    ``signum`` is a number or a name (``9``, ``KILL``, ``SIGKILL``,
    ``sighup``). ``pid`` picks one process of the watcher (default: all);
    ``childpid`` (or ``child_pid``, as the Circus manual spells it) picks
    one child of ``pid``; ``children`` signals the
    children of the process(es) instead of the process(es);
    ``recursive`` signals the process(es) and all their descendants (with
    ``children``: the descendants only). A pid that is not one of the
    watcher's processes is ignored.

    Command line
    ------------

    ::

        $ circusctl signal <name> [<pid> [<childpid>]] <signum> [--children] [--recursive]
    """

    name = "signal"
    properties = ("name", "signum")
    options = (
        Flag("children", "signal the children of the process(es)"),
        Flag("recursive", "signal every descendant too"),
    )
    usage = "<name> [<pid> [<childpid>]] <signum>"

    def message(self, *args: str, **opts: Any) -> dict:
        if not 2 <= len(args) <= 4:
            raise ArgumentError("Invalid number of arguments")
        name, word = args[0], args[-1]
        pid = int_arg(args[1], "pid") if len(args) >= 3 else None
        childpid = int_arg(args[2], "childpid") if len(args) == 4 else None
        signum: int | str = int(word) if word.isdigit() else word
        return self.make_message(
            name=name,
            signum=signum,
            pid=pid,
            childpid=childpid,
            children=opts.get("children") or None,
            recursive=opts.get("recursive") or None,
        )

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)
        check_signal(required(props, "signum", int, str))
        pid = optional(props, "pid", int)
        spellings = {optional(props, "childpid", int), optional(props, "child_pid", int)} - {None}
        if len(spellings) > 1:
            raise MessageError("message invalid: 'childpid' and 'child_pid' differ")
        if _child_pid(props) is not None and pid is None:
            raise MessageError("message invalid: 'childpid' needs 'pid'")
        optional(props, "children", bool)
        optional(props, "recursive", bool)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        watcher = find_watcher(arbiter, props["name"])
        signum = check_signal(props["signum"])
        pid = props.get("pid")
        pids = [pid] if pid is not None else sorted(watcher.processes)
        for pid in pids:
            if pid in watcher.processes:
                self._send(watcher, pid, signum, props)
        return None

    @staticmethod
    def _send(watcher, pid, signum, props):
        childpid = _child_pid(props)
        recursive = bool(props.get("recursive"))
        if childpid is not None:
            import psutil

            try:
                watcher.send_signal_child(pid, childpid, signum)
            except psutil.NoSuchProcess:
                raise MessageError("process %d is not a child of %d" % (childpid, pid)) from None
        elif props.get("children"):
            watcher.send_signal_children(pid, signum, recursive=recursive)
        elif recursive:
            # Descendants first: a process that dies of the signal takes the
            # list of its children with it, and they would be missed.
            watcher.send_signal_children(pid, signum, recursive=True)
            watcher.send_signal(pid, signum)
        else:
            watcher.send_signal(pid, signum)


def _child_pid(props):
    """The child to signal: ``childpid`` (what circusctl sends) or ``child_pid`` (the manual's name)."""
    childpid = props.get("childpid")
    return props.get("child_pid") if childpid is None else childpid
