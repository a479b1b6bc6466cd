"""depends_on ordering: dependencies first, the given order otherwise, and
clear errors for unknown names and cycles."""

import pytest
from hypothesis import given, strategies as st

from circus.depends import start_order


def test_no_dependencies_keeps_the_given_order():
    assert start_order({"web": [], "db": [], "cache": []}) == ["web", "db", "cache"]


def test_dependencies_come_first():
    order = start_order({"web": ["db", "cache"], "worker": ["db"], "db": [], "cache": []})
    assert order == ["db", "cache", "web", "worker"]


def test_names_are_case_insensitive():
    assert start_order({"web": ["DB"], "db": []}) == ["db", "web"]


@pytest.mark.parametrize("depends, message", [
    ({"web": ["nope"]}, "watcher 'web' depends on 'nope', which is not a watcher"),
    ({"web": ["web"]}, "watcher 'web' depends on itself"),
    ({"a": ["b"], "b": ["c"], "c": ["a"]}, "depends_on cycle: a -> b -> c -> a"),
])
def test_errors(depends, message):
    with pytest.raises(ValueError) as err:
        start_order(depends)
    assert str(err.value) == message


names = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@given(st.dictionaries(names, st.lists(names, max_size=3)))
def test_any_acyclic_graph_orders_every_watcher_after_its_dependencies(graph):
    # Keep only edges to earlier names: acyclic by construction.
    keys = sorted(graph)
    depends = {k: [d for d in graph[k] if d in keys and d < k] for k in keys}
    order = start_order(depends)
    assert sorted(order) == keys
    for name, deps in depends.items():
        for dep in deps:
            assert order.index(dep) < order.index(name)


# -- stop order of the arbiter --------------------------------------------------

import asyncio  # noqa: E402

from circus.depends import check_change, stop_in_order  # noqa: E402


class Fake:
    def __init__(self, name, priority=0, depends_on=None):
        self.name, self.priority, self.depends_on = name, priority, depends_on


def stop_log(watchers):
    """``[(event, name)]`` of stops run by stop_in_order (given highest priority first)."""
    log = []

    async def stop(watcher):
        log.append(("begin", watcher.name))
        await asyncio.sleep(0.01)
        log.append(("end", watcher.name))

    ordered = sorted(watchers, key=lambda w: w.priority, reverse=True)
    asyncio.run(stop_in_order(ordered, stop))
    return log


def test_without_depends_on_lower_priorities_stop_first_and_equal_ones_together():
    log = stop_log([Fake("a", 1), Fake("b", 1), Fake("low", 0)])
    assert log[:2] == [("begin", "low"), ("end", "low")]
    assert {e for e, _ in log[2:4]} == {"begin"}, log


def test_a_dependant_stops_before_its_dependency_whatever_their_priorities():
    log = stop_log([Fake("db", 0), Fake("web", 10, ["db"]), Fake("other", 5)])
    assert log.index(("end", "web")) < log.index(("begin", "db")), log


def test_check_change_takes_the_new_value_in_place_of_the_old_one():
    watchers = [Fake("db", depends_on=["cache"]), Fake("cache"), Fake("web", depends_on=["DB"])]
    check_change(watchers, "db", [])
    check_change(watchers, "new", "web, cache")
    with pytest.raises(ValueError, match="depends_on cycle: "):
        check_change(watchers, "cache", ["web"])


def test_a_start_that_fails_leaves_no_dependant_waiting():
    from circus.depends import start_in_order

    async def start(watcher):
        if watcher.name == "a":
            raise RuntimeError("a cannot start")

    async def run():
        watchers = [Fake("a"), Fake("b"), Fake("c", depends_on=["b"])]
        with pytest.raises(RuntimeError, match="a cannot start"):
            async with asyncio.timeout(5):  # not a hang, should it fail
                await start_in_order(watchers, start, lambda: False)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(run()) == []
