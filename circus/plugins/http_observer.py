"""HttpObserver: check a URL every ``loop_rate`` seconds; restart a watcher when it fails.

A check fails when the request cannot connect, takes more than ``timeout``
seconds, or answers with a status of 400 or more. On failure the watcher
named by ``restart_on_error`` (if any) is restarted.
"""

import logging
from typing import Any, Sequence

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from circus.plugins import CircusPlugin

logger = logging.getLogger("circus.plugins.http_observer")


class HttpObserver(CircusPlugin):
    """Options: check_url, loop_rate (60), timeout (10), restart_on_error."""

    name = "http_observer"

    def configure(self, config: dict[str, Any]) -> None:
        self.check_url = config.get("check_url", "http://localhost/")
        self.loop_rate = float(config.get("loop_rate", 60))
        self.timeout = float(config.get("timeout", 10))
        self.restart_on_error = config.get("restart_on_error") or None

    def handle_init(self) -> None:
        self.periodic(self.check, self.loop_rate)

    def handle_recv(self, data: Sequence[bytes]) -> None:
        """Events are not used."""

    async def check(self) -> bool:
        """One check of ``check_url``; returns True when it answered well."""
        client = AsyncHTTPClient()
        try:
            await client.fetch(self.check_url, request_timeout=self.timeout, connect_timeout=self.timeout)
        except HTTPClientError as exc:
            self.failed("%s answered %s" % (self.check_url, exc))
            return False
        except Exception as exc:  # connection refused, DNS, timeout...
            self.failed("%s: %s" % (self.check_url, exc or type(exc).__name__))
            return False
        logger.debug("%s is fine", self.check_url)
        return True

    def failed(self, why: str) -> None:
        if self.restart_on_error:
            logger.warning("check failed (%s), restarting %s", why, self.restart_on_error)
            self.cast("restart", name=self.restart_on_error)
        else:
            logger.warning("check failed (%s)", why)
