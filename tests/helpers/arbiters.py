"""An in-process arbiter on the running loop, and a client of its control socket."""

import contextlib
from pathlib import Path

from .fds import arbiter_fds, describe_fds
from .polling import until_async


def ipc_endpoints(directory):
    """Private control / pub-sub endpoints and an ephemeral multicast port."""
    directory = Path(directory)
    return {
        "controller": "ipc://%s" % (directory / "ctl.sock"),
        "pubsub_endpoint": "ipc://%s" % (directory / "pub.sock"),
        "multicast_endpoint": "udp://237.219.251.97:0",
    }


@contextlib.asynccontextmanager
async def running_arbiter(directory, watchers, **kw):
    """An arbiter from ``get_arbiter`` started on the running loop; stopped on exit."""
    from tornado.ioloop import IOLoop

    from circus import get_arbiter

    options = dict(ipc_endpoints(directory), check_delay=0.5)
    options.update(kw)
    fds_before = arbiter_fds()
    arbiter = get_arbiter(watchers, loop=IOLoop.current(), **options)
    await arbiter.start()
    try:
        yield arbiter
    finally:
        await arbiter.stop()
    await until_async(lambda: arbiter_fds() <= fds_before, timeout=3,
                      what="the arbiter to close its fds: %s" % describe_fds(arbiter_fds() - fds_before))


@contextlib.asynccontextmanager
async def client_of(arbiter, timeout=15):
    """An AsyncCircusClient of the arbiter's control socket.

    The client has a ZeroMQ context of its own, so the arbiter's fd check
    is not confused by the client's sockets.
    """
    import zmq

    from circus.client import AsyncCircusClient

    context = zmq.Context()
    client = AsyncCircusClient(context=context, endpoint=arbiter.endpoint, timeout=timeout)
    try:
        yield client
    finally:
        client.stop()
        context.term()


@contextlib.asynccontextmanager
async def controlled(directory, watchers, **kw):
    """A running arbiter and ``send_message`` of a client (``client_of``) of its control socket."""
    async with running_arbiter(directory, watchers, **kw) as arbiter, client_of(arbiter) as client:
        yield arbiter, client.send_message
