"""respawn_delay / respawn_delay_max through a real circusd: the gaps between
the spawns of a crash-looping worker grow, then stop growing; a process that
lives past min_uptime starts the backoff over; status and stats show it.

Spawn times come from the spawn events (their ``time``). Every gap is at least
the delay circusd waited (the lower bounds are tight); the upper bounds
only tell a capped backoff from an uncapped one, with seconds to spare for a
loaded machine.
"""

from helpers import SLEEPER, Subscriber, call, ok, python, start, until

# Counts its runs in a file; the runs listed in argv[2] live 1.5 s, the others exit 3 at once.
COUNTED = r"""
import os, sys, time
path = sys.argv[1]
with open(path, "a") as f:
    f.write("x")
if str(os.path.getsize(path)) in sys.argv[2].split(","):
    time.sleep(1.5)
sys.exit(3)
"""

SLACK = 0.05  # timers may fire this much early (event times are taken at spawn)


def crash_loop(circusd, cmd, respawn_delay_max):
    """A circusd with the stopped watcher ``crash``: ``cmd``, never given up, respawn_delay 0.2 s."""
    daemon = start(circusd, """
        [watcher:crash]
        cmd = %s
        autostart = false
        max_retry = -1
        respawn_delay = 0.2
        respawn_delay_max = %s
        """ % (cmd, respawn_delay_max), check_delay=30)
    return daemon.wait_answering()


def spawn_gaps(daemon, count, timeout=40):
    """Start the watcher ``crash``; the gaps between its first ``count`` spawns."""
    with Subscriber(daemon.pubsub_endpoint, prefix="watcher.crash.") as sub:
        sub.synchronise(lambda: call(daemon, "set", name="crash", options={"graceful_timeout": 1}),
                        topic="watcher.crash.updated")
        ok(call(daemon, "start", name="crash"))
        times = sub.spawn_times(count, timeout)
    assert len(times) == count, (times, daemon.log()[-2000:])
    return [later - earlier for earlier, later in zip(times, times[1:])]


def test_the_gaps_between_respawns_of_a_worker_that_exits_at_once_double_then_cap(circusd, workers):
    gaps = spawn_gaps(crash_loop(circusd, workers.cmd("crash", "exit=3"), 1), 7)
    for gap, delay in zip(gaps, [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]):
        assert gap >= delay - SLACK, gaps
    # Uncapped, the last two gaps would be 3.2 s and 6.4 s.
    assert max(gaps[-2:]) < 3.0, gaps


def test_a_process_that_lives_past_min_uptime_starts_the_backoff_over(circusd, tmp_path):
    # Runs 1-4 die at once (waits 0.2, 0.4, 0.8, 1.6 s), run 5 lives 1.5 s,
    # run 6 dies at once: the next wait is 0.2 s again, not 3.2 s.
    gaps = spawn_gaps(crash_loop(circusd, python(COUNTED, tmp_path / "runs", "5"), 10), 7)
    for gap, delay in zip(gaps, [0.2, 0.4, 0.8, 1.6, 1.5]):
        assert gap >= delay - SLACK, gaps
    assert gaps[5] < 2.0, gaps


def test_status_and_stats_show_the_current_backoff_only_with_respawn_delay(circusd, workers):
    daemon = start(circusd, """
        [watcher:crash]
        cmd = %s
        max_retry = -1
        respawn_delay = 0.2
        respawn_delay_max = 0.3

        [watcher:calm]
        cmd = %s
        """ % (workers.cmd("crash", "exit=3"), SLEEPER), check_delay=30)
    daemon.wait_answering()
    until(lambda: call(daemon, "status", name="crash").get("respawn_backoff") == 0.3, 20,
          what=lambda: "a backoff of 0.3 s in status: %s" % call(daemon, "status", name="crash"))
    assert call(daemon, "stats", name="crash")["respawn_backoff"] == 0.3
    calm = call(daemon, "status", name="calm")
    assert sorted(calm) == ["id", "status", "time"], calm
    assert "respawn_backoff" not in call(daemon, "stats", name="calm")
