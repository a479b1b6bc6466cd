"""The events circusd publishes last, as it quits, still reach a subscriber."""

from helpers import SLEEPER, Subscriber, call, ok, start

NAMES = ["w%d" % i for i in range(8)]
STACK = "".join("""
    [watcher:%s]
    cmd = %s
    numprocesses = 2
    """ % (name, SLEEPER) for name in NAMES)


def test_every_stop_event_of_a_quit_arrives(circusd):
    daemon = start(circusd, STACK)
    with Subscriber(daemon.pubsub_endpoint) as sub:
        sub.synchronise(lambda: call(daemon, "set", name="w0", options={"graceful_timeout": 1}),
                        topic="watcher.w0.updated")
        ok(call(daemon, "quit"))
        assert daemon.wait(30) == 0
        stopped = set()
        while (event := sub.next(1)) is not None:
            if event[0].endswith(".stop"):
                stopped.add(event[0].split(".")[1])
    assert stopped == set(NAMES)
