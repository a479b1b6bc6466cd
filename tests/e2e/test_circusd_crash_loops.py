"""circusd tells failed starts from deaths: respawn, max_retry, min_uptime, kill storms."""

import os
import random
import re
import signal
import time

import pytest

from helpers import Subscriber, call, python, start, until

# Counts its runs in a file; the runs listed in argv[2] live 1.5 s, the others exit 3 at once.
COUNTED = r"""
import os, sys, time
path = sys.argv[1]
with open(path, "a") as f:
    f.write("x")
run = os.path.getsize(path)
if str(run) in sys.argv[2].split(","):
    time.sleep(1.5)
sys.exit(3)
"""


def status(daemon, name):
    return call(daemon, "status", name=name)["status"]


def started(daemon, name):
    """How many processes of ``name`` circusd logged as started."""
    return len(re.findall(r"\b%s\[\d+\] started \(wid" % re.escape(name), daemon.log()))


def test_respawn_false_never_brings_a_killed_process_back_not_even_at_the_periodic_check(circusd, workers):
    daemon = start(circusd, """
        [watcher:once]
        cmd = %s
        numprocesses = 2
        respawn = false
        """ % workers.cmd("once"), check_delay=0.1)
    victim, survivor = daemon.wait_pids("once", 2)
    workers.wait_reports("once", 2)
    os.kill(victim, signal.SIGKILL)
    until(lambda: daemon.pids("once") == [survivor], 5, what="the victim gone")
    time.sleep(1.5)  # fifteen periodic checks; not a synchronisation
    assert daemon.pids("once") == [survivor]
    assert len(workers.reports("once")) == 2
    assert status(daemon, "once") == "active"


@pytest.mark.parametrize("numprocesses", [1, 3])
def test_max_retry_failed_starts_in_a_row_stop_the_watcher_and_the_others_carry_on(circusd, workers, numprocesses):
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        max_retry = 3
        numprocesses = %d

        [watcher:good]
        cmd = %s
        """ % (workers.cmd("web", "exit=3"), numprocesses, workers.cmd("good")), check_delay=0.2)
    daemon.wait_log(r"web: 3 starts in a row failed \(exit status 3 within 1 s\); stopping")
    until(lambda: status(daemon, "web") == "stopped", 5, what="web stopped")
    spawned = started(daemon, "web")
    # The third failed start stops it; with 3 processes the first two
    # deaths were already replaced.
    assert spawned == 3 if numprocesses == 1 else 3 <= spawned <= 5
    time.sleep(0.5)  # more than enough for another spawn; not a synchronisation
    assert started(daemon, "web") == spawned
    if numprocesses == 1:
        assert len(workers.reports("web")) == 3
    assert status(daemon, "good") == "active" and len(daemon.pids("good")) == 1
    assert daemon.log().count("starts in a row failed") == 1
    assert daemon.alive()
    assert "Traceback" not in daemon.log()


def test_a_process_that_outlives_min_uptime_resets_the_failed_start_count(circusd, tmp_path):
    # Runs 3, 6 and 9 live 1.5 s: never three quick deaths in a row.
    counter = tmp_path / "runs"
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        max_retry = 3
        min_uptime = 0.5
        """ % python(COUNTED, counter, "3,6,9,12"), check_delay=30)
    until(lambda: counter.exists() and counter.stat().st_size >= 8, 20,
          what="eight runs; log:\n%s" % daemon.log()[-2000:])
    assert status(daemon, "web") == "active"
    assert "starts in a row failed" not in daemon.log()


def test_max_retry_minus_1_never_gives_up_and_the_slot_delay_grows_in_stats(circusd, tmp_path):
    # Each run lives 0.3 s (visible in stats) and is a failed start (min_uptime 1).
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        max_retry = -1
        """ % python("import sys, time\ntime.sleep(0.3)\nsys.exit(3)"), check_delay=30)

    def delay():
        info = call(daemon, "stats", name="web").get("info") or {}
        return max([i["respawn_delay"] for i in info.values() if isinstance(i, dict)], default=0)

    until(lambda: delay() >= 0.2, 20, what="a respawn delay grown to 0.2 s; log:\n%s" % daemon.log()[-2000:])
    assert status(daemon, "web") == "active"
    log = daemon.log()
    assert len(re.findall(r"web: wid 1 keeps failing to start \(exit status 3 within 1 s\)", log)) == 1


def sleepers(daemon):
    """Live /bin/sleep children of circusd, read from /proc (fast enough for a storm)."""
    found = []
    for task in os.listdir("/proc/%d/task" % daemon.pid):
        with open("/proc/%d/task/%s/children" % (daemon.pid, task)) as f:
            for pid in map(int, f.read().split()):
                try:
                    with open("/proc/%d/stat" % pid) as stat:
                        fields = stat.read().rsplit(")", 1)
                except FileNotFoundError:
                    continue
                if fields[0].endswith("(sleep") and fields[1].split()[0] != "Z":
                    found.append(pid)
    return found


def test_a_kill_storm_is_replaced_at_once_and_never_waits_for_check_delay(circusd):
    daemon = start(circusd, """
        [watcher:web]
        cmd = /bin/sleep 600
        numprocesses = 10
        """, check_delay=60)
    until(lambda: len(sleepers(daemon)) == 10, 10, what="10 sleepers")
    sub = Subscriber(daemon.pubsub_endpoint, prefix="watcher.web.spawn")
    try:
        # One kill until its spawn event arrives: the subscription is live.
        until(lambda: os.kill(sleepers(daemon)[0], signal.SIGKILL) or sub.spawn_times(1, 0.5), 10,
              what="a spawn event")
        until(lambda: len(sleepers(daemon)) == 10, 10, what="10 sleepers again")
        sub.drain(0.2)
        before = started(daemon, "web")
        rng = random.Random(11)
        kill_times, killed = [], set()
        for _ in range(150):
            # A worker just killed may not be a zombie yet: never kill it twice.
            alive = [pid for pid in sleepers(daemon) if pid not in killed]
            if alive:
                victim = rng.choice(alive)
                os.kill(victim, signal.SIGKILL)
                killed.add(victim)
                kill_times.append(time.time())
            time.sleep(rng.uniform(0, 0.02))  # the storm's pace, not a synchronisation
        # check_delay is 60 s and kill -9 is no failed start: only an immediate
        # respawn of each death brings them back that soon (a shared crash-loop
        # delay would have grown to its 5 s cap during the storm).
        until(lambda: len(sleepers(daemon)) == 10 and started(daemon, "web") == before + len(kill_times),
              2.5, what="10 sleepers and %d more starts, have %d and %d"
              % (len(kill_times), len(sleepers(daemon)), started(daemon, "web") - before))
        spawns = sorted(sub.spawn_times(len(kill_times), 10))
    finally:
        sub.close()
    assert len(spawns) == len(kill_times)
    latencies = sorted(spawn - kill for kill, spawn in zip(kill_times, spawns))
    # Tens of milliseconds under load; a shared delay or the periodic check: seconds.
    assert latencies[len(latencies) // 2] < 0.5, latencies
    assert status(daemon, "web") == "active"
    assert "keeps failing" not in daemon.log(), "kill -9 is not a failed start"
    wids = {call(daemon, "stats", name="web")["info"][str(pid)]["wid"] for pid in sleepers(daemon)}
    assert wids == set(range(1, 11))


def flapping_rounds(events):
    """``(action, time)`` of the crasher, split after each ``stop`` event."""
    found = [[]]
    for action, at in events:
        found[-1].append((action, at))
        if action == "stop":
            found.append([])
    return found


FLAPPING = """
    [watcher:crasher]
    cmd = %s
    max_retry = -1
    autostart = false
    %s

    [plugin:flapping]
    use = circus.plugins.flapping.Flapping
    attempts = 2
    retry_in = %s
    max_retry = %d
    """


def flapping_events(circusd, watcher_keys, retry_in, max_retry):
    """Start the crasher under Flapping; its ``(action, time)`` events until
    ``max_retry + 1`` stops, then 2 s more (another retry would come)."""
    # max_retry = -1: the watcher never gives up by itself, the plugin decides.
    daemon = circusd()
    daemon.write_ini(FLAPPING % (python("import sys\nsys.exit(3)"), watcher_keys, retry_in, max_retry),
                     circus={"check_delay": 1, "debug": "true"})
    daemon.start()
    sub = Subscriber(daemon.pubsub_endpoint, prefix="watcher.crasher.")
    events = []

    def receive(seconds, done=lambda: False):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not done():
            event = sub.next(0.1)
            if event:
                events.append((event[0].rsplit(".", 1)[1], event[1]["time"]))

    try:
        daemon.wait_log(r"circus-plugin\[\d+\] \[INFO\] Starting")
        until(lambda: call(daemon, "start", name="crasher")["status"] == "ok", 5)
        receive(20, lambda: [a for a, _ in events].count("stop") > max_retry)
        receive(2)
    finally:
        sub.close()
    assert status(daemon, "crasher") == "stopped"
    return events


def test_between_a_flapping_stop_and_its_retry_no_process_of_the_watcher_is_spawned(circusd):
    rounds = flapping_rounds(flapping_events(circusd, "", retry_in=1, max_retry=2))
    assert len(rounds) == 4, rounds
    # The first round may have begun before the plugin subscribed; the
    # retries' rounds are exact: the plugin decides at the second death and
    # its stop comes before that slot spawns again.
    for number in (1, 2):
        actions = [action for action, _ in rounds[number]]
        assert actions.count("reap") == 2 and actions.count("spawn") == 2, rounds[number]
        decided = [at for action, at in rounds[number] if action == "reap"][1]
        respawn = [at for action, at in rounds[number + 1] if action == "spawn"]
        if number == 1:
            assert min(respawn) - decided >= 1 - 0.1, rounds
    assert rounds[3] == [], "spawned after the last flapping stop: %s" % rounds[3]


def test_a_flapping_stop_decided_while_the_watcher_still_starts_keeps_its_retry(circusd):
    # Two deaths while the start spaces its 3 spawns: the plugin stops the
    # watcher before its start event, which must not cancel the retry.
    events = flapping_events(circusd, "numprocesses = 3\n    warmup_delay = 0.3", retry_in=2, max_retry=1)
    rounds = flapping_rounds(events)
    assert len(rounds) == 3 and rounds[2] == [], rounds
    first_stop = rounds[0][-1][1]
    retry = [at for action, at in rounds[1] if action == "spawn"]
    assert retry and min(retry) - first_stop >= 1.0, rounds
    assert [action for action, _ in events].count("start") == 2, events
