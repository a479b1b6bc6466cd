"""The web console in a real (headless) Chromium, driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the
``selenium`` package; each test is skipped, saying which is missing,
otherwise. Every page visited is saved as a screenshot in the test's
temp dir (``<name>.png``).
"""

import os
import shutil

import pytest

from helpers import until
from test_web_auth import PASSWORD, hash_password
from test_web_http import SLEEPER, Console, ctl, start_circusd

CHROMIUM = os.environ.get("CIRCUS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CIRCUS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]


WITH_SOCKET = """
    [socket:web]
    host = 127.0.0.1
    port = 0

    [watcher:sleeper]
    cmd = %s
    numprocesses = 2
""" % SLEEPER


def _missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return "%s not found: apt-get install %s" % (path, package)
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


class Page:
    """A Chromium window on the console, with waits and screenshots."""

    def __init__(self, driver, base, shots):
        self.driver = driver
        self.base = base
        self.shots = shots

    def open(self, path="/"):
        self.driver.get(self.base + path)

    def leave(self):
        """Go to a blank page: no load in flight, no WebSocket left to reconnect."""
        self.driver.get("about:blank")

    def shot(self, name):
        self.driver.save_screenshot(str(self.shots / ("%s.png" % name)))

    def find(self, css):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, predicate, timeout=20, what=None):
        """Poll ``predicate()`` (stale elements count as not yet) until it holds."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

        def safe():
            try:
                return predicate()
            except (NoSuchElementException, StaleElementReferenceException):
                return False

        return until(safe, timeout=timeout, interval=0.1, what=what)

    def watcher_row(self, name):
        rows = [r for r in self.finds("tbody[data-rows=watchers] tr") if r.get_attribute("data-id") == name]
        return rows[0] if rows else None

    def pids(self):
        return sorted(int(r.get_attribute("data-id")) for r in self.finds("tbody[data-rows=processes] tr"))

    def live(self):
        """Wait until the page's WebSocket delivered a live state."""
        self.wait(lambda: self.find("#link").text == "connected", what="the page to show 'connected'")


@pytest.fixture
def page(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + ["--user-data-dir=%s" % (tmp_path / "chromium-profile")]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    yield lambda base: Page(driver, base, shots)
    try:
        # Every test also checks that the page's script raised no error.
        errors = [entry["message"] for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]
    finally:
        driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)
    logs = "".join("\n--- %s:\n%s" % (log.name, log.read_text(errors="replace")[-6000:])
                   for log in sorted(tmp_path.glob("circushttpd*.log")))
    assert not errors, "errors in the browser console: %s%s" % (errors, logs)


@pytest.fixture
def setup(circusd, tmp_path, tracker, page):
    """A circusd with stats and a ``sleeper`` watcher, a console, a browser page on it."""
    consoles, views = [], []

    def make(connect=True, body=None, **circus):
        daemon = start_circusd(circusd, tmp_path, body, **circus)
        consoles.append(Console(tmp_path, tracker).start())
        views.append(page(consoles[-1].url))
        if connect:
            connect_to(views[-1], daemon.endpoint)
        return daemon, views[-1]

    yield make
    # The page leaves before the console stops, so that what the browser
    # logs is about the console at work, not about its going away.
    for view in views:
        view.leave()
    for console in consoles:
        console.close()


def connect_to(view, endpoint):
    view.open("/")
    field = view.find("#endpoint")
    assert field.get_attribute("value") == "tcp://127.0.0.1:5555"
    view.shot("connect")
    field.clear()
    field.send_keys(endpoint)
    view.find("#connect").click()
    view.wait(lambda: view.watcher_row("sleeper"), what="the sleeper row on the dashboard")
    view.live()


def test_connecting_shows_every_watcher_with_status_and_count(setup):
    daemon, view = setup()
    row = view.watcher_row("sleeper")
    assert row.find_element("css selector", "button.status").text == "active"
    view.wait(lambda: view.watcher_row("sleeper").find_element("css selector", ".count").text == "2")
    assert "connected to" in view.find("#messages").text
    view.shot("index")


def test_clicking_the_status_stops_the_watcher(setup):
    daemon, view = setup()
    view.watcher_row("sleeper").find_element("css selector", "button.status").click()
    until(lambda: ctl(daemon, "status", name="sleeper")["status"] == "stopped", timeout=20,
          what="circusd to report sleeper stopped")
    view.wait(lambda: view.watcher_row("sleeper").find_element("css selector", "button.status").text
              == "stopped", what="the page to show stopped")
    view.shot("index-stopped")
    view.watcher_row("sleeper").find_element("css selector", "button.status").click()
    until(lambda: ctl(daemon, "status", name="sleeper")["status"] == "active", timeout=20)
    view.wait(lambda: "sleeper: start sent" in view.find("#messages").text
              and view.watcher_row("sleeper").find_element("css selector", "button.status").text
              == "active", what="the page to show the start and sleeper active again")


def test_incr_shows_the_new_pid(setup):
    daemon, view = setup()
    view.watcher_row("sleeper").find_element("css selector", "a.name").click()
    view.wait(lambda: len(view.pids()) == 2, what="2 processes on the watcher page")
    view.live()
    before = view.pids()
    view.shot("watcher")
    view.find("#incr").click()
    after = view.wait(lambda: len(view.pids()) == 3 and view.pids(), what="a third process")
    new = set(after) - set(before)
    assert new and new <= set(ctl(daemon, "list", name="sleeper")["pids"])
    assert view.find("#count").text == "3"
    view.shot("watcher-incr")


def test_a_killed_process_is_replaced(setup):
    daemon, view = setup()
    view.open("/watchers/sleeper")
    view.wait(lambda: len(view.pids()) == 2)
    view.live()
    before = view.pids()
    victim = view.finds("tbody[data-rows=processes] tr")[0]
    victim_pid = int(victim.get_attribute("data-id"))
    victim.find_element("css selector", "button.kill").click()
    after = view.wait(lambda: len(view.pids()) == 2 and victim_pid not in view.pids() and view.pids(),
                      what="process %d replaced" % victim_pid)
    assert set(after) - set(before)
    assert sorted(ctl(daemon, "list", name="sleeper")["pids"]) == after
    view.shot("watcher-killed")


def test_a_watcher_added_from_the_form_runs(setup):
    daemon, view = setup()
    view.find("#add-watcher").click()
    view.wait(lambda: view.find("#name"))
    view.find("#name").send_keys("added")
    view.find("#cmd").send_keys(SLEEPER)
    view.find("#numprocesses").clear()
    view.find("#numprocesses").send_keys("2")
    view.shot("add")
    view.find("#add").click()
    view.wait(lambda: view.find("#watcher-name").text == "added", what="the new watcher's page")
    view.live()
    view.wait(lambda: len(view.pids()) == 2, what="2 processes of the added watcher")
    assert sorted(ctl(daemon, "list", name="added")["pids"]) == view.pids()
    view.shot("added")


def test_another_browser_action_shows_up_live(setup):
    daemon, view = setup()
    ctl(daemon, "add", name="late", cmd=SLEEPER, start=True)
    view.wait(lambda: view.watcher_row("late"), what="a row for the watcher added behind our back")
    view.wait(lambda: view.watcher_row("late").find_element("css selector", "button.status").text == "active")
    ctl(daemon, "stop", name="sleeper")
    view.wait(lambda: view.watcher_row("sleeper").find_element("css selector", "button.status").text
              == "stopped", what="the stop done elsewhere")
    view.shot("index-live")


def test_charts_receive_data(setup, tmp_path):
    pytest.importorskip("circus.stats.streamer", reason="circusd-stats (circus/stats) not importable yet")
    daemon, view = setup(statsd="true", stats_endpoint="ipc://%s" % (tmp_path / "stats.sock"),
                         body=WITH_SOCKET)

    def points(css):
        charts = [c for c in view.finds(css)]
        return charts and min(int(c.get_attribute("data-points") or 0) for c in charts)

    view.wait(lambda: points("tr[data-topic='stat.sleeper'] svg.chart") >= 2, timeout=30,
              what="the sleeper charts to get 2 points")
    view.wait(lambda: len(view.finds("tbody[data-rows=circus] tr")) >= 2,
              what="rows for circusd and circusd-stats")
    names = {r.find_element("css selector", ".label").text for r in view.finds("tbody[data-rows=circus] tr")}
    assert {"circusd", "circusd-stats"} <= names
    port = next(s["port"] for s in ctl(daemon, "listsockets")["sockets"] if s["name"] == "web")
    view.wait(lambda: [r.find_element("css selector", ".label").text
                       for r in view.finds("tbody[data-rows=sockets] tr")] == ["127.0.0.1:%d" % port],
              what="the hits row of socket web")
    view.wait(lambda: points("tbody[data-rows=sockets] svg.chart") >= 2, what="the hits chart")
    assert view.find("#notice").is_displayed() is False
    view.shot("index-charts")
    view.open("/watchers/sleeper")
    view.wait(lambda: points("tbody[data-rows=processes] svg.chart") >= 2, timeout=30,
              what="per-process charts")
    view.shot("watcher-charts")


def test_a_notice_says_when_stats_are_off(setup):
    daemon, view = setup()
    view.wait(lambda: view.find("#notice").is_displayed(), what="the stats notice")
    assert "statsd = true" in view.find("#notice").text
    view.shot("index-no-stats")


def test_the_page_shows_disconnected_and_recovers(setup, circusd, tmp_path):
    daemon, view = setup()
    daemon.terminate()
    view.wait(lambda: view.find("#link").text == "disconnected", what="'disconnected'")
    assert "not answering" in view.find("#notice").text
    view.shot("index-disconnected")
    start_circusd(circusd, tmp_path)
    view.live()
    view.wait(lambda: view.watcher_row("sleeper"))


@pytest.fixture
def logged_in(circusd, tmp_path, tracker, page):
    """Factory: ``(circusd, browser page)`` on a console with a login (alice); closed at teardown."""
    users = tmp_path / "users"
    users.write_text("alice:%s\n" % hash_password(PASSWORD))
    made = []

    def make(*args):
        daemon = start_circusd(circusd, tmp_path)
        console = Console(tmp_path, tracker, "--endpoint", daemon.endpoint, "--auth", users, *args).start()
        made.append((page(console.url), console))
        return daemon, made[-1][0]

    yield make
    for view, console in made:
        view.leave()
        console.close()


def log_in(view, password=None):
    """Fill and send the login form on the page shown."""
    view.wait(lambda: view.find("#password"), what="the login page")
    view.find("#username").send_keys("alice")
    view.find("#password").send_keys(password or PASSWORD)
    view.find("#login").click()


def refused(view, reason):
    """Wait for the 403 page giving ``reason``; take its "failed to load" line off the browser log."""
    view.wait(lambda: view.find("h1").text == "Error 403", what="the 403 page")
    assert reason in view.find("#error-reason").text
    severe = [e["message"] for e in view.driver.get_log("browser")
              if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
    assert severe and all("status of 403" in message for message in severe), severe


def test_logging_in_and_out(logged_in):
    daemon, view = logged_in()
    view.open("/watchers/sleeper")
    log_in(view, "wrong")
    view.wait(lambda: "wrong user name or password" in view.find("#messages").text)
    view.shot("login-refused")
    log_in(view)
    view.wait(lambda: len(view.pids()) == 2, what="the watcher page it asked for, after the login")
    view.live()  # the WebSocket gets in with the session too
    view.shot("logged-in")
    view.find("#logout").click()
    view.wait(lambda: view.find("#password"), what="the login page after logging out")
    view.open("/")
    view.wait(lambda: view.find("#password"), what="the login page: the session is over")


def test_an_expired_session_leads_back_to_the_login_page(logged_in):
    daemon, view = logged_in("--session-timeout", "3")
    view.open("/watchers/sleeper")
    log_in(view)
    view.wait(lambda: len(view.pids()) == 2, what="the watcher page, logged in")
    view.live()
    kept = view.driver.get_cookie("circus_session")
    watcher_tab = view.driver.current_window_handle
    # Another tab asks for a page until the console sends it to the login page instead.
    view.driver.switch_to.new_window("tab")

    def lands_on_login():
        view.open("/watchers/sleeper")
        return view.finds("#password")

    until(lands_on_login, timeout=20, interval=0.5, what="the login page once the session expired")
    assert view.driver.current_url.endswith("/login?next=%2Fwatchers%2Fsleeper")
    view.shot("expired-login")
    # The console itself forgot the session: the cookie, put back as a kept copy, opens nothing.
    view.driver.add_cookie({"name": kept["name"], "value": kept["value"], "path": "/"})
    view.open("/watchers/sleeper")
    view.wait(lambda: view.find("#password"), what="the login page, even with the old cookie")
    # The page left open in the first tab: its actions are refused too.
    view.driver.switch_to.window(watcher_tab)
    view.find("#incr").click()
    refused(view, "log in first")
    view.shot("expired-action")
    assert len(ctl(daemon, "list", name="sleeper")["pids"]) == 2
    # Logging in again goes back to the page asked for.
    view.open("/watchers/sleeper")
    log_in(view)
    view.wait(lambda: len(view.pids()) == 2, what="the watcher page after logging in again")


def test_a_form_with_a_tampered_csrf_token_is_refused(logged_in):
    daemon, view = logged_in()
    view.open("/watchers/sleeper")
    log_in(view)
    view.wait(lambda: len(view.pids()) == 2, what="the watcher page, logged in")
    view.live()
    field = view.find("#incr").find_element("xpath", "./parent::form//input[@name='_xsrf']")
    token = field.get_attribute("value")
    version, mask, masked, stamp = token.split("|")  # tornado's "2|mask|masked token|time"
    tampered = "|".join([version, mask, ("0" if masked[0] != "0" else "1") + masked[1:], stamp])
    view.driver.execute_script("arguments[0].value = arguments[1];", field, tampered)
    view.find("#incr").click()
    refused(view, "XSRF")
    view.shot("csrf-refused")
    assert len(ctl(daemon, "list", name="sleeper")["pids"]) == 2
    assert "circus_session" in {c["name"] for c in view.driver.get_cookies()}  # still logged in
    # The same form, untouched, works.
    view.open("/watchers/sleeper")
    view.wait(lambda: len(view.pids()) == 2)
    view.find("#incr").click()
    view.wait(lambda: "one more process" in view.find("#messages").text, what="the incr message")
    until(lambda: len(ctl(daemon, "list", name="sleeper")["pids"]) == 3, timeout=20,
          what="a third sleeper process")
