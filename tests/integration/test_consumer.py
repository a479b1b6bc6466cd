"""circus.consumer.CircusConsumer against a running arbiter's event channel."""

import asyncio
import json
import threading

import pytest
import zmq

from circus.consumer import CircusConsumer
from circus.exc import CallError
from helpers import async_test, running_arbiter, until_async


@async_test
async def test_the_consumer_yields_topic_and_message_bytes_of_the_subscribed_topics(tmp_path, workers, tracker):
    async with running_arbiter(tmp_path, [{"name": "w", "cmd": workers.cmd("w")}]) as arbiter:
        watcher = arbiter.get_watcher("w")
        got, subscribed = [], threading.Event()

        def consume():
            with CircusConsumer(["watcher.w.spawn"], endpoint=arbiter.pubsub_endpoint, timeout=0.05) as events:
                subscribed.set()
                for topic, message in events:
                    got.append((topic, json.loads(message)))
                    break

        thread = threading.Thread(target=consume)
        thread.start()
        await asyncio.to_thread(subscribed.wait, 10)
        # A SUB socket misses what was published before its subscription
        # reached the PUB: spawn again until one spawn event arrives.
        for _ in range(50):
            await watcher.incr()
            try:
                await until_async(lambda: got, timeout=0.2)
                break
            except AssertionError:
                continue
        assert got, "no spawn event after 50 spawns"
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()
        topic, message = got[0]
        assert topic == b"watcher.w.spawn" and isinstance(message["process_pid"], int)


def test_a_malformed_endpoint_is_a_call_error_and_leaves_nothing_open():
    context = zmq.Context()
    with pytest.raises(CallError, match="invalid endpoint 'foo'"):
        CircusConsumer([b""], context=context, endpoint="foo")
    context.term()  # would block on a socket left open
