"""An upgrade keeps the piped output of a watcher without streams flowing, to circusd's stdout and to
the log ring, and the ring keeps the lines from before it."""

import re
import subprocess
import sys

import pytest

from helpers import python, repo_env, until
from test_upgrade import upgrade

TICKER = python("""
import itertools, time
for i in itertools.count():
    print("tick %d" % i, flush=True)
    time.sleep(0.05)
""")


def ticks(text):
    return [int(n) for n in re.findall(r"^tick (\d+)$", text, re.M)]


def logged_ticks(daemon):
    """The ticks ``circusctl logs ticker`` prints."""
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.endpoint, "logs",
                           "ticker"], capture_output=True, text=True, env=repo_env(), timeout=30)
    assert done.returncode == 0, done.stderr
    return [int(n) for n in re.findall(r"stdout: tick (\d+)$", done.stdout, re.M)]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["circusctl", "SIGUSR2"])
def test_lines_printed_after_an_upgrade_reach_circusctl_logs_and_circusd_stdout(circusd, how):
    daemon = circusd()
    daemon.write_ini("[watcher:ticker]\ncmd = %s\n" % TICKER)
    daemon.start().wait_answering()
    until(lambda: len(logged_ticks(daemon)) > 3, timeout=15, what="ticks in the ring")
    upgrade(daemon, how)
    last = max(ticks(daemon.stdout()))
    until(lambda: max(logged_ticks(daemon)) > last + 5, timeout=15,
          what=lambda: "ticks after %d in the ring, have %s" % (last, logged_ticks(daemon)))
    logged = logged_ticks(daemon)
    assert logged == list(range(len(logged))), "the ring kept the lines before the upgrade, and lost none"
    until(lambda: max(ticks(daemon.stdout())) > last + 5, timeout=15, what="ticks on circusd's stdout")
    seen = ticks(daemon.stdout())
    assert seen == list(range(len(seen))), "no line lost, none doubled, on circusd's stdout"
    assert "Traceback" not in daemon.log(), daemon.log()[-3000:]
    assert daemon.terminate() == 0, daemon.log()[-3000:]
