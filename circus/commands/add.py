"""add: a new watcher, started or not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import (
    WAITING,
    Command,
    Flag,
    check_owner,
    check_watcher_options,
    optional,
    required,
)
from circus.exc import AlreadyExist, ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Add(Command):
    """Add a watcher

    The new watcher is stopped unless ``start`` is true.

    ZMQ message
    -----------

    ::

        {"command": "add",
         "properties": {"name": "<name>", "cmd": "<command line>",
                        "args": ["--arg", "..."], "options": {},
                        "start": false, "waiting": false}}

    ``args`` (a string or a list of strings) and ``options`` are optional.
    ``options`` takes the watcher keys ``set`` accepts (``numprocesses``,
    ``env``, ``uid``, ``stdout_stream``, ``hooks``, ``rlimit_*``...), with
    JSON values of the right type. A name already used (in any case) is
    refused. When circusd has an ``endpoint_owner``, ``options.uid`` must
    be that user. With ``start`` and ``waiting`` the reply has ``started``
    and ``kept`` (pids).

    Command line
    ------------

    ::

        $ circusctl add [--start] [--waiting] <name> <cmd> [<word> ...]

    The words after the name form the command line; put ``--`` before them
    when they start with a dash.
    """

    name = "add"
    properties = ("name", "cmd")
    options = (Flag("start", "start the watcher at once"), WAITING)
    waiting = True
    usage = "<name> <cmd> [<word> ...]"

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) < 2:
            raise ArgumentError("Invalid number of arguments")
        return self.make_message(
            name=args[0],
            cmd=" ".join(args[1:]),
            start=bool(opts.get("start")),
            waiting=opts.get("waiting"),
        )

    def validate(self, props: dict) -> None:
        super().validate(props)
        if not required(props, "name", str).strip():
            raise MessageError("message invalid: 'name' must not be empty")
        check_watcher_options({"cmd": props["cmd"]})
        if props.get("args") is not None:
            check_watcher_options({"args": props["args"]})
        check_watcher_options(optional(props, "options", dict, default={}))
        optional(props, "start", bool)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        name = props["name"]
        try:
            arbiter.get_watcher(name)
        except KeyError:
            pass
        else:
            raise AlreadyExist("watcher %r already exists" % name)
        options = props.get("options") or {}
        check_owner(arbiter, options.get("uid"))
        from circus import options as option_table

        # Dotted keys (hooks.NAME, stdout_stream.KEY) join their family, so
        # that the watcher imports the hooks and builds the streams: one that
        # cannot be loaded refuses the add, as it refuses a set.
        kwargs = option_table.fold(check_watcher_options(options))
        kwargs.pop("cmd", None)
        if props.get("args") is not None:
            kwargs["args"] = props["args"]
        try:
            watcher = arbiter.new_watcher(name, props["cmd"], **kwargs)
        except ValueError as error:
            raise MessageError(str(error)) from None
        return arbiter.add(watcher, start=bool(props.get("start")))
