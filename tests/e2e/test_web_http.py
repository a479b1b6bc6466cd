"""circushttpd over HTTP and WebSocket, against a real circusd.

The console is a real subprocess serving on a port-0 socket bound by the
test and handed down as ``--fd``; circusd is a real subprocess too.
``Console`` and ``Session`` are reused by the browser tests.
"""

import asyncio
import html
import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from helpers import REPO_ROOT, SLEEPER, until
from helpers import call as ctl

EVIL = "<script>alert(1)</script>"


class Console:
    """A ``circushttpd`` subprocess on a 127.0.0.1 port-0 socket given as ``--fd``."""

    def __init__(self, directory, tracker, *args):
        self.dir = Path(directory)
        self.tracker = tracker
        self.args = [str(a) for a in args]
        self.proc = None
        self.log_path = self.dir / "circushttpd.log"

    def start(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-c", "from circus.web import circushttpd; circushttpd.main()",
                "--fd", str(listener.fileno()), "--log-level", "debug", *self.args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, pass_fds=[listener.fileno()],
                                         start_new_session=True)
        listener.close()
        self.tracker.add_root(self.proc.pid)
        until(lambda: "listening on" in self.log(), timeout=15,
              what="circushttpd to listen; log:\n%s" % self.log())
        return self

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self):
        """Stop the console; fail if it ever answered 500 or logged a traceback."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        log = self.log()
        assert "Traceback" not in log and "] 500 " not in log, "circushttpd failed; log:\n%s" % log


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    """A cookie-keeping HTTP client of the console; redirects are not followed."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def _open(self, request):
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def get(self, path):
        """``(status, headers, body)`` of GET ``path``."""
        return self._open(urllib.request.Request(self.base + path))

    def xsrf(self):
        """The ``_xsrf`` cookie, fetched with a GET of ``/`` if not there yet."""
        for cookie in self.jar:
            if cookie.name == "_xsrf":
                return cookie.value
        self.get("/")
        return self.xsrf()

    def post(self, path, data=None, xsrf=True):
        """``(status, headers, body)`` of POST ``path`` (with the token unless ``xsrf=False``)."""
        data = dict(data or {})
        if xsrf:
            data["_xsrf"] = self.xsrf()
        body = urllib.parse.urlencode(data).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def follow(self, path, data=None):
        """POST then GET the page it redirects to; ``(status, body)`` of that page."""
        status, headers, body = self.post(path, data)
        assert status == 302, (status, body[:2000])
        status, _, body = self.get(headers["Location"])
        return status, body


def start_circusd(circusd, tmp_path, body=None, **circus):
    """A circusd with a ``sleeper`` watcher (2 processes), ready to answer."""
    daemon = circusd()
    daemon.write_ini(body or """
        [watcher:sleeper]
        cmd = %s
        numprocesses = 2
    """ % SLEEPER, circus=dict({"check_delay": 0.5}, **circus))
    return daemon.start().wait_answering(timeout=20)


@pytest.fixture
def console(tmp_path, tracker):
    """Factory: ``console(*args) -> Console`` (started); stopped at teardown."""
    made = []

    def make(*args):
        made.append(Console(tmp_path, tracker, *args).start())
        return made[-1]

    yield make
    for each in made:
        each.close()


# -- connect ---------------------------------------------------------------------


def test_the_connect_page_offers_the_default_endpoint_and_connects(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console().url)
    status, _, body = session.get("/")
    assert status == 200
    assert 'value="tcp://127.0.0.1:5555"' in body
    status, body = session.follow("/connect", {"endpoint": daemon.endpoint})
    assert status == 200
    assert "connected to %s" % daemon.endpoint in body
    assert 'href="/watchers/sleeper"' in body


def test_connecting_to_a_silent_endpoint_says_so_and_stays_disconnected(console, tmp_path):
    session = Session(console().url)
    endpoint = "ipc://%s" % (tmp_path / "nobody.sock")
    status, body = session.follow("/connect", {"endpoint": endpoint})
    assert status == 200
    assert "does not answer" in body and endpoint in body
    assert 'id="endpoint"' in body  # still the connect form


def test_disconnect_returns_to_the_connect_form(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    assert 'href="/watchers/sleeper"' in session.get("/")[2]
    status, body = session.follow("/disconnect")
    assert "disconnected from" in body and 'id="endpoint"' in body
    # --endpoint stays the proposed endpoint
    assert 'value="%s"' % daemon.endpoint in body


class SlowCircusd:
    """A fake circusd: a ROUTER on an ipc path that answers only when told."""

    def __init__(self, tmp_path):
        import zmq

        self.endpoint = "ipc://%s" % (tmp_path / "slow.sock")
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(self.endpoint)
        self.waiting = []

    def received(self):
        """The command names of the requests received so far and not answered."""
        import zmq

        while self.socket.poll(0, zmq.POLLIN):
            identity, frame = self.socket.recv_multipart()
            self.waiting.append((identity, json.loads(frame)))
        return [msg["command"] for _, msg in self.waiting]

    def answer(self, **reply):
        """Answer the oldest waiting request with an ok ``reply``."""
        identity, msg = self.waiting.pop(0)
        self.socket.send_multipart([identity, json.dumps(dict(reply, id=msg["id"], status="ok")).encode()])

    def close(self):
        self.socket.close()
        self.context.term()


@pytest.fixture
def slow(tmp_path):
    fake = SlowCircusd(tmp_path)
    yield fake
    fake.close()


def _in_thread(function, *args):
    """Run ``function(*args)`` in a thread; a future of its result."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)
    return future


def test_a_page_cut_by_a_disconnect_shows_a_message(console, slow):
    url = console("--endpoint", slow.endpoint).url
    page = _in_thread(Session(url).get, "/")
    until(lambda: slow.received() == ["status"], what="the dashboard's request at circusd")
    other = Session(url)
    other.get("/add")  # the xsrf cookie, from a page that does not ask circusd
    status, headers, _ = other.post("/disconnect")
    assert status == 302
    status, _, body = page.result(timeout=15)
    assert status == 200, body
    assert "request 'status' to circusd at %s interrupted" % slow.endpoint in html.unescape(body)


def test_a_page_being_served_when_the_console_stops_gets_its_answer(console, slow):
    served = console("--endpoint", slow.endpoint)
    page = _in_thread(Session(served.url).get, "/")
    until(lambda: slow.received() == ["status"], what="the dashboard's request at circusd")
    served.proc.send_signal(signal.SIGTERM)
    until(lambda: "finishing 1 requests first" in served.log(), what="circushttpd to wait for the page")
    slow.answer(statuses={"sleeper": "active"})
    until(lambda: slow.received() == ["list"], what="the dashboard's second request")
    slow.answer(pids=[41, 42])
    status, _, body = page.result(timeout=15)
    assert status == 200 and 'href="/watchers/sleeper"' in body, body
    assert served.proc.wait(10) == 0


# -- CSRF, escaping, errors ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/watchers/sleeper/toggle", "/watchers/sleeper/decr", "/disconnect"])
def test_a_post_without_the_xsrf_token_is_refused_and_changes_nothing(circusd, console, tmp_path, path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    session.xsrf()  # the cookie alone is not enough: the form field must match it
    status, _, body = session.post(path, {"next": "/"}, xsrf=False)
    assert status == 403
    assert "_xsrf" in body and "Traceback" not in body
    assert ctl(daemon, "status", name="sleeper")["status"] == "active"
    assert ctl(daemon, "numprocesses", name="sleeper")["numprocesses"] == 2
    assert 'href="/watchers/sleeper"' in session.get("/")[2]  # still connected


def test_a_watcher_named_script_is_shown_as_text(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    reply = ctl(daemon, "add", name=EVIL, cmd=SLEEPER, start=True)
    assert reply["status"] == "ok", reply
    session = Session(console("--endpoint", daemon.endpoint).url)
    _, _, index = session.get("/")
    url = "/watchers/" + urllib.parse.quote(EVIL, safe="")
    status, _, page = session.get(url)
    assert status == 200, page
    for body in (index, page):
        assert EVIL not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert 'href="%s"' % url in index


def test_an_error_from_circusd_is_a_message_on_the_page(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    status, body = session.follow("/watchers/nope/incr", {"next": "/"})
    assert status == 200
    assert "program nope not found" in body and "msg-error" in body
    status, _, body = session.get("/watchers/nope")
    assert status == 404
    assert "program nope not found" in body and "Traceback" not in body


def test_a_redirect_never_leaves_the_site(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    for target in ("//evil.example/", "http://evil.example/", "/\\evil.example"):
        status, headers, _ = session.post("/watchers/sleeper/incr", {"next": target})
        assert status == 302 and headers["Location"] == "/", target


def test_the_add_form_checks_its_fields_and_shows_circusd_refusals(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    status, _, body = session.post("/add", {"name": "x", "cmd": SLEEPER, "numprocesses": "two"})
    assert status == 400 and "numprocesses must be a whole number" in body
    status, _, body = session.post("/add", {"name": "Sleeper", "cmd": SLEEPER, "numprocesses": "1"})
    assert status == 400 and "already exist" in body and "Traceback" not in body
    assert 'value="Sleeper"' in body  # the form keeps what was typed


def test_the_add_form_adds_and_starts_a_watcher(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    status, body = session.follow("/add", {"name": "extra", "cmd": SLEEPER, "numprocesses": "2",
                                           "start": "1"})
    assert status == 200 and "watcher extra added" in body
    until(lambda: len(ctl(daemon, "list", name="extra")["pids"]) == 2, timeout=15,
          what="2 processes of the added watcher")
    assert ctl(daemon, "status", name="extra")["status"] == "active"


def test_the_watcher_page_acts_on_circusd(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    session = Session(console("--endpoint", daemon.endpoint).url)
    until(lambda: len(ctl(daemon, "list", name="sleeper")["pids"]) == 2, timeout=15)
    pids = ctl(daemon, "list", name="sleeper")["pids"]
    status, _, page = session.get("/watchers/sleeper")
    assert status == 200 and all('value="%d"' % pid in page for pid in pids)
    assert "numprocesses" in page  # the options table
    session.follow("/watchers/sleeper/incr", {"next": "/watchers/sleeper"})
    until(lambda: ctl(daemon, "numprocesses", name="sleeper")["numprocesses"] == 3, timeout=15)
    session.follow("/watchers/sleeper/kill", {"next": "/watchers/sleeper", "pid": str(pids[0])})
    until(lambda: pids[0] not in ctl(daemon, "list", name="sleeper")["pids"], timeout=15,
          what="the killed process to go")
    status, body = session.follow("/watchers/sleeper/toggle", {"next": "/watchers/sleeper"})
    assert "sleeper: stop sent" in body
    until(lambda: ctl(daemon, "status", name="sleeper")["status"] == "stopped", timeout=15)


# -- the WebSocket --------------------------------------------------------------------


class Feed:
    """The console's WebSocket, read from a private event loop."""

    def __init__(self, url):
        self.loop = asyncio.new_event_loop()
        self.ws = self.loop.run_until_complete(self._connect(url.replace("http://", "ws://") + "/socket"))

    @staticmethod
    async def _connect(url):
        from tornado.websocket import websocket_connect

        return await websocket_connect(url)

    def wait(self, predicate, timeout=20, what="a message"):
        """The first message for which ``predicate(message)`` holds."""
        async def read():
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self.ws.read_message()
                    assert raw is not None, "the console closed the WebSocket"
                    message = json.loads(raw)
                    if predicate(message):
                        return message
        try:
            return self.loop.run_until_complete(read())
        except TimeoutError:
            raise AssertionError("timed out waiting for %s" % what) from None

    def close(self):
        async def close():
            self.ws.close()

        self.loop.run_until_complete(close())
        self.loop.close()


def test_the_feed_reports_circusd_going_away_and_coming_back(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    feed = Feed(console("--endpoint", daemon.endpoint).url)
    try:
        state = feed.wait(lambda m: m["type"] == "state" and m["alive"], what="a live state")
        assert [w["name"] for w in state["watchers"]] == ["sleeper"]
        daemon.terminate()
        state = feed.wait(lambda m: m["type"] == "state" and not m["alive"], what="disconnected")
        assert "does not answer" in state["error"]
        start_circusd(circusd, tmp_path)
        feed.wait(lambda m: m["type"] == "state" and m["alive"], what="connected again")
    finally:
        feed.close()


def test_the_feed_streams_stats_at_most_once_a_second(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path, statsd="true",
                           stats_endpoint="ipc://%s" % (tmp_path / "stats.sock"))
    feed = Feed(console("--endpoint", daemon.endpoint).url)
    try:
        feed.wait(lambda m: m["type"] == "state" and m["alive"] and m["stats"]["receiving"],
                  what="stats received")
        loop_time = feed.loop.time
        seen = []
        for _ in range(3):
            message = feed.wait(lambda m: m["type"] == "stats" and "stat.sleeper" in m["stats"],
                                what="sleeper stats")
            seen.append(loop_time())
        assert set(message["stats"]["stat.sleeper"]) >= {"cpu", "mem", "age"}
        assert any(t.startswith("stat.circus.") for t in message["stats"])
        assert all(b - a > 0.5 for a, b in zip(seen, seen[1:])), seen
    finally:
        feed.close()


def test_the_feed_says_when_no_stats_arrive(circusd, console, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    feed = Feed(console("--endpoint", daemon.endpoint).url)
    try:
        state = feed.wait(lambda m: m["type"] == "state" and m["alive"], what="a live state")
        assert state["stats"]["receiving"] is False
        assert "circusd-stats" not in [w["name"] for w in state["watchers"]]
    finally:
        feed.close()


def test_a_websocket_from_another_site_is_refused(circusd, console, tmp_path):
    url = console().url
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    async def attempt():
        request = HTTPRequest(url.replace("http://", "ws://") + "/socket",
                              headers={"Origin": "http://evil.example"})
        await websocket_connect(request)

    with pytest.raises(HTTPClientError) as refused:
        asyncio.run(attempt())
    assert refused.value.code == 403


# -- command line and circusd integration -------------------------------------------------


def test_version_prints_the_version():
    from circus import __version__

    out = subprocess.run([sys.executable, "-c", "from circus.web import circushttpd; circushttpd.main()",
                          "--version"], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert out.returncode == 0 and out.stdout.strip() == __version__


def test_circusd_with_httpd_runs_the_console_connected_to_itself(circusd, tmp_path):
    daemon = start_circusd(circusd, tmp_path, httpd="true", httpd_host="127.0.0.1", httpd_port=0)
    sockets = ctl(daemon, "listsockets")["sockets"]
    port = next(s["port"] for s in sockets if s["name"] == "circushttpd")
    session = Session("http://127.0.0.1:%d" % port)

    def dashboard():
        try:
            return session.get("/")[2]
        except OSError:
            return ""

    body = until(lambda: 'href="/watchers/sleeper"' in dashboard() and dashboard(), timeout=20,
                 what="the console run by circusd; log:\n%s" % daemon.log()[-3000:])
    assert daemon.endpoint in body
    assert 'href="/watchers/circushttpd"' in body
