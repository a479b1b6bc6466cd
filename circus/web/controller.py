"""The web console's one link to circusd: commands in, plain dicts out.

:class:`Controller` holds the endpoint the console is connected to (shared
by every browser) and an :class:`~circus.client.AsyncCircusClient` on it.
Each method sends one or a few commands of spec/protocol.md §5 and returns
what a page needs. Any failure is a :class:`ConsoleError` whose text can be
shown to a person as is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional

import zmq

from circus.client import AsyncCircusClient
from circus.exc import CallError, CircusError

logger = logging.getLogger("circus.web.controller")

DEFAULT_TIMEOUT = 3.0


class ConsoleError(Exception):
    """A command failed; ``str()`` is a message for the page.

    ``unreachable`` is true when circusd did not answer at all (as opposed
    to answering with an error reply).
    """

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def _closed_under_us(client: AsyncCircusClient) -> bool:
    """True if ``client``'s socket was closed while the current task is not being cancelled."""
    task = asyncio.current_task()
    return client.socket.closed and (task is None or not task.cancelling())


class Controller:
    """The connection of the console to one circusd.

    ``endpoint`` is None while disconnected. ``generation`` grows at each
    connect and disconnect so that subscribers (the live feed) know to
    re-subscribe. ``globals`` is the last ``globaloptions`` reply.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, ssh_server: Optional[str] = None,
                 context: Optional[zmq.Context] = None, curve_key: Optional[str] = None,
                 server_key: Optional[str] = None) -> None:
        self.timeout = timeout
        self.ssh_server = ssh_server
        # CurveZMQ key files for every socket the console opens (circus.client.connect).
        self.keys: Dict[str, Optional[str]] = {"curve_key": curve_key, "server_key": server_key}
        self.context = context
        self.endpoint: Optional[str] = None
        self.globals: Dict[str, Any] = {}
        self.generation = 0
        self._client: Optional[AsyncCircusClient] = None
        # One request at a time: the client matches a reply to its request by
        # reading the socket, and would drop a reply meant for a concurrent call.
        self._lock = asyncio.Lock()

    # -- connection ------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.endpoint is not None

    def select(self, endpoint: str) -> None:
        """Use ``endpoint`` from now on, without checking that circusd answers."""
        self.disconnect()
        self.endpoint = endpoint
        self.generation += 1
        logger.info("web console now talks to circusd at %s", endpoint)

    async def connect(self, endpoint: str) -> Dict[str, Any]:
        """Connect to ``endpoint`` and return its global options.

        If circusd does not answer, the console stays disconnected and a
        ConsoleError says so.
        """
        endpoint = endpoint.strip()
        if not endpoint:
            raise ConsoleError("give the endpoint of circusd, e.g. tcp://127.0.0.1:5555")
        self.select(endpoint)
        try:
            return await self.refresh_globals()
        except ConsoleError:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        """Forget the endpoint and close the socket."""
        self._close_client()
        if self.endpoint is not None:
            logger.info("web console disconnected from %s", self.endpoint)
            self.endpoint = None
            self.globals = {}
            self.generation += 1

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.stop()
            self._client = None

    def _get_client(self) -> AsyncCircusClient:
        if self.endpoint is None:
            raise ConsoleError("not connected to any circusd: connect first")
        if self._client is None:
            try:
                self._client = AsyncCircusClient(context=self.context, endpoint=self.endpoint,
                                                 timeout=self.timeout, ssh_server=self.ssh_server, **self.keys)
            except (zmq.ZMQError, CircusError) as exc:  # a malformed endpoint, ssh unavailable
                raise ConsoleError("cannot use endpoint %r: %s" % (self.endpoint, exc)) from None
        return self._client

    async def call(self, command: str, **props: Any) -> Dict[str, Any]:
        """Send ``command`` and return the ok reply; ConsoleError otherwise."""
        async with self._lock:
            return self._check(command, await self._send(command, props))

    async def _send(self, command: str, props: Dict[str, Any]) -> Dict[str, Any]:
        client = self._get_client()
        endpoint = self.endpoint
        try:
            return await client.send_message(command, **props)
        except asyncio.CancelledError:
            # disconnect() (also run by a connect elsewhere, or at shutdown)
            # closes the socket, and pyzmq cancels the futures awaiting it:
            # that is an interrupted request, not a cancelled task.
            if not _closed_under_us(client):
                raise
            raise self._interrupted(command, endpoint) from None
        except zmq.ZMQError as exc:
            if client.socket.closed:
                raise self._interrupted(command, endpoint) from None
            raise ConsoleError("request %r to circusd at %s failed: %s" % (command, endpoint, exc),
                               unreachable=True) from None
        except CallError as exc:
            # A request queued on a dead connection would run whenever circusd
            # comes back: drop the socket, and the queue with it.
            if client is self._client:
                self._close_client()
            raise ConsoleError("circusd at %s does not answer (%s)" % (endpoint, exc),
                               unreachable=True) from None

    @staticmethod
    def _interrupted(command: str, endpoint: Optional[str]) -> ConsoleError:
        return ConsoleError("request %r to circusd at %s interrupted: the console disconnected "
                            "from it meanwhile; reload the page" % (command, endpoint),
                            unreachable=True)

    @staticmethod
    def _check(command: str, reply: Dict[str, Any]) -> Dict[str, Any]:
        if reply.get("status") == "error":
            raise ConsoleError("circusd refused %r: %s" % (command, reply.get("reason", "no reason given")))
        return reply

    async def refresh_globals(self) -> Dict[str, Any]:
        """Ask circusd its endpoints again (``globaloptions``)."""
        self.globals = (await self.call("globaloptions"))["options"]
        return self.globals

    # -- reading ---------------------------------------------------------

    async def statuses(self) -> Dict[str, str]:
        """``{watcher name: status}`` for every watcher."""
        return (await self.call("status"))["statuses"]

    async def snapshot(self) -> List[Dict[str, Any]]:
        """Every watcher as ``{"name", "status", "pids"}``, sorted by name."""
        statuses = await self.statuses()
        watchers = []
        for name in sorted(statuses, key=str.lower):
            pids = (await self.call("list", name=name))["pids"]
            watchers.append({"name": name, "status": statuses[name], "pids": sorted(pids)})
        return watchers

    async def watcher(self, name: str) -> Dict[str, Any]:
        """One watcher: ``name``, ``status``, ``processes`` [{pid, age, cpu, mem}], ``options``."""
        status = (await self.call("status", name=name))["status"]
        options = (await self.call("options", name=name))["options"]
        infos = (await self.call("stats", name=name))["info"]
        processes = []
        for pid, info in sorted(infos.items(), key=lambda item: int(item[0])):
            if not isinstance(info, dict):
                continue  # a process that died while circusd looked at it
            processes.append({"pid": int(pid), "age": info.get("age"), "cpu": info.get("cpu"),
                              "mem": info.get("mem")})
        options.pop("__name__", None)
        return {"name": name, "status": status, "processes": processes, "options": options}

    # -- acting ----------------------------------------------------------

    async def toggle(self, name: str) -> str:
        """Stop an active watcher, start any other; return the command sent."""
        status = (await self.call("status", name=name))["status"]
        command = "stop" if status == "active" else "start"
        await self.call(command, name=name, match="simple")
        return command

    async def incr(self, name: str) -> None:
        await self.call("incr", name=name, nb=1)

    async def decr(self, name: str) -> None:
        await self.call("decr", name=name, nb=1)

    async def kill(self, name: str, pid: int) -> None:
        """Stop process ``pid`` of ``name``; the watcher replaces it if it should."""
        await self.call("kill", name=name, pid=pid)

    async def add_watcher(self, name: str, cmd: str, args: str = "", numprocesses: int = 1,
                          start: bool = False) -> None:
        """The ``add`` command; ``args`` is one string, split by circusd like ``cmd``."""
        props: Dict[str, Any] = {"name": name, "cmd": cmd, "start": start,
                                 "options": {"numprocesses": numprocesses}}
        if args:
            props["args"] = args
        await self.call("add", **props)
