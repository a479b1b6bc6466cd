"""Background tasks with an owner.

The event loop keeps only weak references to tasks: a task whose result is
dropped may be collected mid-flight, and nobody cancels it when its owner
stops. Every background task of circus is started through a
:class:`TaskSet`, which keeps it until it ends, logs an exception nobody
awaited, and cancels what is left when its owner stops.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine, Optional, Set

logger = logging.getLogger("circus.tasks")


class TaskSet:
    """The running background tasks of one owner (an arbiter, a watcher)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: Set["asyncio.Task[Any]"] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: Optional[str] = None) -> "asyncio.Task[Any]":
        """Run ``coro`` in the background; the task is kept until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("%s: background task %s failed", self.owner, task.get_name(),
                         exc_info=(type(exc), exc, exc.__traceback__))

    def __len__(self) -> int:
        return len(self._tasks)

    def cancel(self) -> "list[asyncio.Task[Any]]":
        """Cancel every task but the caller's, without waiting; the tasks cancelled.

        For an owner whose stop cannot wait (a synchronous ``stop()``).
        """
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        return others

    async def cancel_all(self) -> None:
        """Cancel every task but the caller's, and wait until they have ended."""
        others = self.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)
