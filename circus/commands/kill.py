"""kill: stop processes of a watcher, which replaces them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import (
    WAITING,
    Command,
    Flag,
    check_signal,
    discard,
    find_watcher,
    int_arg,
    optional,
    required,
)
from circus.exc import ArgumentError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Kill(Command):
    """Kill a process

    Stops one process of a watcher (or all of them) the way the watcher
    stops processes: its ``stop_signal`` (or ``signum``), then SIGKILL after
    ``graceful_timeout`` seconds. The watcher then replaces them, as after
    any death.

    ZMQ message
    -----------

    ::

        {"command": "kill",
         "properties": {"name": "<name>", "pid": <pid>, "signum": <signum>,
                        "graceful_timeout": <seconds>, "waiting": false}}

    Only ``name`` is required. A ``pid`` that is not one of the watcher's
    processes is ignored. With ``waiting`` the reply comes once the
    processes are dead.

    Command line
    ------------

    ::

        $ circusctl kill <name> [<pid>] [--signum SIGNUM] [--graceful_timeout SECONDS] [--waiting]
    """

    name = "kill"
    properties = ("name",)
    options = (
        Flag("signum", "signal to send instead of the watcher's stop_signal", kind=str),
        Flag("graceful_timeout", "seconds before SIGKILL", kind=float),
        WAITING,
    )
    waiting = True
    usage = "<name> [<pid>]"

    def message(self, *args: str, **opts: Any) -> dict:
        if not 1 <= len(args) <= 2:
            raise ArgumentError("Invalid number of arguments")
        signum = opts.get("signum")
        if signum is not None and signum.isdigit():
            signum = int(signum)
        return self.make_message(
            name=args[0],
            pid=int_arg(args[1], "pid") if len(args) == 2 else None,
            signum=signum,
            graceful_timeout=opts.get("graceful_timeout"),
            waiting=opts.get("waiting"),
        )

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)
        optional(props, "pid", int)
        if props.get("signum") is not None:
            check_signal(optional(props, "signum", int, str))
        optional(props, "graceful_timeout", float)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        watcher = find_watcher(arbiter, props["name"])
        signum = props.get("signum")
        signum = None if signum is None else check_signal(signum)
        timeout = props.get("graceful_timeout")
        pid = props.get("pid")
        if pid is None:
            return discard(watcher.kill_processes(signum, timeout))
        process = watcher.processes.get(pid)
        if process is None:
            return None
        return discard(watcher.kill_process(process, signum, timeout))
