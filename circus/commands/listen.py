"""listen: follow circusd's events (a pub/sub matter, not a request)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from circus.commands import Command
from circus.exc import MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Listen(Command):
    """Subscribe to watcher events

    Events are not requests: they are published on circusd's
    ``pubsub_endpoint``. Sent to the control endpoint, this command is
    refused with ``invalid message. use a pub/sub socket``.

    ZMQ
    ---

    Connect a SUB socket to the ``pubsub_endpoint`` and subscribe to topic
    prefixes such as ``watcher.`` (everything) or ``watcher.web.spawn``. Each
    event is two frames: the topic ``watcher.<name>.<event>`` and a JSON
    object.

    Command line
    ------------

    ::

        $ circusctl listen [<topic> ...]

    Prints ``<topic>: <json>`` for every event as it arrives, until
    interrupted. ``--endpoint`` gives the pub/sub endpoint (default
    ``tcp://127.0.0.1:5556``).
    """

    name = "listen"
    readonly = True
    usage = "[<topic> ...]"

    def message(self, *topics: str, **opts: Any) -> dict:
        """The topics to subscribe to (not a request: see circusctl)."""
        return self.make_message(topics=list(topics) or [""])

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        raise MessageError("invalid message. use a pub/sub socket")
