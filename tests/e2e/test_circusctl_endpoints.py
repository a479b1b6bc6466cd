"""circusctl asking several circusd at once: --endpoint repeated, CIRCUSCTL_ENDPOINT as a list."""

import json
import subprocess
import sys
import time

from helpers import SLEEPER, repo_env


def ctl(*args, env=None):
    environ = repo_env(env)
    if "CIRCUSCTL_ENDPOINT" not in (env or {}):
        environ.pop("CIRCUSCTL_ENDPOINT", None)
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", *map(str, args)], capture_output=True,
                          text=True, env=environ, timeout=60)
    return done.returncode, done.stdout, done.stderr


def two_daemons(circusd, tmp_path):
    daemons = []
    for name, watchers in (("a", ("web", "worker")), ("b", ("api",))):
        daemon = circusd(directory=tmp_path / name)
        daemon.write_ini("".join("[watcher:%s]\ncmd = %s\n\n" % (w, SLEEPER) for w in watchers))
        daemon.start()
        daemons.append(daemon.wait_answering())
    return daemons


def test_status_of_two_daemons_and_an_unreachable_one_is_one_table_and_nobody_waits_twice(circusd, tmp_path):
    a, b = two_daemons(circusd, tmp_path)
    nobody, silent = ("ipc://%s" % (tmp_path / name) for name in ("nobody.sock", "silent.sock"))
    started = time.monotonic()
    rc, out, err = ctl("--timeout", 2, "--endpoint", a.endpoint, "--endpoint", nobody, "--endpoint", b.endpoint,
                       "--endpoint", silent, "status")
    elapsed = time.monotonic() - started
    width = max(len(a.endpoint), len(b.endpoint), len(nobody), len(silent))
    assert out.splitlines() == [
        "ENDPOINT",
        "%-*s  web: active" % (width, a.endpoint),
        "%-*s  worker: active" % (width, a.endpoint),
        "%-*s  unreachable (Timed out.)" % (width, nobody),
        "%-*s  api: active" % (width, b.endpoint),
        "%-*s  unreachable (Timed out.)" % (width, silent),
    ], out
    assert rc == 1 and err == ""
    # One after the other, the two silent endpoints would take 2 x 2 s.
    assert elapsed < 3.9, "the endpoints were not asked at the same time (%.1f s)" % elapsed


def test_circusctl_endpoint_lists_endpoints_and_json_is_keyed_by_endpoint(circusd, tmp_path):
    a, b = two_daemons(circusd, tmp_path)
    rc, out, err = ctl("--json", "list", env={"CIRCUSCTL_ENDPOINT": "%s,%s" % (a.endpoint, b.endpoint)})
    assert (rc, err) == (0, "")
    replies = json.loads(out)
    assert sorted(replies) == sorted([a.endpoint, b.endpoint])
    assert replies[a.endpoint]["watchers"] == ["web", "worker"]
    assert replies[b.endpoint]["watchers"] == ["api"]
    # One endpoint: the plain reply, as always.
    rc, out, _ = ctl("--endpoint", b.endpoint, "status")
    assert (rc, out) == (0, "api: active\n")
    rc, out, _ = ctl("--endpoint", a.endpoint, "--endpoint", b.endpoint, "status", "api")
    assert rc == 3 and "error: program api not found" in out and "%s" % b.endpoint in out
    rc, out, _ = ctl("--endpoint", "%s,%s" % (a.endpoint, b.endpoint), "numwatchers")
    assert rc == 0 and [line.split() for line in out.splitlines()] == [["ENDPOINT"], [a.endpoint, "2"],
                                                                       [b.endpoint, "1"]]
