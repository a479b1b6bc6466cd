"""The daemon end of the JSON protocol: circusd's ROUTER socket.

Each request is handled in its own task, so a slow command (a ``stop
--waiting`` of a watcher with a long graceful timeout) never delays the
others; the watchers serialise their own changes. Every request gets exactly
one reply, except ``msg_type: cast`` ones (none by design): malformed
requests and failing commands get error replies, and nothing a client sends
can stop the socket from serving the next request.

Frames: a DEALER client's request arrives as ``[identity, body]``; a REQ
client's as ``[identity, b"", body]``. The reply carries the same envelope
(every frame before the body), so both kinds of client work.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import struct
import time
import traceback
from typing import TYPE_CHECKING, Any, cast

import zmq
import zmq.asyncio

from circus import options as option_table
from circus.commands import errors, get_commands
from circus.curve import exposed
from circus.exc import CircusError
from circus.tasks import TaskSet

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands.base import Command
    from circus.curve import CurveServer

logger = logging.getLogger("circus.controller")

DEFAULT_MAX_MESSAGE_SIZE = option_table.defaults("circus")["max_message_size"]


class RequestError(Exception):
    """A request that cannot be dispatched; carries the reply's errno and id."""

    def __init__(self, errno_: int, reason: str, msg_id: Any = None, cast: bool = False) -> None:
        super().__init__(reason)
        self.errno = errno_
        self.reason = reason
        self.msg_id = msg_id
        self.cast = cast


class WaitingFailed(Exception):
    """The long part of a ``waiting`` command failed (errno 6)."""


def decode(body: bytes) -> tuple[Command, dict[str, Any], Any, bool]:
    """``(command name, properties, id, cast)`` of a request body.

    Raises RequestError: errno 1 for a body that is not JSON in strict
    UTF-8, 3 for JSON that is not a request object, 2 for an unknown command.
    """
    try:
        # Strict UTF-8 first: json.loads(bytes) would also take UTF-16 and
        # UTF-8-encoded surrogates, which are not JSON text.
        msg = json.loads(body.decode("utf-8").strip())
    except (ValueError, RecursionError):
        raise RequestError(errors.INVALID_JSON, "json invalid") from None
    if not isinstance(msg, dict):
        raise RequestError(
            errors.MESSAGE_ERROR,
            "message invalid: a request is a JSON object with a 'command' key",
        )
    msg_id, cast = msg.get("id"), msg.get("msg_type") == "cast"
    name = msg.get("command")
    if not isinstance(name, str) or not name:
        raise RequestError(
            errors.MESSAGE_ERROR, "message invalid: 'command' must be a command name", msg_id, cast
        )
    props = msg.get("properties")
    if props is None:
        props = {}
    elif not isinstance(props, dict):
        raise RequestError(
            errors.MESSAGE_ERROR, "message invalid: 'properties' must be an object", msg_id, cast
        )
    command = get_commands().get(name.lower())
    if command is None:
        raise RequestError(errors.UNKNOWN_COMMAND, "unknown command: %r" % name, msg_id, cast)
    return command, props, msg_id, cast


def check_size(size: int, limit: int) -> None:
    """Refuse a body of ``size`` bytes over ``limit`` (0: no limit) with errno 3, id null."""
    if limit and size > limit:
        raise RequestError(
            errors.MESSAGE_ERROR,
            "message too large: %d bytes, over max_message_size (%d bytes)" % (size, limit),
        )


def error_reply(error: BaseException, command_name: str | None = None) -> tuple[int, str, str | None]:
    """``(errno, reason, tb)`` of an exception raised while serving a request.

    The one place where exceptions become error replies: circus errors carry
    their errno, OSError is errno 4, anything else errno 5 with a traceback.
    """
    if isinstance(error, RequestError):
        return error.errno, error.reason, None
    if isinstance(error, WaitingFailed):
        cause = error.__cause__
        assert cause is not None  # always raised from the command's exception
        errno_, reason, tb = error_reply(cause, command_name)
        return errors.BAD_MSG_DATA_ERROR, "server error: %s" % reason, tb
    if isinstance(error, CircusError):
        return error.errno, str(error), None
    if isinstance(error, OSError):
        return errors.OS_ERROR, str(error), None
    tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    reason = "command %r failed: %s: %s" % (command_name, type(error).__name__, error)
    return errors.COMMAND_ERROR, reason, tb


def _json_default(value):
    """Values a command may return that JSON does not know."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def encode_reply(
    msg_id: Any, result: Any = None, error: BaseException | None = None, command_name: str | None = None
) -> bytes:
    """The reply frame: ``{status, time, id, ...}``."""
    reply: dict[str, Any]
    if error is not None:
        errno_, reason, tb = error_reply(error, command_name)
        reply = {"status": "error", "reason": reason, "tb": tb, "errno": errno_}
    elif isinstance(result, list):
        reply = {"status": "ok", "results": result}
    else:
        reply = {"status": "ok"}
        reply.update(result or {})  # a watcher's status overwrites "ok", as in Circus
    reply["time"] = time.time()
    reply["id"] = msg_id
    return json.dumps(reply, default=_json_default).encode("utf8")


class Controller:
    """Serves the control endpoint of ``arbiter``.

    ``await start()`` binds the ROUTER socket (linger 0) and serves until
    ``stop()``. ``endpoint_owner`` (a user name or uid) owns the socket file
    of an ``ipc://`` endpoint. A request body over ``max_message_size``
    bytes (0: no limit) is answered with an error without being parsed.
    ``loop`` is accepted for compatibility; the running loop is used.
    """

    def __init__(self, arbiter: Arbiter, endpoint: str, context: zmq.Context | None,
                 loop: object = None, endpoint_owner: str | int | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.arbiter = arbiter
        self.max_message_size = max_message_size
        self.endpoint = endpoint
        self.context = zmq.asyncio.Context.shadow((context or zmq.Context.instance()).underlying)
        self.endpoint_owner = endpoint_owner
        self.socket: zmq.Socket[bytes] | None = None
        self._reader: int | None = None
        self._tasks = TaskSet("controller")
        # request task -> (envelope, id) until it is answered
        self._waiting: dict[asyncio.Task | None, tuple[list[bytes], Any]] = {}
        self._closing = False
        self._discovery: socket.socket | None = None  # UDP socket answering multicast discovery
        self._loop: asyncio.AbstractEventLoop  # the running loop, from start()
        self.curve: CurveServer | None = None  # the arbiter's, from start()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind the endpoint and start serving; OSError if it cannot be bound."""
        # A plain (not asyncio) socket read from the loop through its FD:
        # pyzmq's asyncio layer costs more per request than most commands.
        sock: zmq.Socket[bytes] = zmq.Context.shadow(self.context.underlying).socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        self.curve = getattr(self.arbiter, "curve", None)
        if self.curve is not None:
            self.curve.secure(sock, "control endpoint")
        elif exposed(self.endpoint):
            logger.warning("the control endpoint %s is reachable from other hosts and takes any "
                           "client: set curve_secret_key (see docs/security.rst)", self.endpoint)
        try:
            self._check_ipc_free()
            sock.bind(self.endpoint)
        except (zmq.ZMQError, OSError) as error:
            sock.close()
            code = getattr(error, "errno", None) or errno.EADDRINUSE
            failure = OSError("cannot bind control endpoint %s: %s" % (self.endpoint, os.strerror(code)))
            failure.errno = code
            raise failure from None
        self.socket = sock
        self._chown_ipc()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.FD, self._drain)
        self._reader = sock.FD
        self._loop.call_soon(self._drain)
        self._start_discovery(getattr(self.arbiter, "multicast_endpoint", None))
        logger.debug("control endpoint %s bound", self.endpoint)

    # -- discovery -----------------------------------------------------------------

    @property
    def discovery_port(self) -> int | None:
        """The UDP port answering discovery datagrams (None when off)."""
        return self._discovery.getsockname()[1] if self._discovery else None

    def _start_discovery(self, multicast_endpoint: str | None) -> None:
        """Answer any datagram on ``udp://group:port`` with ``{"endpoint": ...}``.

        Discovery is a convenience: when the port cannot be bound circusd
        runs without it; when the group cannot be joined (no multicast
        route), datagrams sent to the port itself are still answered.
        """
        if not multicast_endpoint or not multicast_endpoint.startswith("udp://"):
            return
        group, _, port = multicast_endpoint[len("udp://"):].rpartition(":")
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind(("0.0.0.0", int(port)))
            udp.setblocking(False)
        except (OSError, ValueError) as error:
            udp.close()
            logger.warning("multicast discovery on %s is off: %s", multicast_endpoint, error)
            return
        try:
            membership = struct.pack("=4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0"))
            udp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        except OSError as error:
            logger.warning("cannot join multicast group %s: %s", group, error)
        self._discovery = udp
        self._loop.add_reader(udp.fileno(), self._answer_discovery, udp)

    def _answer_discovery(self, udp: socket.socket) -> None:
        try:
            _, address = udp.recvfrom(1024)
            reply = json.dumps({"endpoint": self.endpoint}).encode("utf8")
            udp.sendto(reply, address)
        except OSError as error:  # a datagram that cannot be answered is not our problem
            logger.debug("discovery: %s", error)

    def _stop_discovery(self):
        if self._discovery is not None:
            self._loop.remove_reader(self._discovery.fileno())
            self._discovery.close()
            self._discovery = None

    def _ipc_path(self):
        if self.endpoint.startswith("ipc://"):
            return self.endpoint[len("ipc://"):]
        return None

    def _check_ipc_free(self):
        """Refuse an ipc:// path another process listens on (zmq would steal it)."""
        path = self._ipc_path()
        if not path or not os.path.exists(path):
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            return  # a leftover file: nobody listens, zmq replaces it
        finally:
            probe.close()
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))

    def _chown_ipc(self):
        path = self._ipc_path()
        if not path or self.endpoint_owner is None:
            return
        from circus.convert import to_uid

        os.chown(path, to_uid(self.endpoint_owner), -1)

    def stop(self) -> None:
        """Stop serving and close the socket.

        Requests in progress are cancelled, except the one calling ``stop``
        (``quit`` or ``restart``): when it waits for its reply, the reply is
        sent now, as everything but the closing is done.
        """
        if self.socket is None or self._closing:
            return
        self._closing = True
        self._stop_discovery()
        current = asyncio.current_task()
        if self._reader is not None:
            self._loop.remove_reader(self._reader)
            self._reader = None
        self._tasks.cancel()
        waiting = self._waiting.pop(current, None)
        if waiting is not None:
            envelope, msg_id = waiting
            self._send(envelope, encode_reply(msg_id))
        # A short linger lets the last replies leave.
        self.socket.close(linger=500)
        logger.debug("control endpoint %s closed", self.endpoint)

    # -- serving -----------------------------------------------------------------

    def _drain(self):
        """Take every queued request.

        The ZeroMQ FD is edge-triggered: it wakes the loop when the socket's
        state changes, so the queue is read until empty, and again after each
        send (which may have consumed a wake-up).
        """
        while self.socket is not None and not self._closing:
            try:
                # Frames, not bytes: a body over the limit is refused by its
                # length, never copied into Python. (zmq's MAXMSGSIZE would
                # cut the connection instead, and the client get no reply.)
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            except zmq.ZMQError as error:
                logger.error("control socket: %s", error)
                return
            if len(frames) < 2:
                continue  # a ROUTER always prefixes the identity; nothing to answer
            envelope, body = [frame.bytes for frame in frames[:-1]], frames[-1]
            try:
                check_size(len(body), self.max_message_size)
            except RequestError as error:
                logger.debug("request refused: %s", error)
                self._send(envelope, encode_reply(None, error=error))
                continue
            # The name the ZAP gate gave the client's key (None without Curve).
            user = body.get("User-Id") if self.curve is not None else None
            self._tasks.spawn(self._handle(envelope, body.bytes, user), name="request")

    def _send(self, envelope, reply):
        """Send without waiting: a ROUTER drops what it cannot route anyway."""
        if self.socket is None or self.socket.closed:
            return
        try:
            self.socket.send_multipart(envelope + [reply], zmq.NOBLOCK)
        except zmq.ZMQError as error:
            logger.warning("could not send a reply: %s", error)
        if not self._closing and cast(int, self.socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            self._loop.call_soon(self._drain)

    async def _handle(self, envelope, body, user=None):
        task = asyncio.current_task()
        self._waiting[task] = (envelope, None)
        try:
            reply = await self.dispatch(body, task, user)
        finally:
            answered = self._waiting.pop(task, None) is None
        if reply is not None and not answered and not self._closing:
            self._send(envelope, reply)

    async def dispatch(self, body: bytes, task: asyncio.Task | None = None,
                       user: str | None = None) -> bytes | None:
        """The reply frame for request ``body`` (bytes) of key ``user``, or None for a cast."""
        msg_id: Any = None
        command: Command | None = None
        cast = False
        try:
            command, props, msg_id, cast = decode(body)
            if cast:
                self._waiting.pop(task, None)  # a cast is never answered
            elif task in self._waiting:
                self._waiting[task] = (self._waiting[task][0], msg_id)
            self._check_allowed(command, user, msg_id, cast)
            result = await self._run(command, props, cast)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if isinstance(error, RequestError):
                msg_id, cast = error.msg_id, error.cast
            if cast:
                logger.error("cast %r failed: %s", command and command.name, error)
                return None
            logger.debug("command %s failed: %s", command and command.name, error)
            return encode_reply(msg_id, error=error, command_name=command.name if command else None)
        if cast:
            return None
        try:
            return encode_reply(msg_id, result)
        except (TypeError, ValueError) as error:  # e.g. a circular structure
            logger.error("the result of %s cannot be encoded: %s", command.name, error)
            failure = RequestError(errors.BAD_MSG_DATA_ERROR, "server error: unencodable result: %s" % error)
            return encode_reply(msg_id, error=failure)

    def _check_allowed(self, command, user, msg_id, cast):
        """Refuse a command that is not read-only to a read-only key (errno 7, event arbiter.denied)."""
        if self.curve is None or command.readonly or not self.curve.is_readonly(user):
            return
        logger.warning("read-only key %s may not run %s: refused", user, command.name)
        self.arbiter.publish("arbiter.denied", {"key": user, "command": command.name, "time": time.time()})
        raise RequestError(errors.FORBIDDEN, "permission denied: the key %r is read-only and %r "
                           "changes circusd (read commands only)" % (user, command.name), msg_id, cast)

    async def _run(self, command, props, cast):
        """Run ``command``; the reply keys, or None when it goes on in the background."""
        command.validate(props)
        outcome = command.prepare(self.arbiter, props)
        if not hasattr(outcome, "__await__"):
            return outcome
        if cast or (command.waiting and not props.get("waiting")):
            self._tasks.spawn(self._background(command.name, outcome), name=command.name)
            return None
        if not command.waiting:
            return await outcome
        try:
            return await outcome
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise WaitingFailed() from error

    async def _background(self, name, outcome):
        try:
            await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("command %s failed", name)
