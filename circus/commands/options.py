"""options: every option of a watcher with its value."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import Command, find_watcher, required

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


def format_value(value: object) -> str:
    """How circusctl shows an option value: None empty, mappings as ``K=V,K2=V2``."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ",".join("%s=%s" % (k, format_value(value[k])) for k in sorted(value))
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


class Options(Command):
    """Get the value of every option of a watcher

    Freeform keys of the watcher's section (``flapping.max_retry``,
    ``custom_opt``...) are listed too.

    ZMQ message
    -----------

    ::

        {"command": "options", "properties": {"name": "<name>"}}

    The reply has ``options``: ``{option: value}``.

    Command line
    ------------

    ::

        $ circusctl options <name>

    Prints one ``key: value`` line per option, sorted by key. ``env`` is
    shown as ``NAME=value,NAME2=value2``.
    """

    name = "options"
    readonly = True
    properties = ("name",)
    usage = "<name>"

    def validate(self, props: dict) -> None:
        super().validate(props)
        required(props, "name", str)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        return {"options": dict(find_watcher(arbiter, props["name"]).options())}

    def console_msg(self, reply: dict) -> str:
        options = reply.get("options", {})
        return "\n".join("%s: %s" % (key, format_value(options[key])) for key in sorted(options))
