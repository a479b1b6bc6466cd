"""circushttpd --endpoint A --endpoint B: /daemons shows every daemon's watchers side by side."""

import html
import re
import time

from helpers import SLEEPER
from test_web_http import Console, Session


def daemon_in(circusd, directory, *watchers):
    daemon = circusd(directory=directory)
    daemon.write_ini("".join("[watcher:%s]\ncmd = %s\n\n" % (w, SLEEPER) for w in watchers))
    return daemon.start().wait_answering(timeout=20)


def sections(body):
    """``{endpoint: section html}`` of the daemons page."""
    found = re.findall(r'<div class="daemon" data-endpoint="([^"]+)">(.*?)</div>', body, re.S)
    return {html.unescape(endpoint): text for endpoint, text in found}


def test_the_daemons_page_shows_each_daemon_and_an_unreachable_one_without_waiting_for_it_twice(
        circusd, tracker, tmp_path):
    a = daemon_in(circusd, tmp_path / "a", "web", "worker")
    b = daemon_in(circusd, tmp_path / "b", "api")
    nobody, silent = ("ipc://%s" % (tmp_path / name) for name in ("nobody.sock", "silent.sock"))
    console = Console(tmp_path, tracker, "--endpoint", a.endpoint, "--endpoint", nobody,
                      "--endpoint", b.endpoint, "--endpoint", silent).start()
    try:
        session = Session(console.url)
        status, _, index = session.get("/")
        assert status == 200 and 'href="/daemons">Daemons (4)' in index
        started = time.monotonic()
        status, _, body = session.get("/daemons")
        elapsed = time.monotonic() - started
        assert status == 200
        found = sections(body)
        assert list(found) == [a.endpoint, nobody, b.endpoint, silent]
        assert re.findall(r'<td class="label">(\w+)</td><td class="status status-(\w+)">',
                          found[a.endpoint]) == [("web", "active"), ("worker", "active")]
        assert re.findall(r'<td class="label">(\w+)</td>', found[b.endpoint]) == ["api"]
        assert "unreachable (Timed out.)" in found[nobody] and "unreachable (Timed out.)" in found[silent]
        # The console's timeout is 3 s: one after the other, the two silent ones would take 6.
        assert elapsed < 5, "the daemons were not asked at the same time (%.1f s)" % elapsed
    finally:
        console.close()
