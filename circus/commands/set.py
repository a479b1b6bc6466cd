"""set: change options of a watcher while it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import (
    WAITING,
    Command,
    check_owner,
    check_watcher_options,
    discard,
    find_watcher,
    required,
)
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


def convert_value(key: str, text: str) -> Any:
    """The JSON value circusctl sends for ``set <name> <key> <text>`` (the table's ``cli`` column)."""
    from circus import options as table

    if table.lookup("watcher", key) is None:
        raise ArgumentError("unknown key %r" % key)
    try:
        return table.cli_value(key, text)
    except ValueError as error:
        raise ArgumentError("invalid value for %r: %s" % (key, error)) from None


class Set(Command):
    """Set a watcher option

    Options are applied together. What they need is done once: a change
    of the command, environment, user or limits restarts the processes
    gracefully; ``numprocesses`` starts or stops processes; other options
    (``graceful_timeout``, ``stop_signal``, streams, hooks...) take effect
    at once. Every changed key publishes an ``updated`` event.

    ZMQ message
    -----------

    ::

        {"command": "set",
         "properties": {"name": "<name>", "options": {"key": value},
                        "waiting": false}}

    Values are JSON values of the option's type (``"numprocesses": 3``,
    ``"env": {"A": "1"}``, ``"hooks": {"after_start": "mod.fn"}``). Keys
    that cannot change while circusd runs (``priority``, ``use_sockets``...)
    are refused, as are a hook that does not import and a stream that
    cannot be built (unknown class, bad options): then nothing changes.
    With ``waiting`` the reply comes once the change is applied.

    Command line
    ------------

    ::

        $ circusctl set <name> <key> <value> [<key> <value> ...] [--waiting]

    Values are written as in the configuration file; ``env`` as
    ``A=1,B=2`` and ``hooks`` as ``hook:dotted.path,hook2:dotted.path``.
    """

    name = "set"
    properties = ("name", "options")
    options = (WAITING,)
    waiting = True
    usage = "<name> <key> <value> [<key> <value> ...]"

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) < 3 or len(args) % 2 != 1:
            raise ArgumentError("Invalid number of arguments")
        pairs = zip(args[1::2], args[2::2])
        options = {key.lower(): convert_value(key.lower(), value) for key, value in pairs}
        return self.make_message(name=args[0], options=options, waiting=opts.get("waiting"))

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)
        if not required(props, "options", dict):
            raise MessageError("message invalid: 'options' is empty")
        check_watcher_options(props["options"])

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        watcher = find_watcher(arbiter, props["name"])
        if "uid" in props["options"]:
            check_owner(arbiter, props["options"]["uid"])
        if "depends_on" in props["options"]:
            from circus.depends import check_change

            try:
                check_change(arbiter.watchers, watcher.name, props["options"]["depends_on"])
            except ValueError as error:
                raise MessageError(str(error)) from None
        # Checked now, so that a hook that does not import or a stream that
        # cannot be built is an error reply, with or without waiting.
        plan = watcher.check_options(props["options"])
        from circus.rolling import apply_or_undo  # daemon side only: circusctl starts fast

        return discard(apply_or_undo(watcher, plan))
