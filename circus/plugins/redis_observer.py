"""RedisObserver: ping a redis server every ``loop_rate`` seconds; restart a watcher when it fails.

A check fails when the server cannot be reached or does not answer PING
within ``timeout`` seconds; the watcher named by ``restart_on_timeout``
(if any) is then restarted. Needs redis-py: ``pip install 'circus[redis]'``.
"""

import logging
from typing import Any, Sequence

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError:
    raise ImportError(
        "circus.plugins.redis_observer needs the redis package: pip install 'circus[redis]'"
    ) from None

from circus.plugins import CircusPlugin

logger = logging.getLogger("circus.plugins.redis_observer")


class RedisObserver(CircusPlugin):
    """Options: redis_url (redis://localhost:6379/0), loop_rate (60), timeout (5), restart_on_timeout."""

    name = "redis_observer"

    def configure(self, config: dict[str, Any]) -> None:
        self.redis_url = config.get("redis_url", "redis://localhost:6379/0")
        self.loop_rate = float(config.get("loop_rate", 60))
        self.timeout = float(config.get("timeout", 5))
        self.restart_on_timeout = config.get("restart_on_timeout") or None

    def handle_init(self) -> None:
        self.periodic(self.check, self.loop_rate)

    def handle_recv(self, data: Sequence[bytes]) -> None:
        """Events are not used."""

    async def check(self) -> bool:
        """One PING; returns True when the server answered in time."""
        # A fresh connection each time: a server that was stopped and
        # came back must not be judged through a dead pooled socket.
        client = aioredis.from_url(
            self.redis_url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            self.failed("%s: %s" % (self.redis_url, exc or type(exc).__name__))
            return False
        finally:
            await client.aclose()
        logger.debug("%s is fine", self.redis_url)
        return True

    def failed(self, why: str) -> None:
        if self.restart_on_timeout:
            logger.warning("check failed (%s), restarting %s", why, self.restart_on_timeout)
            self.cast("restart", name=self.restart_on_timeout)
        else:
            logger.warning("check failed (%s)", why)
