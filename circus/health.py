"""Is circusd ready? The one answer ``/readyz`` (and anything else) asks for.

Ready means every autostart watcher is active. Readiness probes of the
watchers (``circus.readiness``) will add their verdict here, in this one
function, so that every caller gets the same answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circus.arbiter import Arbiter


def not_ready(arbiter: Arbiter) -> dict[str, str]:
    """``{watcher name: why it is not ready}``; empty when circusd is ready."""
    return {
        watcher.name: "watcher is %s" % watcher.status()
        for watcher in arbiter.iter_watchers()
        if watcher.autostart and not watcher.is_active()
    }
