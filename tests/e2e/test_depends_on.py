"""depends_on through a real circusd: start order, reverse stop order, config errors."""

import pytest

from helpers import SLEEPER, Subscriber, call, error_mentioning, ok, start, until

# web has the higher priority: without depends_on it would start first.
# db is slow to come up: its second process spawns 0.5 s after the first.
STACK = """
    [watcher:web]
    cmd = %(sleeper)s
    priority = 10
    depends_on = db
    graceful_timeout = 5

    [watcher:db]
    cmd = %(sleeper)s
    numprocesses = 2
    warmup_delay = 0.5
    graceful_timeout = 5

    [watcher:other]
    cmd = %(sleeper)s
    priority = 5
    """ % {"sleeper": SLEEPER}

WEB_ON_DB = """
    [watcher:web]
    cmd = %s
    depends_on = db

    [watcher:db]
    cmd = %s
    """ % (SLEEPER, SLEEPER)


def topics(events):
    return [topic for topic, _ in events]


def first(events, *wanted):
    """Index of the first event whose topic is one of ``wanted``."""
    return next(i for i, topic in enumerate(topics(events)) if topic in wanted)


def assert_db_up_before_web_spawns(log):
    """Both of db's processes run, and db is active, before web's first spawn (circusd's log)."""
    assert log.count("db[", 0, log.index("web[")) == 2, log
    assert log.index("db started") < log.index("web["), log


def synchronised(daemon):
    sub = Subscriber(daemon.pubsub_endpoint)
    sub.synchronise(lambda: call(daemon, "set", name="other", options={"graceful_timeout": 1}),
                    topic="watcher.other.updated")
    return sub


def test_a_dependant_starts_once_its_slow_dependency_is_up(circusd):
    daemon = start(circusd, STACK)
    daemon.wait_log(r"^.*\bweb\[\d+\] started", timeout=15)
    assert_db_up_before_web_spawns(daemon.log())
    with synchronised(daemon) as sub:
        ok(call(daemon, "stop", waiting=True, timeout=30))
        ok(call(daemon, "start", waiting=True, timeout=30))
        events = sub.collect("watcher.web.spawn", timeout=15)
    spawns = [i for i, topic in enumerate(topics(events)) if topic == "watcher.db.spawn"]
    assert len(spawns) == 2, events
    assert spawns[-1] < first(events, "watcher.db.start") < first(events, "watcher.web.spawn"), events
    until(lambda: call(daemon, "status", name="web")["status"] == "active", 10, what="web active")


def test_quit_and_stop_of_all_stop_dependants_before_their_dependencies(circusd):
    daemon = start(circusd, STACK)
    daemon.wait_log(r"\bweb\[\d+\] started", timeout=15)
    with synchronised(daemon) as sub:
        ok(call(daemon, "stop", waiting=True, timeout=30))
        events = sub.collect("watcher.db.stop", timeout=15)
        # web is stopped (its stop event sent) before db gets its first signal.
        assert first(events, "watcher.web.stop") < first(events, "watcher.db.kill", "watcher.db.stop"), events
        ok(call(daemon, "start", waiting=True, timeout=30))
        sub.collect("watcher.web.spawn", timeout=15)
        ok(call(daemon, "quit"))
        # db's first signal, not its stop event: that one may be lost as circusd closes.
        events = sub.collect("watcher.db.kill", timeout=15)
    assert first(events, "watcher.web.stop") < first(events, "watcher.db.kill"), events
    assert daemon.wait(15) == 0


@pytest.mark.parametrize("keys, message", [
    ({"a": "b", "b": "c", "c": "a"}, "[watcher:a] depends_on: depends_on cycle: a -> b -> c -> a"),
    ({"a": "nope"}, "[watcher:a] depends_on: watcher 'a' depends on 'nope', which is not a watcher"),
    ({"a": "A"}, "[watcher:a] depends_on: watcher 'a' depends on itself"),
])
def test_a_cycle_or_an_unknown_name_at_start_exits_1_with_the_message(circusd, keys, message):
    daemon = circusd()
    daemon.write_ini("".join("[watcher:%s]\ncmd = %s\ndepends_on = %s\n\n" % (name, SLEEPER, deps)
                             for name, deps in keys.items()))
    rc, out, err = daemon.run()
    assert rc == 1, (out, err)
    assert message in err, err
    assert "Traceback" not in out + err


def test_reloadconfig_with_a_cycle_is_an_error_and_leaves_the_watchers_running(circusd):
    body = WEB_ON_DB
    daemon = start(circusd, body)
    daemon.wait_answering()
    until(lambda: len(call(daemon, "list", name="web")["pids"]) == 1, 10, what="web running")
    before = {name: call(daemon, "list", name=name)["pids"] for name in ("web", "db")}
    daemon.write_ini(body + "depends_on = web\n")
    reply = call(daemon, "reloadconfig", waiting=True)
    error_mentioning(reply, 6, "[watcher:web] depends_on: depends_on cycle: web -> db -> web")
    assert {name: call(daemon, "list", name=name)["pids"] for name in ("web", "db")} == before
    assert call(daemon, "status", name="db")["status"] == "active"
    assert daemon.alive()


def test_add_and_set_refuse_unknown_names_and_cycles(circusd):
    daemon = start(circusd, WEB_ON_DB)
    daemon.wait_answering()
    error_mentioning(call(daemon, "add", name="new", cmd=SLEEPER, options={"depends_on": ["nope"]}), 3,
                     "watcher 'new' depends on 'nope', which is not a watcher")
    assert "new" not in call(daemon, "list")["watchers"]
    error_mentioning(call(daemon, "set", name="db", options={"depends_on": ["web"]}), 3,
                     "depends_on cycle: ")
    assert call(daemon, "get", name="db", keys=["depends_on"])["options"]["depends_on"] is None
    ok(call(daemon, "add", name="new", cmd=SLEEPER, options={"depends_on": ["web", "DB"]}))
    error_mentioning(call(daemon, "set", name="db", options={"depends_on": ["new"]}), 3, "depends_on cycle: ")
    ok(call(daemon, "set", name="new", options={"depends_on": ["db"]}, waiting=True))
    assert call(daemon, "get", name="new", keys=["depends_on"])["options"]["depends_on"] == ["db"]


def test_a_dependant_of_a_watcher_that_does_not_come_up_is_not_started(circusd):
    daemon = start(circusd, WEB_ON_DB + "autostart = false\n")
    daemon.wait_log(r"web: not started: db, which it depends on, is stopped")
    assert call(daemon, "status")["statuses"] == {"web": "stopped", "db": "stopped"}
    ok(call(daemon, "start", name="db", waiting=True))
    ok(call(daemon, "start", waiting=True))
    until(lambda: call(daemon, "status", name="web")["status"] == "active", 10, what="web active")


def test_watchers_added_by_reloadconfig_start_in_dependency_order(circusd):
    daemon = start(circusd, """
        [watcher:other]
        cmd = %s
        """ % SLEEPER)
    daemon.wait_answering()
    daemon.write_ini(STACK)
    ok(call(daemon, "reloadconfig", waiting=True, timeout=30))
    assert_db_up_before_web_spawns(daemon.log())
