"""reloadconfig (the command, with ``waiting``, and SIGHUP) through a real circusd.

Each test starts circusd on an ini, rewrites the ini and reloads, then checks
what changed and, as importantly, what did not: the pids of untouched
watchers, the sockets, the replies. ``via`` runs a scenario through the
``reloadconfig`` command (whose reply carries ``changes``) or through SIGHUP
(whose end is read from circusd's log).
"""

import re
import signal
import socket
import textwrap

import psutil
import pytest

from circus.client import CircusClient
from helpers import Subscriber, http_get_tcp, http_get_unix, listening_ports, not_error, pid_alive, until

VIA = ["command", "sighup"]
# What circusd logs at the end of a reload, whatever started it.
RELOAD_DONE = re.compile(r"configuration reloaded|reload failed")
STATSD = "circus.plugins.statsd.StatsdEmitter"
EMPTY_CHANGES = {
    "circus_applied": {},
    "circus_needs_restart": [],
    "sockets_added": [],
    "sockets_removed": [],
    "sockets_changed": [],
    "watchers_added": [],
    "watchers_removed": [],
    "watchers_replaced": [],
    "watchers_resized": {},
}


class Running:
    """A started circusd, a blocking client of it, and the ways to reload it."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.client = CircusClient(endpoint=daemon.endpoint, timeout=20)

    def call(self, command, **props):
        """The reply of an ok command (AssertionError on an error reply)."""
        return not_error(self.client.send_message(command, **props))

    def write(self, body, circus=None):
        self.daemon.write_ini(body, circus=circus)

    def reload(self, via):
        """Reload the ini; the ``changes`` of the reply (command) or None (SIGHUP)."""
        if via == "command":
            return self.call("reloadconfig", waiting=True)["changes"]
        line = self.sighup()
        assert "configuration reloaded" in line, line
        return None

    def sighup(self):
        """Send SIGHUP and wait for the reload to end; the log line that says how."""
        done = len(RELOAD_DONE.findall(self.daemon.log()))
        self.daemon.signal(signal.SIGHUP)
        until(lambda: len(RELOAD_DONE.findall(self.daemon.log())) > done, timeout=20,
              what="the end of the SIGHUP reload in the log:\n%s" % self.daemon.log()[-2000:])  # fmt: skip
        return [line for line in self.daemon.log().splitlines() if RELOAD_DONE.search(line)][done]

    def pids(self, name):
        """Pids of watcher ``name`` as circusd's ``list`` gives them."""
        return sorted(self.call("list", name=name)["pids"])

    def watchers(self):
        return self.call("list")["watchers"]

    def sockets(self):
        return {s["name"]: s for s in self.call("listsockets")["sockets"]}

    def close(self):
        self.client.stop()


@pytest.fixture
def start(circusd):
    """``start(body, circus=None) -> Running``: circusd on ``body``, answering."""
    made = []

    def run(body, circus=None):
        daemon = circusd()
        daemon.write_ini(body, circus=circus)
        daemon.start()
        running = Running(daemon)
        made.append(running)
        daemon.wait_answering()
        return running

    yield run
    for running in made:
        running.close()


def reserved_port():
    """A socket holding a free 127.0.0.1 port without listening, and the port.

    circusd's sockets set SO_REUSEADDR, so circusd can bind and listen on the
    port while this socket keeps anyone else from taking it.
    """
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    return holder, holder.getsockname()[1]


def unix_sockets(pid):
    """Paths of the unix sockets process ``pid`` has open."""
    return {c.laddr for c in psutil.Process(pid).net_connections(kind="unix") if c.laddr}


def subscribed(running, probe_watcher):
    """A Subscriber to circusd's ``watcher.`` events, synchronised: setting an
    option to its own value publishes ``updated`` and changes nothing."""
    events = Subscriber(running.daemon.pubsub_endpoint)
    events.synchronise(lambda: running.call("set", name=probe_watcher, options={"graceful_timeout": 2}),
                       topic="watcher.%s.updated" % probe_watcher)  # fmt: skip
    return events


# -- watchers ---------------------------------------------------------------

WATCHERS_BEFORE = """
[watcher:keep]
cmd = {keep}
graceful_timeout = 2

[watcher:gone]
cmd = {gone}
numprocesses = 2
graceful_timeout = 2

[watcher:change]
cmd = {change}
graceful_timeout = 2

[watcher:size]
cmd = {size}
graceful_timeout = 2
"""

WATCHERS_AFTER = """
[watcher:keep]
cmd = {keep}
graceful_timeout = 2

[watcher:change]
cmd = {change2}
graceful_timeout = 2

[watcher:size]
cmd = {size}
graceful_timeout = 2
numprocesses = {size_n}

[watcher:new]
cmd = {new}
graceful_timeout = 2
"""


def watcher_cmds(workers):
    cmds = {name: workers.cmd(name) for name in ("keep", "change", "size", "new")}
    cmds["gone"] = workers.cmd("gone", "record-stop")
    cmds["change2"] = workers.cmd("change", "version=2")
    return cmds


@pytest.mark.parametrize("via", VIA)
def test_watchers_are_added_removed_replaced_and_resized_and_the_rest_is_untouched(via, start, workers):
    cmds = watcher_cmds(workers)
    circus = start(WATCHERS_BEFORE.format(**cmds))
    daemon = circus.daemon
    keep = daemon.wait_pids("keep", 1)
    gone = daemon.wait_pids("gone", 2)
    for pid in gone:  # ready: its SIGTERM handler records the stop
        workers.report("gone", pid)
    (change,) = daemon.wait_pids("change", 1)
    (size,) = daemon.wait_pids("size", 1)
    events = subscribed(circus, "keep")
    try:
        circus.write(WATCHERS_AFTER.format(size_n=3, **cmds))
        changes = circus.reload(via)
        removal = events.collect("watcher.gone.stop")
    finally:
        events.close()
    if changes is not None:
        assert changes == dict(EMPTY_CHANGES, watchers_added=["new"], watchers_removed=["gone"],
                               watchers_replaced=["change"], watchers_resized={"size": 3})  # fmt: skip
    assert circus.watchers() == ["change", "keep", "new", "size"]
    # Removed: each process asked to stop (SIGTERM), reaped, then the watcher stopped.
    assert not any(pid_alive(pid) for pid in gone)
    assert sorted(s["pid"] for s in workers.stops("gone")) == gone
    topics = [topic for topic, _ in removal if topic.startswith("watcher.gone.")]
    assert topics[0] == "watcher.gone.remove" and topics[-1] == "watcher.gone.stop", topics
    assert sorted(topics[1:-1]) == ["watcher.gone.kill"] * 2 + ["watcher.gone.reap"] * 2, topics
    reaps = [payload for topic, payload in removal if topic == "watcher.gone.reap"]
    assert sorted(r["process_pid"] for r in reaps) == gone and {r["exit_code"] for r in reaps} == {0}
    # Replaced: a new process running the new command.
    (changed,) = daemon.wait_pids("change", 1)
    assert changed != change and not pid_alive(change)
    assert workers.report("change", changed)["argv"][-1] == "--version=2"
    # Resized in place: the old process kept, two more beside it.
    grown = daemon.wait_pids("size", 3)
    assert size in grown and circus.pids("size") == grown
    assert daemon.wait_pids("new", 1) == circus.pids("new")
    assert daemon.pids("keep") == keep == circus.pids("keep")
    new = circus.pids("new")

    # Back to one process: the change is seen again (the new file is the reference now).
    circus.write(WATCHERS_AFTER.format(size_n=1, **cmds))
    changes = circus.reload(via)
    if changes is not None:
        assert changes == dict(EMPTY_CHANGES, watchers_resized={"size": 1})
    (shrunk,) = daemon.wait_pids("size", 1)
    assert shrunk in grown, "resizing down replaced the processes instead of keeping one"
    assert circus.call("numprocesses", name="size")["numprocesses"] == 1
    assert (daemon.pids("keep"), circus.pids("new"), daemon.pids("change")) == (keep, new, [changed])

    # The same file again: nothing to do, nothing touched.
    changes = circus.reload(via)
    if changes is not None:
        assert changes == EMPTY_CHANGES
    assert {n: circus.pids(n) for n in ("keep", "new", "change", "size")} == \
        {"keep": keep, "new": new, "change": [changed], "size": [shrunk]}
    assert daemon.alive() and "Traceback" not in daemon.log()


# -- sockets ----------------------------------------------------------------

SOCKETS_BEFORE = """
[socket:web]
host = 127.0.0.1
port = {port1}

[socket:idle]
path = {idle}

[watcher:web]
cmd = {web}
numprocesses = 2
use_sockets = true
graceful_timeout = 2

[watcher:keep]
cmd = {keep}
graceful_timeout = 2
"""

SOCKETS_AFTER = """
[socket:web]
host = 127.0.0.1
port = {port2}

[socket:extra]
path = {extra}

[watcher:web]
cmd = {web}
numprocesses = 2
use_sockets = true
graceful_timeout = 2

[watcher:extra]
cmd = {extra_cmd}
use_sockets = true
graceful_timeout = 2

[watcher:keep]
cmd = {keep}
graceful_timeout = 2
"""


@pytest.mark.parametrize("via", VIA)
def test_sockets_are_added_removed_and_rebound_with_their_watchers_restarted(via, start, workers, tmp_path):
    holder1, port1 = reserved_port()
    holder2, port2 = reserved_port()
    try:
        names = {
            "port1": port1, "port2": port2, "idle": tmp_path / "idle.sock", "extra": tmp_path / "extra.sock",
            "web": workers.cmd("web", "http=$(circus.sockets.web)"),
            "extra_cmd": workers.cmd("extra", "http=$(circus.sockets.extra)"),
            "keep": workers.cmd("keep"),
        }  # fmt: skip
        circus = start(SOCKETS_BEFORE.format(**names))
        daemon = circus.daemon
        old_web = daemon.wait_pids("web", 2)
        keep = daemon.wait_pids("keep", 1)
        for pid in old_web:
            workers.report("web", pid)
        assert int(http_get_tcp("127.0.0.1", port1)) in old_web
        assert (tmp_path / "idle.sock").exists()
        before = circus.sockets()

        circus.write(SOCKETS_AFTER.format(**names))
        changes = circus.reload(via)
        if changes is not None:
            assert changes == dict(EMPTY_CHANGES, sockets_added=["extra"], sockets_removed=["idle"],
                                   sockets_changed=["web"], watchers_added=["extra"],
                                   watchers_replaced=["web"])  # fmt: skip
        after = circus.sockets()
        assert sorted(after) == ["extra", "web"]
        assert after["web"]["port"] == port2 and after["extra"]["path"] == str(tmp_path / "extra.sock")
        # The removed unix socket is closed and its file gone.
        assert not (tmp_path / "idle.sock").exists()
        assert str(tmp_path / "idle.sock") not in unix_sockets(daemon.pid)
        assert str(tmp_path / "extra.sock") in unix_sockets(daemon.pid)
        # web: circusd listens on the new port only, served by new workers.
        until(lambda: listening_ports(daemon.pid) == [port2], timeout=5,
              what="circusd to listen on %d only (has %s)" % (port2, listening_ports(daemon.pid)))  # fmt: skip
        new_web = daemon.wait_pids("web", 2)
        assert not set(new_web) & set(old_web) and not any(pid_alive(p) for p in old_web)
        for pid in new_web:
            workers.report("web", pid)
        assert int(http_get_tcp("127.0.0.1", port2)) in new_web
        with pytest.raises(ConnectionRefusedError):
            http_get_tcp("127.0.0.1", port1, timeout=2)
        # extra: bound, and its new watcher serves HTTP on it.
        (extra,) = daemon.wait_pids("extra", 1)
        workers.report("extra", extra)
        assert int(http_get_unix(tmp_path / "extra.sock")) == extra
        assert daemon.pids("keep") == keep
    finally:
        holder1.close()
        holder2.close()


# -- broken files -------------------------------------------------------------

BROKEN_BASE = """
[socket:web]
path = {sock}

[watcher:web]
cmd = {web}
use_sockets = true
graceful_timeout = 2

[watcher:keep]
cmd = {keep}
numprocesses = 2
graceful_timeout = 2
"""

# (what is wrong, text appended to a file that also adds a watcher, a word the reason must contain)
BROKEN = [
    ("syntax error", "\n[watcher:added]\ncmd = {added}\nthis line has no equals sign\n", "line"),
    ("unknown section", "\n[watcher:added]\ncmd = {added}\n\n[frobnicate:x]\nkey = 1\n", "frobnicate"),
    ("bad value", "\n[watcher:added]\ncmd = {added}\nnumprocesses = many\n", "many"),
    ("socket that cannot bind", "\n[watcher:added]\ncmd = {added}\n\n[socket:taken]\nhost = 127.0.0.1\n"
     "port = {taken}\n", "taken"),
]  # fmt: skip


def snapshot(circus):
    """Everything a failed reload must leave as it was."""
    return {
        "watchers": circus.watchers(),
        "pids": {name: circus.pids(name) for name in ("web", "keep")},
        "children": sorted(p.pid for p in circus.daemon.children()),
        "sockets": circus.sockets(),
        "options": circus.call("globaloptions")["options"],
    }


@pytest.mark.parametrize("via", VIA)
def test_a_broken_file_is_refused_with_its_reason_and_changes_nothing(via, start, workers, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        names = {"sock": tmp_path / "web.sock", "web": workers.cmd("web", "http=$(circus.sockets.web)"),
                 "keep": workers.cmd("keep"), "added": workers.cmd("added"),
                 "taken": listener.getsockname()[1]}  # fmt: skip
        base = BROKEN_BASE.format(**names)
        circus = start(base)
        circus.daemon.wait_pids("web", 1)
        circus.daemon.wait_pids("keep", 2)
        before = snapshot(circus)
        for what, extra, word in BROKEN:
            circus.write(base + extra.format(**names))
            if via == "command":
                reply = circus.client.send_message("reloadconfig", waiting=True)
                assert (reply["status"], reply["errno"]) == ("error", 6), (what, reply)
                reason = reply["reason"]
                if what != "socket that cannot bind":
                    assert str(circus.daemon.ini) in reason, "%s: the reason does not name the file: %s" % (what,
                                                                                                            reason)
            else:
                reason = circus.sighup()
                assert "reload failed" in reason, (what, reason)
            assert word in reason, "%s: %s" % (what, reason)
            assert snapshot(circus) == before, what
            assert workers.reports("added") == [], "%s: a watcher of the broken file was started" % what
        assert int(http_get_unix(tmp_path / "web.sock")) in before["pids"]["web"]
        # Fixed, the same file applies: circusd was not left in a half-reloaded state.
        circus.write(base + "\n[watcher:added]\ncmd = {added}\n".format(**names))
        circus.reload(via)
        circus.daemon.wait_pids("added", 1)
        assert {n: circus.pids(n) for n in ("web", "keep")} == before["pids"]
        assert circus.daemon.alive() and "Traceback" not in circus.daemon.log()
    finally:
        listener.close()


# -- [circus] -------------------------------------------------------------------


def statsd_section(port, name="statsd"):
    return "\n[plugin:%s]\nuse = %s\nhost = 127.0.0.1\nport = %d\napplication_name = e2e\n" % (name, STATSD, port)


class StatsdServer:
    """A UDP socket playing statsd: the lines the plugin sends."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.lines = []

    def counts(self, circus, watcher):
        """True once the plugin counted an event of ``watcher`` (events are made meanwhile)."""
        metric = "circus.e2e.watcher.%s.updated:1|c" % watcher

        def counted():
            circus.call("set", name=watcher, options={"graceful_timeout": 2})
            try:
                while True:
                    self.lines.append(self.sock.recv(65535).decode())
            except socket.timeout:
                pass
            return metric in self.lines

        until(counted, timeout=15, what="%s from the statsd plugin (got %s)" % (metric, self.lines[-5:]))
        return True

    def close(self):
        self.sock.close()


def plugin_pid(circus, name="statsd"):
    (pid,) = circus.pids("plugin:" + name)
    return pid


@pytest.mark.parametrize("via", VIA)
def test_circus_options_live_ones_applied_the_others_reported_and_nothing_broken(via, start, workers, tmp_path):
    statsd = StatsdServer()
    try:
        body = "[watcher:keep]\ncmd = %s\ngraceful_timeout = 2\n" % workers.cmd("keep") + statsd_section(statsd.port)
        circus = start(body, circus={"check_delay": 1})
        daemon = circus.daemon
        keep = daemon.wait_pids("keep", 1)
        until(lambda: circus.pids("plugin:statsd"), timeout=10, what="the plugin process")
        endpoints = circus.call("globaloptions")["options"]
        moved = {"endpoint": "ipc://%s" % (tmp_path / "moved-ctl.sock"),
                 "pubsub_endpoint": "ipc://%s" % (tmp_path / "moved-pub.sock")}  # fmt: skip

        circus.write(body, circus=dict(moved, check_delay=2.5))
        changes = circus.reload(via)
        if changes is not None:
            assert changes["circus_applied"] == {"check_delay": 2.5}
            assert sorted(changes["circus_needs_restart"]) == ["endpoint", "pubsub_endpoint"]
        options = circus.call("globaloptions")["options"]
        assert options["check_delay"] == 2.5
        assert {k: options[k] for k in moved} == {k: endpoints[k] for k in moved}
        assert not (tmp_path / "moved-ctl.sock").exists()
        if via == "sighup":
            assert re.search(r"endpoint.*restart", daemon.log()), daemon.log()[-2000:]
        assert daemon.pids("keep") == keep
        # The plugin still talks to the endpoints circusd really uses.
        pid = plugin_pid(circus)
        cmdline = " ".join(psutil.Process(pid).cmdline())
        assert endpoints["endpoint"] in cmdline and moved["endpoint"] not in cmdline, cmdline
        assert statsd.counts(circus, "keep")
        assert daemon.alive() and "Traceback" not in daemon.log()
    finally:
        statsd.close()


# -- plugins ------------------------------------------------------------------


@pytest.mark.parametrize("via", VIA)
def test_plugins_are_added_and_removed_and_an_unchanged_one_is_left_running(via, start, workers):
    statsd = StatsdServer()
    try:
        body = "[watcher:keep]\ncmd = %s\ngraceful_timeout = 2\n" % workers.cmd("keep")
        circus = start(body)
        keep = circus.daemon.wait_pids("keep", 1)
        assert circus.watchers() == ["keep"]

        circus.write(body + statsd_section(statsd.port))
        changes = circus.reload(via)
        if changes is not None:
            assert changes == dict(EMPTY_CHANGES, watchers_added=["plugin:statsd"])
        assert circus.watchers() == ["keep", "plugin:statsd"]
        pid = until(lambda: circus.pids("plugin:statsd"), timeout=10, what="the plugin process")[0]
        assert statsd.counts(circus, "keep")

        # A reload that does not touch the plugin leaves its process alone.
        circus.write(body + statsd_section(statsd.port) + "\n[watcher:other]\ncmd = %s\n" % workers.cmd("other"))
        changes = circus.reload(via)
        if changes is not None:
            assert changes == dict(EMPTY_CHANGES, watchers_added=["other"])
        circus.daemon.wait_pids("other", 1)
        assert circus.pids("plugin:statsd") == [pid]

        circus.write(body + "\n[watcher:other]\ncmd = %s\n" % workers.cmd("other"))
        changes = circus.reload(via)
        if changes is not None:
            assert changes == dict(EMPTY_CHANGES, watchers_removed=["plugin:statsd"])
        assert circus.watchers() == ["keep", "other"]
        until(lambda: not pid_alive(pid), timeout=10, what="the plugin process to end")
        assert circus.daemon.pids("keep") == keep
    finally:
        statsd.close()


def test_reloadconfig_without_waiting_replies_at_once_and_applies_later(start, workers):
    circus = start("[watcher:keep]\ncmd = %s\n" % workers.cmd("keep"))
    keep = circus.daemon.wait_pids("keep", 1)
    circus.write(textwrap.dedent("""
        [watcher:keep]
        cmd = %s

        [watcher:later]
        cmd = %s
        """) % (workers.cmd("keep"), workers.cmd("later")))
    reply = circus.call("reloadconfig")
    assert set(reply) == {"status", "time", "id"}
    circus.daemon.wait_pids("later", 1)
    until(lambda: circus.watchers() == ["keep", "later"], timeout=5, what="the watcher listed")
    assert circus.daemon.pids("keep") == keep


# -- sockets: the harder cases ------------------------------------------------------

SAME_ADDRESS = """
[socket:web]
host = 127.0.0.1
port = {port}
backlog = {backlog}

[socket:local]
path = {local}
backlog = {backlog}

[watcher:web]
cmd = {web}
use_sockets = true
graceful_timeout = 2

[watcher:local]
cmd = {local_cmd}
use_sockets = true
graceful_timeout = 2
"""


def test_sockets_changed_but_kept_at_the_same_address_are_rebound_and_their_watchers_restarted(
    start, workers, tmp_path
):
    holder, port = reserved_port()
    try:
        names = {"port": port, "local": tmp_path / "local.sock",
                 "web": workers.cmd("web", "http=$(circus.sockets.web)"),
                 "local_cmd": workers.cmd("local", "http=$(circus.sockets.local)")}  # fmt: skip
        circus = start(SAME_ADDRESS.format(backlog=10, **names))
        (web,) = circus.daemon.wait_pids("web", 1)
        (local,) = circus.daemon.wait_pids("local", 1)
        circus.write(SAME_ADDRESS.format(backlog=20, **names))
        changes = circus.reload("command")
        assert changes == dict(EMPTY_CHANGES, sockets_changed=["local", "web"], watchers_replaced=["local", "web"])
        sockets = circus.sockets()
        assert (sockets["web"]["port"], sockets["web"]["backlog"], sockets["local"]["backlog"]) == (port, 20, 20)
        (new_web,) = circus.daemon.wait_pids("web", 1)
        (new_local,) = circus.daemon.wait_pids("local", 1)
        assert (new_web, new_local) != (web, local)
        workers.report("web", new_web)
        workers.report("local", new_local)
        assert int(http_get_tcp("127.0.0.1", port)) == new_web
        assert int(http_get_unix(tmp_path / "local.sock")) == new_local
    finally:
        holder.close()


def test_removing_a_socket_a_kept_watcher_still_uses_is_refused_and_changes_nothing(start, workers, tmp_path):
    body = "[watcher:web]\ncmd = %s\nuse_sockets = true\ngraceful_timeout = 2\n" % workers.cmd(
        "web", "http=$(circus.sockets.web)")
    circus = start("[socket:web]\npath = %s\n\n%s" % (tmp_path / "web.sock", body))
    (web,) = circus.daemon.wait_pids("web", 1)
    before = circus.sockets()
    circus.write(body)
    reply = circus.client.send_message("reloadconfig", waiting=True)
    assert (reply["status"], reply["errno"]) == ("error", 6), reply
    assert "web" in reply["reason"] and "socket" in reply["reason"], reply
    assert circus.sockets() == before and circus.pids("web") == [web]
    workers.report("web", web)
    assert int(http_get_unix(tmp_path / "web.sock")) == web
