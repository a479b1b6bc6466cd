"""metrics: circusd's figures in the Prometheus text format, and what is not ready."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import Command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


async def _figures(arbiter):
    from circus.up import not_up
    from circus.metrics import exposition

    return {"metrics": await exposition(arbiter), "not_ready": not_up(arbiter)}


class Metrics(Command):
    """Get the Prometheus metrics and the readiness of circusd

    What ``metrics_endpoint`` serves at ``/metrics`` and ``/readyz``, through
    the control socket: ``circusd-stats --metrics`` serves it over HTTP.

    ZMQ message
    -----------

    ::

        {"command": "metrics"}

    The reply has ``metrics``, the text exposition (format 0.0.4), and
    ``not_ready``: ``{watcher: reason}`` of the autostart watchers that are
    not active (empty when circusd is ready).

    Command line
    ------------

    ::

        $ circusctl metrics

    Prints the text exposition.
    """

    name = "metrics"
    readonly = True

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        return _figures(arbiter)

    def console_msg(self, reply: dict) -> str:
        return reply.get("metrics", "").rstrip("\n")
