"""The pages and actions of the web console, and its WebSocket.

Pages are GET; every action that changes anything is a POST carrying
tornado's ``_xsrf`` token, answered by a redirect back to the page it came
from (post/redirect/get), with the outcome shown as a one-shot message.
Errors from circusd become such messages, never tracebacks.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Dict, List, Optional, Union
from urllib.parse import quote

import tornado.web
import tornado.websocket

from circus import __version__
from circus.web.auth import local_path, require_login, session_user
from circus.web.controller import ConsoleError, Controller
from circus.web.live import LiveFeed

FLASH_COOKIE = "circus_flash"


class InFlight:
    """Counts the page requests being served, so that a shutdown can let them finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self) -> None:
        self.count += 1
        self._idle.clear()

    def end(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for no request in flight; True if none is."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


def watcher_url(name: str, action: str = "") -> str:
    """``/watchers/<name>[/<action>]`` with the name percent-encoded (slashes too)."""
    return "/watchers/" + quote(name, safe="") + ("/" + action if action else "")


class BaseHandler(tornado.web.RequestHandler):
    """Shared plumbing: the controller, the feed, messages, error pages."""

    _counted = False

    def prepare(self) -> None:
        require_login(self)
        self.application.settings["in_flight"].begin()
        self._counted = True

    def on_finish(self) -> None:
        # Also runs after an error page, when the browser went away, and for
        # a request refused before prepare() (XSRF), which was not counted.
        if self._counted:
            self._counted = False
            self.application.settings["in_flight"].end()

    @property
    def controller(self) -> Controller:
        return self.application.settings["controller"]

    @property
    def feed(self) -> LiveFeed:
        return self.application.settings["feed"]

    def get_template_namespace(self) -> Dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            version=__version__,
            controller=self.controller,
            messages=self._take_messages(),
            watcher_url=watcher_url,
            default_endpoint=self.application.settings["default_endpoint"],
            endpoints=self.application.settings.get("endpoints", []),
            user=session_user(self),
        )
        return namespace

    # -- one-shot messages -------------------------------------------------

    def flash(self, kind: str, text: str) -> None:
        """Queue a message (``kind`` is ``ok`` or ``error``) for the next page shown."""
        messages = self._read_messages() + [[kind, text]]
        self.set_signed_cookie(FLASH_COOKIE, json.dumps(messages[-5:]), expires_days=None,
                               httponly=True, samesite="Strict")

    def _read_messages(self) -> List[List[str]]:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if not raw:
            return []
        try:
            messages = json.loads(raw)
        except ValueError:
            return []
        return [m for m in messages if isinstance(m, list) and len(m) == 2]

    def _take_messages(self) -> List[List[str]]:
        if not hasattr(self, "_messages"):
            self._messages = self._read_messages()
            if self._messages:
                self.clear_cookie(FLASH_COOKIE)
        return self._messages

    # -- actions -----------------------------------------------------------

    def back(self, default: str = "/") -> None:
        """Redirect to the local path in the ``next`` field, else ``default``."""
        target = self.get_body_argument("next", default)
        self.redirect(target if local_path(target) == target else default)

    async def act(self, action: Callable[[], Awaitable[object]], success: Optional[str], default: str = "/") -> None:
        """Await ``action()``; flash ``success`` or the error; redirect back."""
        try:
            await action()
        except ConsoleError as exc:
            self.flash("error", str(exc))
        else:
            if success:
                self.flash("ok", success)
        self.feed.poke()
        self.back(default)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """An error page with the reason, never a traceback."""
        reason = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            reason = exc.log_message % exc.args if exc.args else exc.log_message
        self.render("error.html", status_code=status_code, reason=reason)


class IndexHandler(BaseHandler):
    """The dashboard when connected, else the connect form."""

    async def get(self) -> None:
        if not self.controller.connected:
            self.render("connect.html")
            return
        try:
            watchers, error = await self.controller.snapshot(), None
        except ConsoleError as exc:
            watchers, error = [], str(exc)
        self.render("index.html", watchers=watchers, error=error)


class ConnectHandler(BaseHandler):
    async def post(self) -> None:
        endpoint = self.get_body_argument("endpoint", "")

        async def connect():
            await self.controller.connect(endpoint)

        await self.act(connect, "connected to %s" % endpoint.strip())


class DisconnectHandler(BaseHandler):
    async def post(self) -> None:
        endpoint = self.controller.endpoint

        async def disconnect():
            self.controller.disconnect()

        await self.act(disconnect, "disconnected from %s" % endpoint if endpoint else None)


class WatcherHandler(BaseHandler):
    """A watcher's page: processes, numprocesses buttons, options."""

    async def get(self, name: str) -> None:
        if not self.controller.connected:
            self.redirect("/")
            return
        try:
            watcher = await self.controller.watcher(name)
        except ConsoleError as exc:
            if exc.unreachable:
                raise tornado.web.HTTPError(503, "%s", exc) from None
            raise tornado.web.HTTPError(404, "%s", exc) from None
        self.render("watcher.html", watcher=watcher)


class WatcherActionHandler(BaseHandler):
    """POST /watchers/<name>/<toggle|incr|decr|kill>."""

    async def post(self, name: str, action: str) -> None:
        controller = self.controller
        if action == "toggle":
            async def run():
                command = await controller.toggle(name)
                self.flash("ok", "%s: %s sent" % (name, command))
            await self.act(run, None)
        elif action == "incr":
            await self.act(lambda: controller.incr(name), "%s: one more process" % name)
        elif action == "decr":
            await self.act(lambda: controller.decr(name), "%s: one process less" % name)
        elif action == "kill":
            pid = self._pid()
            await self.act(lambda: controller.kill(name, pid), "%s: process %d killed" % (name, pid))
        else:
            raise tornado.web.HTTPError(404, "unknown action %r", action)

    def _pid(self) -> int:
        raw = self.get_body_argument("pid", "")
        try:
            return int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, "pid must be a number, not %r", raw) from None


class AddWatcherHandler(BaseHandler):
    """The add-watcher form and its POST (the ``add`` command)."""

    def get(self) -> None:
        if not self.controller.connected:
            self.redirect("/")
            return
        self.render("add.html", form={}, error=None)

    async def post(self) -> None:
        form: Dict[str, Any] = {key: self.get_body_argument(key, "").strip()
                                for key in ("name", "cmd", "args", "numprocesses")}
        form["start"] = self.get_body_argument("start", "") != ""
        error = self._check(form)
        if error is None:
            try:
                await self.controller.add_watcher(form["name"], form["cmd"], form["args"],
                                                  int(form["numprocesses"]), form["start"])
            except ConsoleError as exc:
                error = str(exc)
        if error is not None:
            self.set_status(400)
            self.render("add.html", form=form, error=error)
            return
        self.feed.poke()
        self.flash("ok", "watcher %s added" % form["name"])
        self.redirect(watcher_url(form["name"]))

    @staticmethod
    def _check(form: Dict[str, Any]) -> Optional[str]:
        if not form["name"]:
            return "the watcher needs a name"
        if not form["cmd"]:
            return "the watcher needs a command"
        form["numprocesses"] = form["numprocesses"] or "1"
        if not form["numprocesses"].isdigit():
            return "numprocesses must be a whole number, not %r" % form["numprocesses"]
        return None


class LiveSocket(tornado.websocket.WebSocketHandler):
    """Pushes the live feed's messages (JSON) to one page; reads nothing.

    tornado's default ``check_origin`` refuses pages of other sites, which
    is the WebSocket's CSRF protection.
    """

    def prepare(self) -> None:
        require_login(self)  # with httpd_auth, no session: 403 before the upgrade

    def open(self) -> None:
        self.feed: LiveFeed = self.application.settings["feed"]
        self.feed.add(self.push)

    def push(self, message: Dict[str, Any]) -> None:
        try:
            self.write_message(json.dumps(message))
        except tornado.websocket.WebSocketClosedError:
            self.feed.remove(self.push)

    def on_message(self, message: Union[str, bytes]) -> None:
        pass  # the page only listens

    def on_close(self) -> None:
        self.feed.remove(self.push)
