"""circusctl as a command, against a real circusd."""

import json
import select
import shlex
import signal
import subprocess
import sys

import pytest

from helpers import REPO_ROOT, circusctl_on_path, repo_env, until

INI = """
[watcher:web]
cmd = {web}
numprocesses = 2
graceful_timeout = 2

[watcher:idle]
cmd = {idle}
autostart = false
"""


def ctl_env(extra=None):
    env = repo_env(extra)
    if "CIRCUSCTL_ENDPOINT" not in (extra or {}):
        env.pop("CIRCUSCTL_ENDPOINT", None)
    return env


def ctl(*args, env=None, stdin=None, timeout=30):
    """Run circusctl; ``(returncode, stdout, stderr)``."""
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", *map(str, args)], input=stdin,
                          capture_output=True, text=True, env=ctl_env(env), timeout=timeout)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def daemon(circusd, workers):
    """A running circusd with watchers ``web`` (2 processes) and ``idle`` (stopped)."""
    d = circusd()
    d.write_ini(INI.format(web=workers.cmd("web"), idle=workers.cmd("idle")))
    d.start()
    d.wait_pids("web", 2)
    until(lambda: ctl("--endpoint", d.endpoint, "--timeout", 2, "list")[0] == 0, timeout=15,
          what="circusd to answer on %s; log:\n%s" % (d.endpoint, d.log()[-2000:]))  # fmt: skip
    return d


def test_read_commands_print_their_plain_text_forms(daemon):
    e = ("--endpoint", daemon.endpoint)
    assert ctl(*e, "status") == (0, "idle: stopped\nweb: active\n", "")
    assert ctl(*e, "status", "web") == (0, "active\n", "")
    assert ctl(*e, "list") == (0, "idle,web\n", "")
    pids = daemon.pids("web")
    assert ctl(*e, "list", "web") == (0, ",".join(map(str, pids)) + "\n", "")
    assert ctl(*e, "numwatchers") == (0, "2\n", "")
    assert ctl(*e, "numprocesses", "web") == (0, "2\n", "")
    rc, out, _ = ctl(*e, "get", "web", "numprocesses", "graceful_timeout")
    assert (rc, out) == (0, "numprocesses: 2\ngraceful_timeout: 2.0\n")
    rc, out, _ = ctl(*e, "options", "web")
    assert rc == 0 and "numprocesses: 2\n" in out and out.splitlines() == sorted(out.splitlines())
    rc, out, _ = ctl(*e, "stats", "web")
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "web:" and sorted(int(l.split(":")[0]) for l in lines[1:]) == pids
    assert all(l.split(": ", 1)[1].startswith(l.split(":")[0] + "  ") for l in lines[1:])
    rc, out, _ = ctl(*e, "dstats")
    assert rc == 0 and out.startswith("Main Process:\n    %d  " % daemon.pid) and "Children:" in out
    rc, out, _ = ctl(*e, "globaloptions", "endpoint")
    assert (rc, out) == (0, "endpoint: %s\n" % daemon.endpoint)


def test_changes_print_ok_or_the_new_count(daemon, workers):
    e = ("--endpoint", daemon.endpoint)
    assert ctl(*e, "incr", "web", "--waiting") == (0, "3\n", "")
    daemon.wait_pids("web", 3)
    assert ctl(*e, "decr", "web", "2") == (0, "ok\n", "")
    daemon.wait_pids("web", 1)
    assert ctl(*e, "set", "web", "numprocesses", "2", "--waiting") == (0, "ok\n", "")
    daemon.wait_pids("web", 2)
    assert ctl(*e, "start", "idle", "--waiting") == (0, "ok\n", "")
    daemon.wait_pids("idle", 1)
    assert ctl(*e, "stop", "idle", "--waiting") == (0, "ok\n", "")
    assert daemon.pids("idle") == []
    assert ctl(*e, "add", "--start", "--waiting", "extra", "--", *shlex.split(workers.cmd("extra"))) == (0, "ok\n", "")
    daemon.wait_pids("extra", 1)
    assert ctl(*e, "rm", "extra", "--waiting") == (0, "ok\n", "")
    assert daemon.pids("extra") == []


def test_error_replies_go_to_stderr_with_exit_status_3(daemon):
    assert ctl("--endpoint", daemon.endpoint, "status", "nope") == (3, "", "error: program nope not found\n")
    rc, out, err = ctl("--endpoint", daemon.endpoint, "incr", "nope")
    assert (rc, out, err) == (3, "", "error: program nope not found\n")


def test_json_output_is_the_raw_reply_whatever_its_status(daemon):
    rc, out, err = ctl("--endpoint", daemon.endpoint, "--json", "list")
    reply = json.loads(out)
    assert rc == 0 and reply["status"] == "ok" and reply["watchers"] == ["idle", "web"] and "id" in reply
    assert "\n" not in out.strip()
    rc, out, err = ctl("--endpoint", daemon.endpoint, "status", "nope", "--json")
    assert rc == 0 and json.loads(out)["errno"] == 3
    rc, out, err = ctl("--endpoint", daemon.endpoint, "--json", "--prettify", "numwatchers")
    assert rc == 0 and out.startswith("{\n  ") and json.loads(out)["numwatchers"] == 2


def test_the_endpoint_comes_from_the_flag_then_the_environment(daemon, tmp_path):
    assert ctl("numwatchers", env={"CIRCUSCTL_ENDPOINT": daemon.endpoint}) == (0, "2\n", "")
    nowhere = "ipc://%s" % (tmp_path / "nowhere.sock")
    rc, out, err = ctl("--endpoint", daemon.endpoint, "numwatchers", env={"CIRCUSCTL_ENDPOINT": nowhere})
    assert (rc, out) == (0, "2\n")


def test_no_daemon_means_timed_out_and_exit_status_1(tmp_path):
    endpoint = "ipc://%s" % (tmp_path / "nobody.sock")
    rc, out, err = ctl("--endpoint", endpoint, "--timeout", "0.3", "status")
    assert rc == 1 and out == "" and err.startswith("Timed out.\n")
    assert endpoint in err and "--timeout" in err


def test_bad_command_lines_exit_1_or_2():
    rc, out, err = ctl("frobnicate")
    assert rc == 2 and "unknown command 'frobnicate'" in err
    assert ctl("incr") == (1, "", "Invalid number of arguments\n")
    rc, out, err = ctl("set", "web", "numprocesses", "many")
    assert rc == 1 and "numprocesses" in err and "Traceback" not in err
    rc, out, err = ctl("start", "--match", "fuzzy", "web")
    assert rc == 2 and "invalid choice" in err


def test_version_and_help():
    assert ctl("--version") == (0, "circusctl 0.19.0\n", "")
    rc, out, _ = ctl("--help")
    assert rc == 0 and out.startswith("usage: circusctl [options] command [args]\n\nControls a Circus daemon")
    assert "  incr                  Increment the number of processes in a watcher\n" in out
    assert "--endpoint ENDPOINT" in out and "--ssh_keyfile" in out
    rc, out, _ = ctl("--help", "incr")
    assert rc == 0 and out.startswith("Increment the number") and "circusctl incr <name> [<nb>]" in out


def test_listen_prints_events_as_they_arrive(daemon):
    listener = subprocess.Popen([sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.pubsub_endpoint,
                                 "listen", "watcher.web."], stdout=subprocess.PIPE, text=True, env=ctl_env())  # fmt: skip
    try:
        line = None
        for _ in range(50):  # events published before the SUB socket joins are lost: try again
            assert ctl("--endpoint", daemon.endpoint, "set", "web", "graceful_timeout", "2", "--waiting")[0] == 0
            if select.select([listener.stdout], [], [], 0.2)[0]:
                line = listener.stdout.readline()
                break
        assert line is not None, "no event printed"
        topic, payload = line.rstrip("\n").split(": ", 1)
        assert topic == "watcher.web.updated" and "time" in json.loads(payload)
    finally:
        listener.send_signal(signal.SIGINT)
        assert listener.wait(10) == 0
        listener.stdout.close()


def test_the_interactive_shell_runs_commands_until_end_of_input(daemon):
    script = "list\nincr web --waiting\nhelp decr\nfrobnicate\nstatus nope\n"
    rc, out, err = ctl("--endpoint", daemon.endpoint, stdin=script)
    assert rc == 0
    assert out.startswith("circusctl 0.19.0\nidle: stopped\nweb: active\n(circusctl) ")
    assert "idle,web\n" in out and "3\n" in out and "Decrement the number of processes" in out
    assert "*** Unknown syntax: frobnicate" in out
    assert "error: program nope not found" in err


def test_bash_completion_gives_commands_then_watcher_names(daemon):
    env = {"AUTO_COMPLETE": "1", "COMP_WORDS": "circusctl st", "COMP_CWORD": "1"}
    assert ctl(env=env) == (1, "start stats status stop\n", "")
    env = {"AUTO_COMPLETE": "1", "COMP_WORDS": "circusctl --endpoint %s incr w" % daemon.endpoint, "COMP_CWORD": "4"}
    assert ctl(env=env) == (1, "web\n", "")


def test_restart_without_a_name_restarts_everything_in_the_same_circusd(daemon):
    old = daemon.pids("web")
    assert ctl("--endpoint", daemon.endpoint, "restart") == (0, "ok\n", "")
    until(lambda: len(daemon.pids("web")) == 2 and not set(daemon.pids("web")) & set(old), timeout=20,
          what="new web workers; log:\n%s" % daemon.log()[-2000:])  # fmt: skip
    until(lambda: ctl("--endpoint", daemon.endpoint, "--timeout", 2, "numwatchers") == (0, "2\n", ""), timeout=15)
    assert daemon.alive()


def test_quit_waiting_returns_once_circusd_stopped_everything(daemon):
    pids = daemon.pids("web")
    assert ctl("--endpoint", daemon.endpoint, "quit", "--waiting") == (0, "ok\n", "")
    assert daemon.wait(15) == 0
    assert all(pid not in daemon.pids("web") for pid in pids)


def test_the_shipped_bash_completion_script_completes_through_circusctl(tmp_path):
    completion = REPO_ROOT / "extras" / "circusctl-completion.bash"
    code = 'source %s; COMP_WORDS=(circusctl re); COMP_CWORD=1; _circusctl; echo "${COMPREPLY[@]}"' % shlex.quote(
        str(completion))
    env = circusctl_on_path(tmp_path / "bin")
    done = subprocess.run(["bash", "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert done.stdout == "reload reloadconfig restart\n", done.stderr
