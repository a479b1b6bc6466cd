"""States of watchers and processes.

Standard library only, so that clients can import it without pulling in the
daemon. The enum values are the strings used on the wire.
"""

import enum


class WatcherState(str, enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    ACTIVE = "active"
    STOPPING = "stopping"

    def __str__(self):
        return self.value


# Allowed edges of the watcher state machine.
WATCHER_EDGES = {
    WatcherState.STOPPED: {WatcherState.STARTING},
    WatcherState.STARTING: {WatcherState.ACTIVE, WatcherState.STOPPING},
    WatcherState.ACTIVE: {WatcherState.STOPPING},
    WatcherState.STOPPING: {WatcherState.STOPPED},
}


class ProcessState(str, enum.Enum):
    RUNNING = "running"
    STOPPING = "stopping"  # stop signal sent, waiting for the exit
    EXITED = "exited"  # reaped; the return code is known

    def __str__(self):
        return self.value


PROCESS_EDGES = {
    ProcessState.RUNNING: {ProcessState.STOPPING, ProcessState.EXITED},
    ProcessState.STOPPING: {ProcessState.EXITED},
    ProcessState.EXITED: set(),
}


class TransitionError(RuntimeError):
    """An edge the state machine does not allow."""


def check_edge(edges, old, new):
    """Raise TransitionError unless ``old -> new`` is an allowed edge."""
    if new not in edges[old]:
        raise TransitionError("%s -> %s is not allowed" % (old, new))
