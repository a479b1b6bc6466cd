"""The daemons page of the console: several circusd side by side.

``circushttpd --endpoint A --endpoint B`` connects the console to the first
(the pages that act on watchers are about that one) and shows at
``/daemons`` the watchers of every one of them, each with its status. Every
daemon is asked at the same time, each on a socket of its own with the
console's timeout: one that does not answer is shown as unreachable and
never delays the others more than that timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Sequence

from circus.client import AsyncCircusClient
from circus.exc import CallError
from circus.web.views import BaseHandler


async def survey(endpoints: Sequence[str], timeout: float,
                 ssh_server: Optional[str] = None,
                 keys: Optional[Dict[str, Optional[str]]] = None) -> List[Dict[str, Any]]:
    """``[{"endpoint", "error", "watchers": [(name, status)]}]`` in the order of ``endpoints``."""

    async def one(endpoint: str) -> Dict[str, Any]:
        found: Dict[str, Any] = {"endpoint": endpoint, "error": None, "watchers": []}
        try:
            keys_ = keys or {}
            client = AsyncCircusClient(endpoint=endpoint, timeout=timeout, ssh_server=ssh_server,
                                       curve_key=keys_.get("curve_key"), server_key=keys_.get("server_key"))
        except CallError as exc:  # a malformed endpoint
            found["error"] = str(exc)
            return found
        try:
            reply = await client.send_message("status")
        except CallError as exc:
            found["error"] = "unreachable (%s)" % exc
            return found
        finally:
            client.stop()
        if reply.get("status") != "ok":
            found["error"] = "error: %s" % reply.get("reason")
        else:
            found["watchers"] = sorted(reply.get("statuses", {}).items())
        return found

    return list(await asyncio.gather(*(one(endpoint) for endpoint in endpoints)))


class DaemonsHandler(BaseHandler):
    """GET /daemons: every endpoint's watchers, side by side."""

    async def get(self) -> None:
        daemons = await survey(self.settings["endpoints"], self.controller.timeout,
                               self.controller.ssh_server, self.controller.keys)
        self.render("daemons.html", daemons=daemons)
