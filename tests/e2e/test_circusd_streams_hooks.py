"""Streams and hooks configured in an ini file, through a real circusd.

Hook and stream modules are written to a temp dir that the ini's ``[env]``
PYTHONPATH names; what they see is recorded in files the tests read back.
"""

import json
import time

import pytest

from circus.client import CircusClient
from helpers import Subscriber, python, until

# Writes ``count`` numbered 100-byte lines to stdout, each once the previous
# one is in the log file (so each line is its own chunk), then one line to
# stderr, then waits.
PACED = """
import os, sys, time
path, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    line = (b"line %04d " % i).ljust(99, b".") + b"\\n"
    os.write(1, line)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if f.read().endswith(line):
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.002)
os.write(2, b"all %d lines written\\n" % count)
while True:
    time.sleep(60)
"""

HELLO = """
import os, time
os.write(1, b"hello from %d\\n" % os.getpid())
while True:
    time.sleep(60)
"""

HOOKS = """
import json

LOG = {log!r}


def _log(watcher, hook_name, kwargs):
    with open(LOG, "a") as log:
        log.write(json.dumps({{"watcher": watcher.name, "hook": hook_name, "keys": sorted(kwargs),
                              "status": watcher.status()}}) + "\\n")


def record(watcher, arbiter, hook_name, **kwargs):
    _log(watcher, hook_name, kwargs)
    return True


def refuse(watcher, arbiter, hook_name, **kwargs):
    _log(watcher, hook_name, kwargs)
    return False


def explode(watcher, arbiter, hook_name, **kwargs):
    _log(watcher, hook_name, kwargs)
    raise RuntimeError("explode in " + hook_name)
"""

STREAM = """
class Tagged:
    '''Writes "<tag> <pid> <data>" lines to ``path``; "<tag> closed" on close.'''

    def __init__(self, path, tag="?", **ignored):
        self.path, self.tag = path, tag
        self.file = None

    def open(self):
        self.file = open(self.path, "ab", buffering=0)

    def close(self):
        self.file.write(b"%s closed\\n" % self.tag.encode())
        self.file.close()

    def __call__(self, entry):
        self.file.write(b"%s %d %s" % (self.tag.encode(), entry["pid"], entry["data"]))
"""

ALL_HOOKS = ("before_start", "before_spawn", "after_spawn", "after_start", "before_stop",
             "before_signal", "after_signal", "before_reap", "after_reap", "after_stop")


def modules(tmp_path):
    """Write the hook and stream modules into ``tmp_path/mods``; return that dir."""
    directory = tmp_path / "mods"
    directory.mkdir(exist_ok=True)
    (directory / "myhooks.py").write_text(HOOKS.format(log=str(tmp_path / "hooks.log")))
    (directory / "mystreams.py").write_text(STREAM)
    return directory


def hook_log(tmp_path, watcher):
    path = tmp_path / "hooks.log"
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in entries if e["watcher"] == watcher]


# -- streams ---------------------------------------------------------------------


def test_file_stream_rotates_by_size_and_stderr_goes_to_its_own_file(circusd, tmp_path):
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    daemon = circusd()
    daemon.write_ini("""
        [watcher:rot]
        cmd = %s
        graceful_timeout = 1
        stdout_stream.class = FileStream
        stdout_stream.filename = %s
        stdout_stream.max_bytes = 1000
        stdout_stream.backup_count = 2
        stderr_stream.class = FileStream
        stderr_stream.filename = %s
        """ % (python(PACED, out, 30), out, err))
    daemon.start()
    until(lambda: err.exists() and err.read_bytes(), timeout=20,
          what="the worker's stderr line; log:\n%s" % daemon.log()[-2000:])
    assert err.read_bytes() == b"all 30 lines written\n"
    files = [out.with_name(out.name + suffix) for suffix in (".2", ".1", "")]
    assert all(f.exists() for f in files) and not out.with_name("out.log.3").exists()
    # A file rotates before the chunk that would make it reach max_bytes:
    # 9 lines of 100 bytes each, so 30 lines leave 9 + 9 + 3 in the files.
    assert [f.stat().st_size for f in files] == [900, 900, 300]
    kept = b"".join(f.read_bytes() for f in files)
    lines = kept.splitlines()
    assert [int(line.split()[1]) for line in lines] == list(range(9, 30)), "rotation lost or reordered lines"
    assert all(len(line) == 99 for line in lines)
    assert b"all 30" not in kept, "stderr leaked into stdout's file"
    assert daemon.terminate() == 0


def test_a_custom_stream_class_from_the_env_pythonpath_is_fed_then_closed_on_exit(circusd, tmp_path):
    mods, out = modules(tmp_path), tmp_path / "tagged.log"
    daemon = circusd()
    daemon.write_ini("""
        [env]
        PYTHONPATH = %s

        [watcher:web]
        cmd = %s
        graceful_timeout = 1
        stdout_stream.class = mystreams.Tagged
        stdout_stream.path = %s
        stdout_stream.tag = T1
        """ % (mods, python(HELLO), out))
    daemon.start()
    (pid,) = _one_child(daemon)
    until(lambda: out.exists() and out.read_bytes(), timeout=10, what="output in %s" % out)
    assert out.read_bytes() == b"T1 %d hello from %d\n" % (pid, pid)
    assert daemon.terminate() == 0
    assert out.read_bytes().endswith(b"T1 closed\n"), "circusd's exit must close the stream"


def _one_child(daemon):
    until(lambda: len(daemon.children()) == 1, timeout=10,
          what="one worker; log:\n%s" % daemon.log()[-2000:])
    return [child.pid for child in daemon.children()]


@pytest.mark.parametrize("klass", ["NoSuchStream", "nosuchmodule.Stream", "os.path.NoSuchStream"])
def test_a_bad_stream_class_makes_circusd_exit_1_with_one_line_naming_the_watcher(circusd, tmp_path, klass):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
        stdout_stream.class = %s
        """ % (python(HELLO), klass))
    rc, out, err = daemon.run()
    assert rc == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "web" in lines[0] and klass in lines[0] and "stdout_stream" in lines[0], lines[0]
    assert not daemon.children()


def test_a_hook_that_does_not_import_makes_circusd_exit_1_naming_watcher_and_hook(circusd, tmp_path):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:web]
        cmd = %s
        hooks.before_start = nosuchmodule.hook
        """ % python(HELLO))
    rc, out, err = daemon.run()
    assert rc == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "web" in lines[0] and "before_start" in lines[0] and "nosuchmodule" in lines[0], lines[0]


# -- hooks -----------------------------------------------------------------------


def test_hooks_from_the_env_pythonpath_run_in_order_and_a_refusal_keeps_a_watcher_stopped(circusd, workers, tmp_path):
    mods = modules(tmp_path)
    hooks = "".join("hooks.%s = myhooks.record\n        " % name for name in ALL_HOOKS)
    daemon = circusd()
    daemon.write_ini("""
        [env]
        PYTHONPATH = %s

        [watcher:web]
        cmd = %s
        numprocesses = 2
        graceful_timeout = 1
        %s
        [watcher:blocked]
        cmd = %s
        hooks.before_start = myhooks.refuse
        """ % (mods, workers.cmd("web"), hooks, workers.cmd("blocked")))
    daemon.start()
    daemon.wait_pids("web", 2)
    until(lambda: hook_log(tmp_path, "blocked"), timeout=10, what="blocked's before_start")
    until(lambda: any(e["hook"] == "after_start" for e in hook_log(tmp_path, "web")), timeout=10,
          what="web's after_start")
    assert daemon.pids("blocked") == [] and workers.reports("blocked") == []
    assert daemon.terminate() == 0
    web = hook_log(tmp_path, "web")
    names = [e["hook"] for e in web]
    assert names == ["before_start", "before_spawn", "after_spawn", "before_spawn", "after_spawn",
                     "after_start", "before_stop", "before_signal", "after_signal", "before_signal",
                     "after_signal", "before_reap", "after_reap", "before_reap", "after_reap",
                     "after_stop"]
    keys = {e["hook"]: e["keys"] for e in web}
    assert keys["after_spawn"] == ["pid"] and keys["before_signal"] == ["pid", "signum"]
    assert keys["after_reap"] == ["exit_code", "process_pid", "process_status", "time"]
    assert [e["hook"] for e in hook_log(tmp_path, "blocked")] == ["before_start"]


def test_ignore_failure_flag_lets_a_raising_before_start_pass_and_hook_failure_is_published(circusd, workers, tmp_path):
    mods = modules(tmp_path)
    daemon = circusd()
    daemon.write_ini("""
        [env]
        PYTHONPATH = %s

        [watcher:forgiven]
        cmd = %s
        autostart = false
        hooks.before_start = myhooks.explode, true

        [watcher:strict]
        cmd = %s
        autostart = false
        hooks.before_start = myhooks.explode
        """ % (mods, workers.cmd("forgiven"), workers.cmd("strict")))
    daemon.start()
    sub = Subscriber(daemon.pubsub_endpoint)
    client = CircusClient(endpoint=daemon.endpoint, timeout=5)
    try:
        # Setting an option to its own value publishes ``updated`` and changes nothing.
        sub.synchronise(lambda: client.send_message("set", name="strict", options={"graceful_timeout": 1},
                                                    waiting=True))  # fmt: skip
        assert client.send_message("start", name="forgiven", waiting=True)["status"] == "ok"
        assert client.send_message("start", name="strict", waiting=True)["status"] == "ok"
        failures = _events(sub, "hook_failure", count=2)
        statuses = client.send_message("status")["statuses"]
    finally:
        client.stop()
        sub.close()
    assert sorted(failures) == ["forgiven", "strict"]
    for payload in failures.values():
        assert payload["name"] == "before_start" and "explode in before_start" in payload["error"]
        assert abs(payload["time"] - time.time()) < 60
    assert statuses == {"forgiven": "active", "strict": "stopped"}
    daemon.wait_pids("forgiven", 1)
    assert daemon.pids("strict") == []


def _events(sub, action, count, timeout=10):
    """``{watcher: payload}`` of the first ``count`` ``watcher.<name>.<action>`` events."""
    found = {}

    def one_more(topic, payload):
        _, name, got = topic.split(".", 2)
        if got == action:
            found[name] = payload
        return len(found) >= count

    sub.wait_for(one_more, timeout)
    return found
