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
