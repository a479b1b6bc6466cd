"""``depends_on``: the order watchers start in (and stop in, reversed).

A watcher starts only once the watchers it depends on are active (and ready,
where readiness is configured); it stops before them. Unknown names and
cycles are configuration errors, raised as ``DependencyError`` (a
``ValueError``) with a message that names the watchers involved.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from circus import options
from circus.up import wait_until_up
from circus.states import ProcessState

logger = logging.getLogger("circus.arbiter")


class DependencyError(ValueError):
    """An unknown name or a cycle in ``depends_on``; ``watcher`` is the one whose key is wrong."""

    def __init__(self, message: str, watcher: str):
        super().__init__(message)
        self.watcher = watcher


def start_order(depends: Mapping[str, Sequence[str]]) -> List[str]:
    """The watchers of ``{watcher: [deps]}``, each after what it depends on.

    Watchers keep their given order where dependencies allow it, so a
    configuration without ``depends_on`` starts as it always did.
    """
    known = {name.lower(): name for name in depends}
    for name, deps in depends.items():
        for dep in deps:
            if dep.lower() not in known:
                raise DependencyError("watcher %r depends on %r, which is not a watcher" % (name, dep), name)
            if dep.lower() == name.lower():
                raise DependencyError("watcher %r depends on itself" % name, name)
    order: List[str] = []
    state: Dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, path: List[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise DependencyError("depends_on cycle: %s" % " -> ".join(cycle), name)
        state[name] = "visiting"
        for dep in depends[name]:
            visit(known[dep.lower()], path + [name])
        state[name] = "done"
        order.append(name)

    for name in depends:
        visit(name, [])
    return order


def names(depends_on) -> List[str]:
    """A ``depends_on`` value (a list, ``'db, cache'`` from Python code, or None) as a list of names."""
    option = options.lookup("watcher", "depends_on")
    assert option is not None  # a row of the table
    return option.check(depends_on) or []


def dependencies(watcher) -> List[str]:
    """The names in the ``depends_on`` of ``watcher`` (unset: none)."""
    return names(watcher.depends_on)


def check_change(watchers: Iterable, name: str, depends_on: Optional[Sequence[str]]) -> None:
    """Raise ``ValueError`` unless watcher ``name`` (new, or one of
    ``watchers``) may depend on ``depends_on``: every name known, no cycle."""
    graph = {w.name: dependencies(w) for w in watchers if w.name.lower() != name.lower()}
    graph[name] = names(depends_on)
    start_order(graph)


def _runtime_order(watchers: Sequence) -> tuple[list, Dict[str, list]]:
    """``watchers`` in start order and ``{name: [the watchers it depends on]}``.

    Checked when they were configured; a dependency removed since (``rm``)
    is no longer waited for, and a cycle made through the Python API is
    logged and ignored rather than leaving every watcher stopped.
    """
    by_name = {w.name.lower(): w for w in watchers}
    graph = {w.name: [d for d in dependencies(w) if d.lower() in by_name] for w in watchers}
    try:
        ordered = start_order(graph)
    except ValueError as error:
        logger.error("%s: starting by priority only", error)
        return list(watchers), {w.name: [] for w in watchers}
    return ([by_name[n.lower()] for n in ordered],
            {n: [by_name[d.lower()] for d in deps] for n, deps in graph.items()})


async def start_in_order(watchers: Sequence, start: Callable[[Any], Awaitable],
                         stopping: Callable[[], bool]) -> None:
    """``await start(w)`` for each of ``watchers``, each after the watchers it depends on are up.

    The watchers without ``depends_on`` start one after the other, in the
    given order, as they always did; each dependant waits in a task of
    its own, so a slow dependency delays only its dependants. A dependant
    whose dependency does not come up is not started. Once ``stopping()``
    is true nothing more starts.
    """
    order, graph = _runtime_order(watchers)
    done = {w.name: asyncio.Event() for w in order}

    async def start_one(watcher):
        try:
            if not stopping():
                await start(watcher)
        finally:
            done[watcher.name].set()

    async def after_dependencies(watcher):
        for dep in graph[watcher.name]:
            await done[dep.name].wait()
            if not await wait_until_up(dep, stopping):
                if not stopping():
                    logger.error("%s: not started: %s, which it depends on, is %s",
                                 watcher.name, dep.name, dep.status())
                done[watcher.name].set()
                return
        await start_one(watcher)

    async def independent():
        for watcher in order:
            if not graph[watcher.name]:
                await start_one(watcher)

    tasks = [asyncio.ensure_future(c) for c in
             (independent(), *(after_dependencies(w) for w in order if graph[w.name]))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # A start that failed: the dependants waiting for it must not wait forever.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def stop_in_order(watchers: Sequence, stop: Callable[[Any], Awaitable]) -> None:
    """``await stop(w)`` for each of ``watchers`` (given highest priority first):
    lowest priority first, equal priorities together, and dependants before
    the watchers they depend on, whatever their priorities."""
    order, graph = _runtime_order(watchers)
    order.reverse()
    done = {w.name: asyncio.Event() for w in order}

    async def stop_one(index, watcher):
        try:
            for earlier in order[:index]:
                if watcher in graph[earlier.name] or earlier.priority < watcher.priority:
                    await done[earlier.name].wait()
            await stop(watcher)
        finally:
            done[watcher.name].set()

    await asyncio.gather(*(stop_one(i, w) for i, w in enumerate(order)))
