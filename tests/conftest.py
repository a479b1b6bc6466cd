"""Fixtures shared by every test directory.

``tracker``   records every descendant of this test process and of each
              circusd it starts; at teardown anything still alive is killed
              (by process group, waiting until it is dead) and the test fails,
              naming the leftovers.
``workers``   the worker script in the test's temp dir (see helpers.Workers).
``circusd``   factory of Circusd objects, closed (SIGTERM, then SIGKILL of the
              group, waiting until it is empty) at teardown.
"""

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
for path in (str(TESTS.parent), str(TESTS)):
    if path not in sys.path:
        sys.path.insert(0, path)

from helpers import Circusd, ProcessTracker, Workers, until  # noqa: E402


@pytest.fixture
def tracker():
    tracker = ProcessTracker()
    tracker.add_root(os.getpid())
    yield tracker
    tracker.sample()
    tracker.stop()
    # Children of an in-process arbiter may need a moment to be reaped.
    try:
        until(lambda: not tracker.leftovers(), timeout=3, what="no leftover process")
    except AssertionError:
        left = tracker.leftovers()
        tracker.kill_leftovers()
        pytest.fail("processes left behind by the test: %s" % left)


@pytest.fixture
def workers(tmp_path):
    return Workers(tmp_path)


@pytest.fixture
def circusd(tmp_path, tracker):
    """Factory: ``circusd(env=None, directory=None) -> Circusd`` (not started)."""
    made = []

    def make(env=None, directory=None):
        directory = Path(directory or tmp_path)
        directory.mkdir(parents=True, exist_ok=True)
        daemon = Circusd(directory, tracker, env=env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()
