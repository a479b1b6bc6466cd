"""What a worker sees: environment, substitutions, cwd, umask, limits, ids."""

import os
import pwd
import re

import pytest

import helpers
from helpers import python

MARK = "mark-42"
RUNTIME_KEYS = {"LC_CTYPE"}  # Python itself may add it under the C locale


def start(circusd, body, circus=None):
    return helpers.start(circusd, body, circus, env={"CIRCUS_TEST_MARK": MARK})


def test_env_sections_apply_by_pattern_with_later_sections_winning(circusd, workers):
    daemon = start(circusd, """
        [env]
        A = global-a
        B = global-b
        D = $(circus.env.circus_test_mark)
        E = $CIRCUS_TEST_MARK

        [env:web*]
        B = web-b

        [env:web1]
        B = web1-b
        C = only-web1

        [watcher:web1]
        cmd = %s

        [watcher:web2]
        cmd = %s

        [watcher:other]
        cmd = %s
        """ % (workers.cmd("web1", "from-env=$(circus.env.A)"), workers.cmd("web2"), workers.cmd("other")))
    env = {}
    for name in ("web1", "web2", "other"):
        (pid,) = daemon.wait_pids(name, 1)
        env[name] = workers.report(name, pid)["env"]
    assert {k: env["web1"].get(k) for k in "ABCDE"} == {
        "A": "global-a", "B": "web1-b", "C": "only-web1", "D": MARK, "E": MARK}
    assert env["web2"]["B"] == "web-b" and "C" not in env["web2"]
    assert env["other"]["B"] == "global-b"
    for name, seen in env.items():
        extra = set(seen) - set("ABCDE") - RUNTIME_KEYS
        assert not extra, "%s got keys beyond its [env] sections: %s" % (name, sorted(extra))
    report = workers.reports("web1")[0]
    assert "--from-env=global-a" in report["argv"]


def test_circus_wid_and_dollar_wid_are_substituted_in_cmd(circusd, workers):
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        numprocesses = 2
        """ % workers.cmd("web", "wid=$(circus.wid)", "dollar-wid=$WID"))
    pids = daemon.wait_pids("web", 2)
    reports = [workers.report("web", pid) for pid in pids]
    assert sorted(r["wid"] for r in reports) == ["1", "2"]
    for r in reports:
        assert "--dollar-wid=%s" % r["wid"] in r["argv"], r["argv"]


def test_working_dir_umask_and_rlimit_nofile_reach_the_child(circusd, workers, tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    daemon = start(circusd, """
        [watcher:web]
        cmd = %s
        working_dir = %s
        rlimit_nofile = 200
        """ % (workers.cmd("web"), wd), circus={"umask": "027"})
    (pid,) = daemon.wait_pids("web", 1)
    report = workers.report("web", pid)
    assert report["cwd"] == str(wd)
    assert report["umask"] == 0o27
    assert report["nofile"] == [200, 200]


def test_working_dir_defaults_to_the_cwd_of_circusd(circusd, workers):
    daemon = start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"))
    (pid,) = daemon.wait_pids("web", 1)
    assert workers.report("web", pid)["cwd"] == str(daemon.dir)


def test_copy_env_gives_the_child_circusd_environment_plus_env_sections(circusd, workers):
    daemon = start(circusd, """
        [env:copied]
        A = from-section

        [watcher:copied]
        cmd = %s
        copy_env = true

        [watcher:bare]
        cmd = %s
        """ % (workers.cmd("copied"), workers.cmd("bare")))
    copied = workers.report("copied", daemon.wait_pids("copied", 1)[0])["env"]
    bare = workers.report("bare", daemon.wait_pids("bare", 1)[0])["env"]
    assert copied["CIRCUS_TEST_MARK"] == MARK
    assert copied["PATH"] == os.environ["PATH"]
    assert copied["A"] == "from-section"
    assert "CIRCUS_TEST_MARK" not in bare and "PATH" not in bare
    assert "__name__" not in copied and "__name__" not in bare


ID_REPORT = r"""
import os, sys, time
print("IDREPORT", os.getpid(), os.getuid(), os.getgid(), sorted(os.getgroups()), flush=True)
while True:
    time.sleep(60)
"""


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch users")
def test_uid_and_gid_drop_privileges_in_the_child(circusd):
    nobody = pwd.getpwnam("nobody")
    # The venv interpreter lives under /root, out of reach for nobody.
    cmd = python(ID_REPORT, "--marker=asnobody", interpreter="/usr/bin/python3")
    daemon = start(circusd, """
        [watcher:asnobody]
        cmd = %s
        uid = nobody
        working_dir = /
        """ % cmd)
    (pid,) = daemon.wait_pids("asnobody", 1)
    line = daemon.wait_log(r"^IDREPORT %d (\d+) (\d+) (.*)$" % pid)
    assert int(line.group(1)) == nobody.pw_uid
    assert int(line.group(2)) == nobody.pw_gid
    assert "0" not in re.findall(r"\d+", line.group(3)), "root's groups were kept: " + line.group(3)
    assert daemon.alive()
