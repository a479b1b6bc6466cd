"""An arbiter running its own event loop in a background thread.

Importable as ``circus.arbiter.ThreadedArbiter`` too, where the manual and
Circus programs look for it.
"""

import asyncio
import threading
from typing import Any, Awaitable, Callable

from circus.arbiter import Arbiter


class ThreadedArbiter(Arbiter):
    """An arbiter running its own event loop in a background thread.

    ``start()`` returns once every watcher is started (or raises what the
    start raised); ``stop()`` may be called from any thread and returns once
    everything is stopped.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, cb: Callable[..., Any] | None = None) -> None:
        self._thread = threading.Thread(target=self._thread_main, args=(cb,), daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def _thread_main(self, cb):
        asyncio.run(self._thread_run(cb))

    async def _thread_run(self, cb):
        self._stopped = asyncio.Event()
        try:
            await self._start(cb)
        except BaseException as exc:
            self._error = exc
            await self._emergency_stop()
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()

    def stop(self) -> Awaitable[None] | None:
        """As :meth:`Arbiter.stop`; from another thread, also wait for the thread to end."""
        outcome = super().stop()
        if outcome is None and threading.current_thread() is not self._thread:
            self.join()
        return outcome

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
