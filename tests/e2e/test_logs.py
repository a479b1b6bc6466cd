"""circusctl logs against a real circusd: the ring of each watcher, -f following the log.* events."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

from helpers import call, ok, pid_alive, python, repo_env, until

TALKER = python("""
import sys, time
for i in range(1, 6):
    print("hello %d" % i, flush=True)
print("oops", file=sys.stderr, flush=True)
while True:
    time.sleep(60)
""")

OTHER = python("""
import time
print("from the other one", flush=True)
while True:
    time.sleep(60)
""")

TICKER = python("""
import time
i = 0
while True:
    print("tick %d" % i, flush=True)
    i += 1
    time.sleep(0.05)
""")

FLOOD = python("""
import sys, time
out = sys.stdout
for i in range(200000):
    out.write("line %06d\\n" % i)
out.write("done\\n")
out.flush()
while True:
    time.sleep(60)
""")


def started(circusd, tmp_path, *watchers):
    """A circusd answering, with ``(name, cmd, {key: value})`` watchers whose streams are files."""
    body = ""
    for name, cmd, keys in watchers:
        body += "[watcher:%s]\ncmd = %s\n" % (name, cmd)
        for stream, suffix in (("stdout", "out"), ("stderr", "err")):
            body += "%s_stream.class = FileStream\n" % stream
            body += "%s_stream.filename = %s\n" % (stream, tmp_path / ("%s.%s" % (name, suffix)))
        body += "".join("%s = %s\n" % kv for kv in keys.items()) + "\n"
    daemon = circusd()
    daemon.write_ini(body)
    daemon.start()
    return daemon.wait_answering()


def ctl_argv(daemon, *args):
    return [sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.endpoint, *map(str, args)]


def ctl(daemon, *args):
    env = repo_env()
    env.pop("CIRCUSCTL_ENDPOINT", None)
    done = subprocess.run(ctl_argv(daemon, *args), capture_output=True, text=True, env=env, timeout=30)
    return done.returncode, done.stdout, done.stderr


def texts(daemon, name=None, **props):
    return [line["line"] for line in ok(call(daemon, "logs", name=name, **props))["lines"]]


LINE = re.compile(r"^(?P<watcher>\S+)\[(?P<pid>\d+)\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (?P<stream>stdout|stderr): (?P<line>.*)$")


def parsed(output):
    found = []
    for text in output.splitlines():
        match = LINE.match(text)
        assert match, text
        found.append((match["watcher"], int(match["pid"]), match["stream"], match["line"]))
    return found


def test_circusctl_logs_prints_the_lines_workers_wrote_prefixed_with_watcher_pid_and_time(circusd, tmp_path):
    daemon = started(circusd, tmp_path, ("talker", TALKER, {}), ("other", OTHER, {}))
    until(lambda: "oops" in texts(daemon, "talker") and texts(daemon, "other"), timeout=10,
          what="the workers' lines in the rings")
    (talker,) = ok(call(daemon, "list", name="talker"))["pids"]
    (other,) = ok(call(daemon, "list", name="other"))["pids"]

    rc, out, err = ctl(daemon, "logs")
    assert (rc, err) == (0, "")
    lines = parsed(out)
    assert sorted(lines) == sorted([("talker", talker, "stdout", "hello %d" % i) for i in range(1, 6)]
                                   + [("talker", talker, "stderr", "oops"),
                                      ("other", other, "stdout", "from the other one")])
    talker_lines = [line for line in lines if line[0] == "talker" and line[2] == "stdout"]
    assert [line[3] for line in talker_lines] == ["hello %d" % i for i in range(1, 6)]

    rc, out, _ = ctl(daemon, "logs", "talker", "-n", 2, "--stream", "stdout")
    assert [line[3] for line in parsed(out)] == ["hello 4", "hello 5"]
    rc, out, _ = ctl(daemon, "logs", "talker", "--stream", "stderr")
    assert parsed(out) == [("talker", talker, "stderr", "oops")]
    rc, out, _ = ctl(daemon, "--json", "logs", "other")
    (line,) = json.loads(out)["lines"]
    assert {k: line[k] for k in ("watcher", "pid", "stream", "line")} == {
        "watcher": "other", "pid": other, "stream": "stdout", "line": "from the other one"}
    assert abs(line["time"] - time.time()) < 60
    rc, out, err = ctl(daemon, "logs", "nosuch")
    assert rc == 3 and "nosuch" in err
    ok(call(daemon, "set", name="other", options={"log_buffer_size": 0}, waiting=True))
    assert texts(daemon, "other") == [] and len(texts(daemon, "talker")) == 6
    assert ok(call(daemon, "get", name="other", keys=["log_buffer_size"]))["options"] == {"log_buffer_size": 0}


def read_lines(proc, count, timeout):
    """The next ``count`` lines ``proc`` prints, read against a deadline."""
    found = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        left = deadline - time.monotonic()
        assert left > 0, "only %d line(s) of %d within %ss: %s" % (len(found), count, timeout, found)
        if select.select([proc.stdout], [], [], left)[0]:
            line = proc.stdout.readline()
            assert line, "circusctl ended: %s" % proc.stderr.read()
            found.append(line.rstrip("\n"))
    return found


def test_circusctl_logs_follow_prints_new_lines_as_they_come_until_interrupted(circusd, tmp_path):
    daemon = started(circusd, tmp_path, ("ticker", TICKER, {}))
    until(lambda: len(texts(daemon, "ticker")) >= 3, timeout=10, what="ticks in the ring")
    env = repo_env()
    env.pop("CIRCUSCTL_ENDPOINT", None)
    follower = subprocess.Popen(ctl_argv(daemon, "logs", "ticker", "-f", "-n", 1), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
    daemon.tracker.add_root(follower.pid)
    try:
        ticks = [int(line[3].split()[1]) for line in parsed("\n".join(read_lines(follower, 20, timeout=15)))]
        # The last line of the ring, then every new one: in order, none missed, none twice.
        assert ticks == list(range(ticks[0], ticks[0] + 20)), ticks
        assert ticks[-1] > max(int(text.split()[1]) for text in texts(daemon, "ticker")) - 20
        follower.send_signal(signal.SIGINT)
        assert follower.wait(10) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        follower.stdout.close()
        follower.stderr.close()


def test_the_ring_keeps_the_newest_lines_within_log_buffer_size_under_a_flood(circusd, tmp_path):
    daemon = started(circusd, tmp_path, ("flood", FLOOD, {"log_buffer_size": 4096}))
    until(lambda: texts(daemon, "flood")[-1:] == ["done"], timeout=30, what="the flood's last line in the ring")
    kept = texts(daemon, "flood")
    assert sum(len(text) + 1 for text in kept) <= 4096
    assert len(kept) > 300  # the ring is full, not emptied
    numbers = [int(text.split()[1]) for text in kept[:-1]]
    assert numbers == list(range(199999 - len(numbers) + 1, 200000))  # the newest, contiguous
    out = tmp_path / "flood.out"
    until(lambda: out.stat().st_size == 200000 * 12 + 5, timeout=20,
          what="the stream to get all of the flood too")


# -- watchers without a stream -----------------------------------------------------

SHORT_LIVED = python("""
import sys
for i in range(2000):
    print("last words %04d" % i)
sys.stderr.write("no newline at the end")
""")


def plain(circusd, body):
    """A circusd answering on ``body``, its watchers' outputs left without streams."""
    daemon = circusd()
    daemon.write_ini(body)
    daemon.start()
    return daemon.wait_answering()


def test_a_watcher_without_streams_has_its_lines_in_logs_and_still_on_circusd_stdout_and_stderr(circusd):
    daemon = plain(circusd, "[watcher:talker]\ncmd = %s\n" % TALKER)
    until(lambda: "oops" in texts(daemon, "talker"), timeout=10, what="the worker's lines in the ring")
    (pid,) = ok(call(daemon, "list", name="talker"))["pids"]
    rc, out, err = ctl(daemon, "logs", "talker")
    assert (rc, err) == (0, "")
    assert sorted(parsed(out)) == sorted([("talker", pid, "stdout", "hello %d" % i) for i in range(1, 6)]
                                         + [("talker", pid, "stderr", "oops")])
    # What circusd's own stdout / stderr get is what the worker wrote, unchanged.
    until(lambda: "".join("hello %d\n" % i for i in range(1, 6)) in daemon.stdout(), timeout=10,
          what="the worker's stdout on circusd's stdout:\n%s" % daemon.stdout()[-2000:])
    until(lambda: "oops\n" in daemon.stderr(), timeout=10, what="the worker's stderr on circusd's stderr")
    assert "oops" not in daemon.stdout() and "hello" not in daemon.stderr()


def test_with_log_buffer_size_0_a_worker_without_streams_writes_to_circusd_own_stdout(circusd):
    daemon = plain(circusd, "[watcher:talker]\ncmd = %s\nlog_buffer_size = 0\n" % TALKER)
    (pid,) = until(lambda: ok(call(daemon, "list", name="talker"))["pids"], timeout=10, what="the worker")
    for fd, name in ((1, "stdout.log"), (2, "stderr.log")):
        mine, theirs = os.stat("/proc/%d/fd/%d" % (pid, fd)), os.stat(daemon.dir / name)
        assert (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino), name
    until(lambda: "hello 5\n" in daemon.stdout() and "oops\n" in daemon.stderr(), timeout=10,
          what="the worker's lines in circusd's own files")
    assert texts(daemon, "talker") == []


def test_nothing_a_worker_without_streams_wrote_just_before_exiting_is_lost(circusd):
    daemon = plain(circusd, "[watcher:brief]\ncmd = %s\nrespawn = false\n" % SHORT_LIVED)
    expected = ["last words %04d" % i for i in range(2000)]
    until(lambda: texts(daemon, "brief", stream="stderr") == ["no newline at the end"], timeout=10,
          what="the worker's last stderr bytes in the ring")
    until(lambda: texts(daemon, "brief", stream="stdout") == expected, timeout=10,
          what="every stdout line in the ring")
    until(lambda: "".join(line + "\n" for line in expected) in daemon.stdout(), timeout=10,
          what="every stdout line on circusd's stdout")
    assert "no newline at the end" in daemon.stderr()


def test_in_daemon_mode_the_ring_still_gets_the_output_of_a_watcher_without_streams(circusd, tmp_path):
    pidfile = tmp_path / "circusd.pid"
    daemon = circusd()
    daemon.write_ini("[watcher:talker]\ncmd = %s\n" % TALKER)
    assert daemon.start("--daemon", "--pidfile", pidfile).wait(10) == 0, daemon.log()
    daemon_pid = int(until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile written"))
    daemon.tracker.add_root(daemon_pid)
    try:
        until(lambda: "oops" in texts(daemon, "talker"), timeout=15, what="the worker's lines in the ring")
        assert texts(daemon, "talker", stream="stdout") == ["hello %d" % i for i in range(1, 6)]
        assert "hello" not in daemon.log()  # circusd's stdout and stderr are /dev/null
    finally:
        os.kill(daemon_pid, signal.SIGTERM)
        until(lambda: not pid_alive(daemon_pid), what="daemon exit")
