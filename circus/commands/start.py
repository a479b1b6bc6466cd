"""start: start watchers (all, one, or those matching a pattern)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from circus.commands import MATCH, WAITING, OptionalNameCommand, as_key, discard, match_watchers, optional
from circus.exc import MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome
    from circus.watcher import Watcher


class Start(OptionalNameCommand):
    """Start the arbiter or a watcher

    ZMQ message
    -----------

    ::

        {"command": "start",
         "properties": {"name": "<name>", "match": "glob", "waiting": false}}

    Without ``name`` every watcher with ``autostart`` is started, in
    priority order. With it,
    the watchers whose name matches: ``match`` is ``glob`` (the default,
    ``web*``), ``regex`` or ``simple`` (the exact name). With ``waiting``
    the reply comes once they run; when a single watcher matched, it has
    ``info``: ``{"started": [pids], "kept": [pids]}``.

    Command line
    ------------

    ::

        $ circusctl start [<name>] [--match simple|glob|regex] [--waiting]
    """

    name = "start"
    options = (MATCH, WAITING)
    waiting = True

    def flag_props(self, named: bool, opts: dict) -> dict:
        return {"match": opts.get("match") if named else None, "waiting": opts.get("waiting")}

    def validate(self, props: dict) -> None:
        super().validate(props)
        if optional(props, "match", str, default="glob") not in ("simple", "glob", "regex"):
            raise MessageError("unknown match method %s" % props["match"])

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        if not props.get("name"):
            return discard(self.act_on_all(arbiter))
        watchers = match_watchers(arbiter, props["name"], props.get("match") or "glob")
        if len(watchers) == 1:
            return as_key("info", self.act(watchers[0]))
        import asyncio

        return discard(asyncio.gather(*(self.act(w) for w in watchers)))

    def act(self, watcher: Watcher) -> Awaitable[Any]:
        """The coroutine that applies this command to one watcher."""
        return watcher.start()

    def act_on_all(self, arbiter: Arbiter) -> Awaitable[Any]:
        """The coroutine that applies this command to the whole arbiter."""
        return arbiter.start_watchers()
