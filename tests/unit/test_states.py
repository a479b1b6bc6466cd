"""The state machines of watchers and processes: every edge, allowed or not."""

import itertools

import pytest

from circus.states import (
    PROCESS_EDGES,
    WATCHER_EDGES,
    ProcessState,
    TransitionError,
    WatcherState,
    check_edge,
)

WATCHER_ALLOWED = {
    (WatcherState.STOPPED, WatcherState.STARTING),
    (WatcherState.STARTING, WatcherState.ACTIVE),
    (WatcherState.STARTING, WatcherState.STOPPING),
    (WatcherState.ACTIVE, WatcherState.STOPPING),
    (WatcherState.STOPPING, WatcherState.STOPPED),
}
PROCESS_ALLOWED = {
    (ProcessState.RUNNING, ProcessState.STOPPING),
    (ProcessState.RUNNING, ProcessState.EXITED),
    (ProcessState.STOPPING, ProcessState.EXITED),
}


@pytest.mark.parametrize("old,new", sorted(WATCHER_ALLOWED))
def test_an_allowed_watcher_edge_passes(old, new):
    check_edge(WATCHER_EDGES, old, new)


@pytest.mark.parametrize(
    "old,new",
    sorted(set(itertools.product(WatcherState, repeat=2)) - WATCHER_ALLOWED),
)
def test_any_other_watcher_edge_is_refused(old, new):
    with pytest.raises(TransitionError):
        check_edge(WATCHER_EDGES, old, new)


@pytest.mark.parametrize("old,new", sorted(PROCESS_ALLOWED))
def test_an_allowed_process_edge_passes(old, new):
    check_edge(PROCESS_EDGES, old, new)


@pytest.mark.parametrize(
    "old,new",
    sorted(set(itertools.product(ProcessState, repeat=2)) - PROCESS_ALLOWED),
)
def test_any_other_process_edge_is_refused(old, new):
    with pytest.raises(TransitionError):
        check_edge(PROCESS_EDGES, old, new)


def test_states_are_their_wire_strings():
    assert [str(s) for s in WatcherState] == ["stopped", "starting", "active", "stopping"]
    assert WatcherState("active") is WatcherState.ACTIVE
