"""The shapes of the parts users plug into a watcher: streams and hooks.

For type checkers only: circusd never checks a stream or a hook against these
(any callable of the right shape works), so they are not ``runtime_checkable``.
A plugin or a hooks module can annotate with them::

    from circus.interfaces import Hook, StreamEntry

    class Tail:
        def __call__(self, entry: StreamEntry) -> None: ...

    def check_disk(watcher, arbiter, hook_name, **kwargs) -> bool: ...

    hook: Hook = check_disk
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

__all__ = ["StreamEntry", "Stream", "ManagedStream", "Hook"]


class StreamEntry(TypedDict):
    """One chunk read from a process's pipe, as the redirector hands it over."""

    data: bytes
    pid: int
    name: Literal["stdout", "stderr"]


class Stream(Protocol):
    """Where a watcher's stdout or stderr goes: called once per chunk, in the
    order the chunks were read; an exception is logged and the chunk is lost.
    """

    def __call__(self, entry: StreamEntry, /) -> None: ...


class ManagedStream(Stream, Protocol):
    """A stream that holds a resource: ``open()`` when its watcher starts,
    ``close()`` when it is stopped (or the stream is replaced by ``set``).

    The watcher calls either method only if the stream has it, so a plain
    :class:`Stream` is enough for one that holds nothing (``StdoutStream``).
    """

    def open(self) -> None: ...

    def close(self) -> None: ...


class Hook(Protocol):
    """A hook: called with keyword arguments only, while circusd waits for it.

    ``arbiter`` is None for a watcher that no arbiter owns.
    ``kwargs`` holds the moment's extras (``pid``, ``signum``, ``stats``...,
    see the hooks page of the docs).  The result is used as it is: falsy,
    ``None`` included, is a refusal for the moments whose result matters.
    """

    def __call__(
        self, *, watcher: Watcher, arbiter: Arbiter | None, hook_name: str, **kwargs: Any
    ) -> bool | None: ...
