"""The web console's Controller and LiveFeed against an in-process arbiter."""

import asyncio
import json

import pytest
import zmq

from circus.web.controller import ConsoleError, Controller
from circus.web.live import LiveFeed
from helpers import async_test, running_arbiter, until_async


def watchers(workers):
    return [
        {"name": "Web", "cmd": workers.cmd("web"), "numprocesses": 2},
        {"name": "idle", "cmd": workers.cmd("idle"), "autostart": False},
    ]


class Collector:
    """A feed listener keeping every message."""

    def __init__(self):
        self.messages = []

    def __call__(self, message):
        self.messages.append(message)

    def states(self):
        return [m for m in self.messages if m["type"] == "state"]


async def tick_until(feed, predicate, timeout=10, what=None):
    """Run the feed's ticks (as its loop would) until ``predicate()`` holds."""
    async def ticked():
        await feed.tick()
        return predicate()

    return await until_async(ticked, timeout=timeout, interval=0.05, what=what)


@async_test
async def test_the_controller_reads_and_acts_on_circusd(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, watchers(workers)) as arbiter:
        controller = Controller(timeout=5, context=zmq.Context())
        try:
            options = await controller.connect(arbiter.endpoint)
            assert options["pubsub_endpoint"] == arbiter.pubsub_endpoint
            await workers.await_reports("web", 2)
            snapshot = await controller.snapshot()
            assert [(w["name"], w["status"], len(w["pids"])) for w in snapshot] == [
                ("idle", "stopped", 0), ("Web", "active", 2)]
            page = await controller.watcher("Web")
            assert [p["pid"] for p in page["processes"]] == snapshot[1]["pids"]
            assert page["options"]["numprocesses"] == 2 and "__name__" not in page["options"]

            await controller.incr("Web")
            await until_async(lambda: len(arbiter.get_watcher("web").processes) == 3)
            victim = snapshot[1]["pids"][0]
            await controller.kill("Web", victim)
            await until_async(lambda: victim not in arbiter.get_watcher("web").processes)
            assert await controller.toggle("idle") == "start"
            await until_async(lambda: arbiter.get_watcher("idle").status() == "active")
            await controller.add_watcher("added", workers.cmd("added"), "", 1, start=True)
            await workers.await_reports("added", 1)

            with pytest.raises(ConsoleError, match="program nope not found") as refused:
                await controller.incr("nope")
            assert not refused.value.unreachable
        finally:
            controller.disconnect()
            controller.context.term()


@async_test
async def test_a_silent_endpoint_is_unreachable_and_leaves_the_console_disconnected(tmp_path):
    controller = Controller(timeout=0.3, context=zmq.Context())
    try:
        with pytest.raises(ConsoleError, match="does not answer") as silent:
            await controller.connect("ipc://%s" % (tmp_path / "nobody.sock"))
        assert silent.value.unreachable and not controller.connected
        with pytest.raises(ConsoleError, match="not connected"):
            await controller.snapshot()
        with pytest.raises(ConsoleError, match="give the endpoint"):
            await controller.connect("  ")
        with pytest.raises(ConsoleError, match="cannot use endpoint 'garbage'"):
            await controller.connect("garbage")
        assert not controller.connected
    finally:
        controller.context.term()


@async_test
async def test_the_feed_sends_a_state_on_changes_only(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, watchers(workers)) as arbiter:
        context = zmq.Context()
        controller = Controller(timeout=5, context=context)
        feed = LiveFeed(controller, heartbeat=3600, context=context)
        seen = Collector()
        try:
            await controller.connect(arbiter.endpoint)
            await workers.await_reports("web", 2)
            feed.add(seen)
            await tick_until(feed, lambda: seen.states(), what="a first state")
            state = seen.states()[-1]
            assert state["alive"] and state["endpoint"] == arbiter.endpoint
            assert {w["name"]: len(w["pids"]) for w in state["watchers"]} == {"idle": 0, "Web": 2}
            for _ in range(3):
                await feed.tick()
            assert len(seen.states()) == 1  # nothing changed, nothing sent
            # A change made behind the console's back arrives through the event channel.
            await arbiter.get_watcher("web").incr(1)
            await tick_until(feed, lambda: len(seen.states()[-1]["watchers"][1]["pids"]) == 3,
                             what="the spawn seen by the feed")
            controller.disconnect()
            await tick_until(feed, lambda: not seen.states()[-1]["connected"], what="disconnected state")
        finally:
            await feed.stop()
            controller.disconnect()
            context.term()


@async_test
async def test_the_feed_does_nothing_without_listeners(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, watchers(workers)) as arbiter:
        context = zmq.Context()
        controller = Controller(timeout=5, context=context)
        feed = LiveFeed(controller, context=context)
        try:
            await controller.connect(arbiter.endpoint)
            for _ in range(3):
                await feed.tick()
            assert feed.state == {}
            seen = Collector()
            feed.add(seen)
            await tick_until(feed, lambda: seen.states(), what="a state once someone listens")
        finally:
            await feed.stop()
            controller.disconnect()
            context.term()


class SilentCircusd:
    """A ROUTER on an ipc path that receives requests and answers only when told."""

    def __init__(self, tmp_path, context):
        self.endpoint = "ipc://%s" % (tmp_path / "silent.sock")
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(self.endpoint)

    def received(self):
        """The command names of the requests waiting now."""
        commands = []
        while self.socket.poll(0, zmq.POLLIN):
            commands.append(json.loads(self.socket.recv_multipart()[1])["command"])
        return commands

    def close(self):
        self.socket.close()


@async_test
async def test_a_request_cut_by_a_disconnect_is_a_console_error(tmp_path):
    context = zmq.Context()
    silent = SilentCircusd(tmp_path, context)
    controller = Controller(timeout=30, context=context)
    try:
        controller.select(silent.endpoint)
        request = asyncio.ensure_future(controller.statuses())
        await until_async(lambda: silent.received() == ["status"], what="the request at circusd")
        controller.disconnect()
        with pytest.raises(ConsoleError, match="'status' to circusd at %s interrupted" % silent.endpoint) as cut:
            await asyncio.wait_for(request, 5)
        assert cut.value.unreachable
    finally:
        controller.disconnect()
        silent.close()
        context.term()


@async_test
async def test_the_feed_survives_a_connect_made_during_its_snapshot(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, watchers(workers)) as arbiter:
        context = zmq.Context()
        silent = SilentCircusd(tmp_path, context)
        controller = Controller(timeout=30, context=context)
        feed = LiveFeed(controller, interval=0.05, context=context)
        seen = Collector()
        try:
            controller.select(silent.endpoint)
            feed.add(seen)
            feed.start()
            await until_async(lambda: silent.received() == ["globaloptions"], what="the feed's request")
            # The feed waits for the silent circusd while a page connects elsewhere.
            await controller.connect(arbiter.endpoint)
            await until_async(lambda: seen.states() and seen.states()[-1]["alive"]
                              and seen.states()[-1]["endpoint"] == arbiter.endpoint,
                              what="the feed to follow the new endpoint")
        finally:
            await feed.stop()
            controller.disconnect()
            silent.close()
            context.term()
