"""Plugins: programs that follow circusd's events and act through its commands.

A plugin is a :class:`CircusPlugin` subclass run in its own process by the
``circus-plugin`` entry point (:func:`main`), usually as the watcher
``plugin:NAME`` that circusd builds for a ``[plugin:NAME]`` section (see
``circus.arbiter``). Its blocking work therefore never stalls
circusd, and a crash is restarted like any worker's.

The plugin subscribes to every ``watcher.`` event of circusd's pub/sub
socket (``handle_recv``) and sends commands on a DEALER socket (``call``,
``acall``, ``cast``). Its event loop (``self.loop``, a tornado IOLoop on a
fresh asyncio loop) is there for periodic work (:meth:`CircusPlugin.periodic`).
"""

import argparse
import asyncio
import inspect
import json
import logging
import signal
import sys
import threading
import time
import uuid
from typing import Any, Awaitable, Callable, Sequence

import zmq
from tornado.ioloop import IOLoop, PeriodicCallback
from zmq.eventloop.zmqstream import ZMQStream

from circus import __version__
from circus.client import cast_message, connect, encode_call, make_message
from circus.client_defaults import DEFAULT_ENDPOINT_DEALER, DEFAULT_ENDPOINT_SUB
from circus.convert import to_bool
from circus.curve import add_client_options
from circus.exc import CallError
from circus.tasks import TaskSet

logger = logging.getLogger("circus.plugins")

DEFAULT_CHECK_DELAY = 5.0
CONFIG_SEPARATOR = ":::"


class CircusPlugin:
    """Base class of plugins; see spec/python-api.md §7.

    ``config`` holds the plugin's options as given (strings from
    ``--config``). Subclasses override :meth:`handle_recv` and may override
    :meth:`handle_init` (runs before the sockets exist: do not ``call``
    there) and :meth:`handle_stop`.
    """

    #: logger suffix and, for Flapping, the prefix of per-watcher options
    name = ""
    #: seconds :meth:`call` and :meth:`acall` wait for circusd's reply
    call_timeout = 5.0
    #: CurveZMQ: this plugin's .key_secret file and circusd's public key file
    #: (circus-plugin sets them from --curve-key / --server-key)
    curve_key: str | None = None
    server_key: str | None = None

    def __init__(
        self, endpoint: str, pubsub_endpoint: str, check_delay: float | str,
        ssh_server: str | None = None, **config: Any,
    ) -> None:
        self.config = config
        self.active = to_bool(config.get("active", True))
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.check_delay = float(check_delay)
        self.ssh_server = ssh_server
        self.loop = IOLoop(make_current=False)
        self.running = False
        self.context: zmq.Context | None = None
        self.client: zmq.Socket[bytes] | None = None
        self.clientstream: ZMQStream | None = None
        self.sub_socket: zmq.Socket[bytes] | None = None
        self.substream: ZMQStream | None = None
        self.logger = logging.getLogger("circus.plugins.%s" % (self.name or type(self).__name__.lower()))
        self._pending: dict[str, asyncio.Future] = {}  # call id -> Future of acall()
        self._periodics: list[PeriodicCallback] = []
        self._tasks = TaskSet("plugin %s" % self.label)
        self._loop_thread: int | None = None
        self.configure(config)

    def configure(self, config: dict[str, Any]) -> None:
        """Read the plugin's own options from ``config`` (text, as given); the constructor's last step.

        A plugin overrides this rather than the constructor. A ValueError
        here refuses the plugin before it starts.
        """

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Run the plugin until :meth:`stop` (blocks).

        Raises ValueError if the plugin is not active. Sockets and context
        are closed when the loop ends, whatever ended it.
        """
        if not self.active:
            raise ValueError("plugin %s is not active (active = false)" % self.label)
        self._loop_thread = threading.get_ident()
        self.handle_init()
        self._connect()
        self.running = True
        try:
            self.loop.start()
        finally:
            self.running = False
            self._close()

    def stop(self) -> None:
        """``handle_stop()``, then end the loop; callable from any thread."""
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            self.loop.add_callback(self.stop)
            return
        if not self.running:
            return
        self.running = False
        for periodic in self._periodics:
            periodic.stop()
        try:
            self.handle_stop()
        finally:
            self.loop.stop()

    def _connect(self):
        self.context = context = zmq.Context()
        self.client = client = context.socket(zmq.DEALER)
        client.setsockopt(zmq.IDENTITY, ("plugin-" + uuid.uuid4().hex).encode("ascii"))
        client.setsockopt(zmq.LINGER, 0)
        connect(client, self.endpoint, self.ssh_server, curve_key=self.curve_key, server_key=self.server_key)
        self.clientstream = ZMQStream(client, io_loop=self.loop)
        self.clientstream.on_recv(self._on_replies)
        self.sub_socket = sub_socket = context.socket(zmq.SUB)
        sub_socket.setsockopt(zmq.SUBSCRIBE, b"watcher.")
        sub_socket.setsockopt(zmq.LINGER, 0)
        connect(sub_socket, self.pubsub_endpoint, self.ssh_server, curve_key=self.curve_key,
                server_key=self.server_key)
        self.substream = substream = ZMQStream(sub_socket, io_loop=self.loop)
        if type(self).handle_recv is CircusPlugin.handle_recv:
            # One line, not a traceback for each of the many events a second.
            self.logger.warning("%s does not override handle_recv(data): it ignores circusd's events",
                                type(self).__name__)
        else:
            substream.on_recv(self._on_event)

    def _close(self):
        if len(self._tasks):
            # Let them see their CancelledError (closing sessions, files...).
            self.loop.run_sync(self._tasks.cancel_all)
        for stream in (self.substream, self.clientstream):
            if stream is not None:
                stream.close()
        if self.context is not None:
            self.context.term()
        self.loop.close()

    # -- hooks for subclasses -----------------------------------------------

    def handle_init(self) -> None:
        """Called by :meth:`start` before the sockets exist."""

    def handle_stop(self) -> None:
        """Called by :meth:`stop` before the loop ends."""

    def handle_recv(self, data: Sequence[bytes]) -> Awaitable[object] | None:
        """Handle one event: ``data`` is ``[topic_bytes, json_bytes]``.

        May be a coroutine function; it then runs as a task on ``self.loop``.
        """
        raise NotImplementedError("%s must override handle_recv(data)" % type(self).__name__)

    # -- events ---------------------------------------------------------------

    def _on_event(self, data):
        try:
            result = self.handle_recv(data)
        except Exception:
            self.logger.exception("%s: error while handling the event %r", self.label, data[:1])
            return
        if inspect.isawaitable(result):
            self.spawn(result)
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("%s: handled %s", self.label, data[0].decode("utf-8", "replace"))

    @property
    def label(self) -> str:
        """The plugin's name in log lines."""
        return self.name or type(self).__name__

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future:
        """Run ``awaitable`` as a task of the plugin, on its loop.

        The plugin's task set keeps it, logs an exception nobody awaited and
        cancels it when the plugin stops.
        """
        if not inspect.iscoroutine(awaitable):
            awaitable = _awaiting(awaitable)
        return self._tasks.spawn(awaitable)

    @staticmethod
    def split_data(data: Sequence[bytes | str]) -> tuple[str, str, Any]:
        """``(watcher_name, action, raw_msg)`` of an event ``[topic, msg]``.

        The topic is ``watcher.<name>.<action>``; ``name`` may contain dots.
        """
        topic, msg = data[0], data[1]
        if isinstance(topic, bytes):
            topic = topic.decode("utf-8")
        _, _, rest = topic.partition(".")
        watcher_name, _, action = rest.rpartition(".")
        return watcher_name, action, msg

    @staticmethod
    def load_message(msg: bytes | str) -> Any:
        """The event payload (a dict) of ``raw_msg``."""
        return json.loads(msg)

    # -- commands -------------------------------------------------------------

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        """Send ``command`` and return circusd's reply dict (blocking).

        Waits at most ``call_timeout`` seconds, then raises CallError.
        Replies to other requests read meanwhile go to their own callers.
        """
        call_id, frame = encode_call(make_message(command, **props))
        client = self._dealer()
        client.send(frame)
        deadline = time.monotonic() + self.call_timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not client.poll(max(1, int(left * 1000)), zmq.POLLIN):
                    raise CallError(self._timeout_message(command))
                reply = self._decode(client.recv())
                if reply is not None and reply.get("id") == call_id:
                    return reply
                self._deliver(reply)
        finally:
            # zmq's fd is edge-triggered: what we left unread would not wake
            # the client stream up.
            if self.running:
                self.loop.add_callback(self._drain_replies)

    async def acall(self, command: str, **props: Any) -> dict[str, Any]:
        """Send ``command`` and await circusd's reply dict (CallError on timeout)."""
        call_id, frame = encode_call(make_message(command, **props))
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._dealer().send(frame)
            async with asyncio.timeout(self.call_timeout):
                return await future
        except TimeoutError:
            raise CallError(self._timeout_message(command)) from None
        finally:
            self._pending.pop(call_id, None)

    def cast(self, command: str, **props: Any) -> None:
        """Send ``command`` without waiting; circusd never replies to it."""
        self._dealer().send(json.dumps(cast_message(command, **props)).encode("utf-8"))

    def _dealer(self) -> zmq.Socket[bytes]:
        if self.client is None:
            raise CallError("%s: not connected to circusd before start() (handle_init runs before)" % self.label)
        return self.client

    def _timeout_message(self, command):
        return "%s: no reply from circusd at %s to %r within %ss" % (
            self.label,
            self.endpoint,
            command,
            self.call_timeout,
        )

    def _decode(self, frame):
        try:
            reply = json.loads(frame)
        except ValueError:
            self.logger.warning("ignoring a reply that is not JSON: %r", frame[:200])
            return None
        return reply if isinstance(reply, dict) else None

    def _deliver(self, reply):
        if reply is None:
            return
        future = self._pending.pop(reply.get("id"), None)
        if future is not None and not future.done():
            future.set_result(reply)

    def _on_replies(self, frames):
        for frame in frames:
            self._deliver(self._decode(frame))

    def _drain_replies(self):
        if self.client is None or self.client.closed:
            return
        while True:
            try:
                frame = self.client.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._deliver(self._decode(frame))

    # -- periodic work --------------------------------------------------------

    def periodic(self, callback: Callable[[], object], seconds: float) -> PeriodicCallback:
        """Call ``callback()`` every ``seconds`` while the plugin runs.

        Usable from :meth:`handle_init`. ``callback`` may be a coroutine
        function; a run that has not finished when the next is due is not
        doubled (that tick is skipped). Exceptions are logged.
        """
        state: dict[str, asyncio.Future | None] = {"task": None}

        def tick():
            if state["task"] is not None and not state["task"].done():
                return
            try:
                result = callback()
            except Exception:
                self.logger.exception("%s: periodic %s failed", self.label, getattr(callback, "__name__", callback))
                return
            if inspect.isawaitable(result):
                state["task"] = self.spawn(result)

        periodic = PeriodicCallback(tick, seconds * 1000.0)
        self._periodics.append(periodic)
        self.loop.add_callback(periodic.start)
        return periodic


async def _awaiting(awaitable):
    return await awaitable


# -- the circus-plugin program -----------------------------------------------


def parse_config(text: str | None) -> dict[str, str]:
    """``'key:value:::key2:value2'`` -> ``{'key': 'value', 'key2': 'value2'}``.

    Keys and values are trimmed; a value may contain ``:`` (URLs). Raises
    ValueError for an entry without ``:``.
    """
    config = {}
    for entry in (text or "").split(CONFIG_SEPARATOR):
        if not entry.strip():
            continue
        key, sep, value = entry.partition(":")
        if not sep or not key.strip():
            raise ValueError("--config entry %r is not key:value (entries are separated by %r)"
                             % (entry, CONFIG_SEPARATOR))
        config[key.strip()] = value.strip()
    return config


def format_config(config: dict[str, Any]) -> str:
    """The ``--config`` text of a mapping (keys sorted); inverse of :func:`parse_config`."""
    parts = []
    for key in sorted(config):
        value = str(config[key]).strip()
        if CONFIG_SEPARATOR in value:
            raise ValueError("plugin option %s: a value cannot contain %r" % (key, CONFIG_SEPARATOR))
        parts.append("%s:%s" % (key, value))
    return CONFIG_SEPARATOR.join(parts)


def load_plugin_class(use: str) -> Callable[..., CircusPlugin]:
    """The CircusPlugin subclass ``use`` names; ValueError naming the path otherwise."""
    from circus.naming import ImportStringError, resolve_name

    try:
        factory = resolve_name(use)
    except ImportStringError as exc:
        raise ValueError("plugin %r cannot be loaded: %s" % (use, exc)) from None
    if not callable(factory):
        raise ValueError("plugin %r is not a class (it is a %s)" % (use, type(factory).__name__))
    return factory


def _parser():
    parser = argparse.ArgumentParser(prog="circus-plugin", description="Runs a plugin.")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT_DEALER, help="The circusd ZeroMQ socket to connect to")
    parser.add_argument("--pubsub", default=DEFAULT_ENDPOINT_SUB, help="The circusd ZeroMQ pub/sub socket to connect to")
    parser.add_argument("--config", default=None, help="The plugin configuration: key:value:::key2:value2")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--check-delay", type=float, default=DEFAULT_CHECK_DELAY, help="Check delay.")
    parser.add_argument("--log-level", dest="loglevel", default="info", help="log level")
    parser.add_argument("--log-output", dest="logoutput", default="-",
                        help="log output: '-' (stdout), 'stderr', a file path or a syslog:// URL")
    parser.add_argument("--ssh", default=None, help="SSH Server")
    add_client_options(parser)
    parser.add_argument("plugin", nargs="?", help="Fully qualified name of the plugin class.")
    return parser


def main(args: Sequence[str] | None = None) -> int:
    """The ``circus-plugin`` program: returns 0, or exits with 1 (bad plugin) or 2 (usage).

    It exits itself on failure because circusd runs it as
    ``python -c "from circus import plugins; plugins.main()"``, which
    drops a returned status.
    """
    status = _main(args)
    if status:
        sys.exit(status)
    return 0


def _main(args):
    from circus.logsetup import configure_logger

    parser = _parser()
    opts = parser.parse_args(args)
    if opts.plugin is None:
        parser.print_usage()
        return 0
    try:
        config = parse_config(opts.config)
    except ValueError as exc:
        parser.error(str(exc))
    configure_logger(logging.getLogger("circus"), opts.loglevel, opts.logoutput, name="circus-plugin")
    logger.info("Loading the plugin...")
    logger.info("Endpoint: %r", opts.endpoint)
    logger.info("Pub/sub: %r", opts.pubsub)
    try:
        factory = load_plugin_class(opts.plugin)
    except ValueError as exc:
        logger.error("%s", exc)
        return 1
    try:
        plugin = factory(opts.endpoint, opts.pubsub, opts.check_delay, opts.ssh, **config)
        plugin.curve_key, plugin.server_key = opts.curve_key, opts.server_key
    except (ValueError, TypeError) as exc:
        logger.error("%s: bad configuration: %s", opts.plugin, exc)
        return 1
    if not plugin.active:
        # Exiting would make circusd respawn us in a loop: stay, idle.
        logger.info("%s is disabled (active = false); idle until stopped", opts.plugin)
        _wait_for_stop_signal()
        return 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        plugin.loop.asyncio_loop.add_signal_handler(signum, plugin.stop)
    logger.info("Starting")
    try:
        plugin.start()
    except KeyboardInterrupt:
        pass
    finally:
        logger.info("Stopping")
    return 0


def _wait_for_stop_signal():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
