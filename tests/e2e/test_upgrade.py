"""circusd upgrades in place (circusctl upgrade, SIGUSR2): same pid, same workers, no request lost.

Three HTTP workers answer on a circusd-bound socket (``$(circus.sockets.web)``)
while 32 clients open a fresh connection for every request (tests/httpload.py);
a talker prints a numbered line every 50 ms into a FileStream. The "broken new
version" is a sitecustomize on circusd's PYTHONPATH that makes every new
interpreter fail once a flag file exists (the code on disk no longer starts),
or the new image fail to adopt any process, or a worker die during the exec,
or the exec itself fail.
"""

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys

import pytest

from helpers import REPO_ROOT, async_test, call, http_get_tcp, http_get_unix, listening_ports, until, until_async
from httpload import Load, fetch

BROKEN = """\
import os, sys
flags = %r
if os.path.exists(flags + ".start"):
    sys.stderr.write("the new circus cannot even start\\n")
    os._exit(3)
if os.path.exists(flags + ".adopt") and "--adopt-state" in sys.argv:
    import circus.process

    def adopt(*args, **kwargs):
        raise RuntimeError("this version cannot adopt a process")

    circus.process.Process.adopt = adopt
real_execve = os.execve


def execve(*args):
    if os.path.exists(flags + ".exec"):
        raise PermissionError(13, "the exec was refused")
    return real_execve(*args)


os.execve = execve
if os.path.exists(flags + ".kill") and "--adopt-state" in sys.argv:
    import json, signal, time

    state = json.load(open(sys.argv[sys.argv.index("--adopt-state") + 1]))
    victim = [w for w in state["watchers"] if w["name"] == "web"][0]["processes"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    # Dead before the new image looks: a zombie only circusd can reap.
    while open("/proc/%%d/stat" %% victim).read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    open(flags + ".killed", "w").write(str(victim))
"""

TALKER = """\
import itertools, os, sys, time
for n in itertools.count():
    print("line", n, os.getpid(), flush=True)
    time.sleep(0.05)
"""

BODY = """
    [socket:web]
    host = 127.0.0.1
    port = 0

    [watcher:web]
    cmd = %(web)s
    numprocesses = 3
    use_sockets = true
    graceful_timeout = 5

    [watcher:talker]
    cmd = %(python)s %(talker)s
    stdout_stream.class = FileStream
    stdout_stream.filename = %(log)s
    """


def start_daemon(circusd, workers, tmp_path, body=BODY):
    """circusd on ``body``, with the sitecustomize of :data:`BROKEN` on its PYTHONPATH (flag unset)."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BROKEN % str(tmp_path / "broken"))
    daemon = circusd(env={"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(site)])})
    write_body(daemon, workers, tmp_path, body)
    daemon.start()
    daemon.wait_answering()
    return daemon


def write_body(daemon, workers, tmp_path, body=BODY):
    """The ini of ``body`` (:data:`BODY` or a variant): HTTP workers and the talker."""
    (tmp_path / "talker.py").write_text(TALKER)
    daemon.write_ini(body % {"web": workers.cmd("web", "http=$(circus.sockets.web)"), "python": sys.executable,
                             "talker": tmp_path / "talker.py", "log": tmp_path / "talker.log"})


def unix_body(path):
    """:data:`BODY` with the socket at unix path ``path``."""
    return BODY.replace("host = 127.0.0.1\n    port = 0", "path = %s" % path)


def ctl(daemon, *args):
    """circusctl ``args`` against ``daemon``: (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-m", "circus.circusctl", "--endpoint", daemon.endpoint,
                           "--timeout", "30", *args], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def pids(daemon, name):
    reply = call(daemon, "list", name=name, timeout=20)
    assert reply["status"] == "ok", reply
    return sorted(reply["pids"])


def upgrades_done(daemon):
    return len(re.findall(r"upgrade: done", daemon.log()))


def talker_lines(tmp_path):
    """``[(n, pid)]`` of the talker's lines in its FileStream."""
    path = tmp_path / "talker.log"
    text = path.read_text() if path.exists() else ""
    return [(int(n), int(pid)) for n, pid in re.findall(r"^line (\d+) (\d+)$", text, re.M)]


def upgrade(daemon, how):
    """Ask for an upgrade by ``how`` ("circusctl" or "SIGUSR2") and wait until the new image took over."""
    before = upgrades_done(daemon)
    if how == "circusctl":
        code, out, err = ctl(daemon, "upgrade")
        assert code == 0, (out, err, daemon.log()[-3000:])
    else:
        daemon.signal(signal.SIGUSR2)
    until(lambda: upgrades_done(daemon) > before, timeout=30,
          what=lambda: "the upgrade to end; log:\n%s" % daemon.log()[-3000:])
    daemon.wait_answering()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["circusctl", "SIGUSR2"])
@async_test(timeout=110)
async def test_an_upgrade_under_http_load_keeps_circusd_and_every_worker_and_loses_no_request(
        circusd, workers, tmp_path, how):
    daemon = start_daemon(circusd, workers, tmp_path)
    (port,) = await until_async(lambda: listening_ports(daemon.pid), timeout=20, what="circusd listening")
    web = await asyncio.to_thread(daemon.wait_pids, "web", 3)
    outcome, _ = await fetch("127.0.0.1", port, 10)
    assert outcome == "ok", daemon.log()[-2000:]
    talker = await asyncio.to_thread(pids, daemon, "talker")
    async with Load("127.0.0.1", port) as tally:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(upgrade, daemon, how)
        await asyncio.sleep(0.5)
    assert tally.counts["ok"] > 50, tally.summary()
    assert tally.failed == 0, tally.summary()
    assert daemon.alive() and "upgrade: done, circusd %d supervises" % daemon.pid in daemon.log()
    assert await asyncio.to_thread(pids, daemon, "web") == web
    assert await asyncio.to_thread(pids, daemon, "talker") == talker
    assert await asyncio.to_thread(daemon.pids, "web") == web, "the workers are circusd's children still"
    # The talker's pipe reaches its FileStream through the new image.
    seen = len(talker_lines(tmp_path))
    await until_async(lambda: len(talker_lines(tmp_path)) > seen + 5, timeout=10,
                      what="talker lines after the upgrade")
    numbers = [n for n, pid in talker_lines(tmp_path) if pid == talker[0]]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "a line of the talker was lost"
    assert "Traceback" not in daemon.log(), daemon.log()[-3000:]
    assert "keeps the values set at runtime" not in daemon.log(), "nothing was set"


@pytest.mark.timeout(90)
def test_supervision_goes_on_after_an_upgrade(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    upgrade(daemon, "circusctl")
    assert ctl(daemon, "incr", "web")[0] == 0
    grown = daemon.wait_pids("web", 4)
    assert set(web) < set(grown)
    victim = web[0]
    os.kill(victim, signal.SIGKILL)
    until(lambda: victim not in daemon.pids("web") and len(daemon.pids("web")) == 4, timeout=15,
          what=lambda: "a replacement of %d; have %s" % (victim, daemon.pids("web")))
    assert pids(daemon, "web") == daemon.pids("web")
    # A second upgrade adopts what the first one adopted and what it spawned since.
    kept = daemon.pids("web")
    upgrade(daemon, "SIGUSR2")
    assert pids(daemon, "web") == kept
    assert daemon.terminate() == 0, daemon.log()[-3000:]
    assert not any(os.path.exists("/proc/%d" % pid) for pid in kept)


@pytest.mark.timeout(90)
def test_a_new_version_that_cannot_start_leaves_the_old_circusd_in_charge(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    (tmp_path / "broken.start").write_text("")
    code, out, err = ctl(daemon, "upgrade")
    assert code != 0
    assert "the new circus cannot even start" in out + err, (out, err)
    daemon.signal(signal.SIGUSR2)
    daemon.wait_log(r"upgrade failed, nothing changed: .*cannot even start")
    (tmp_path / "broken.start").unlink()
    assert "re-executing" not in daemon.log()
    assert pids(daemon, "web") == web
    assert ctl(daemon, "incr", "web")[0] == 0
    daemon.wait_pids("web", 4)


@pytest.mark.timeout(90)
def test_an_invalid_configuration_on_disk_refuses_the_upgrade(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    daemon.ini.write_text(daemon.ini.read_text() + "\n[watcher:bad]\nnumprocesses = many\n")
    code, out, err = ctl(daemon, "upgrade")
    assert code != 0
    assert "bad" in out + err and "refuses" in out + err, (out, err)
    assert "re-executing" not in daemon.log()
    assert pids(daemon, "web") == web


@pytest.mark.timeout(90)
def test_a_new_image_that_cannot_adopt_stops_the_old_processes_and_starts_afresh(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    (tmp_path / "broken.adopt").write_text("")
    upgrade(daemon, "circusctl")
    assert "cannot take watcher 'web' back" in daemon.log()
    fresh = daemon.wait_pids("web", 3)
    assert not set(fresh) & set(web)
    until(lambda: not any(os.path.exists("/proc/%d" % pid) for pid in web), timeout=10,
          what="the processes the new image could not adopt to be gone")
    assert pids(daemon, "web") == fresh


@pytest.mark.timeout(90)
def test_a_configuration_changed_on_disk_is_applied_by_reloadconfig_after_the_upgrade(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    daemon.ini.write_text(daemon.ini.read_text().replace("numprocesses = 3", "numprocesses = 2"))
    upgrade(daemon, "circusctl")
    assert pids(daemon, "web") == web, "the upgrade changes the code, not the configuration"
    assert ctl(daemon, "reloadconfig", "--waiting")[0] == 0
    daemon.wait_pids("web", 2)


@pytest.mark.timeout(90)
def test_under_systemd_an_upgrade_is_reloading_then_ready_and_keeps_the_activated_socket(circusd, tmp_path):
    from test_systemd_integration import Supervisor, start_activated

    supervisor = Supervisor(tmp_path / "notify.sock")
    try:
        daemon, port = start_activated(circusd, tmp_path, env={"NOTIFY_SOCKET": supervisor.path})
        supervisor.wait_for("READY", "1")
        before = pids(daemon, "app")
        mark = len(supervisor.receive())
        upgrade(daemon, "SIGUSR2")
        reloading = supervisor.wait_for("RELOADING", "1", after=mark)
        ready = supervisor.wait_for("READY", "1", after=reloading + 1)
        assert supervisor.messages[ready]["MAINPID"] == str(daemon.pid)
        assert pids(daemon, "app") == before
        assert int(http_get_tcp("127.0.0.1", port).split()[0]) in before
        assert [s["port"] for s in call(daemon, "listsockets")["sockets"]] == [port]
        assert daemon.terminate() == 0
    finally:
        supervisor.close()


@pytest.mark.timeout(90)
def test_a_stopped_watcher_stays_stopped_and_a_unix_socket_stays_served(circusd, workers, tmp_path):
    path = tmp_path / "web.sock"
    daemon = start_daemon(circusd, workers, tmp_path, unix_body(path))
    web = daemon.wait_pids("web", 3)
    assert ctl(daemon, "stop", "talker", "--waiting")[0] == 0
    upgrade(daemon, "circusctl")
    assert call(daemon, "status", name="talker")["status"] == "stopped"
    assert pids(daemon, "web") == web
    assert int(http_get_unix(str(path))) in web
    assert daemon.terminate() == 0
    assert not path.exists(), "the unix socket file is removed at the stop, as before the upgrade"


@pytest.mark.timeout(90)
def test_a_worker_that_dies_during_the_exec_is_reaped_and_respawned(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    (tmp_path / "broken.kill").write_text("")
    upgrade(daemon, "circusctl")
    victim = int((tmp_path / "broken.killed").read_text())
    assert victim in web
    until(lambda: len(daemon.pids("web")) == 3 and victim not in daemon.pids("web"), timeout=15,
          what=lambda: "a replacement of %d; have %s" % (victim, daemon.pids("web")))
    assert set(web) - {victim} < set(pids(daemon, "web"))
    assert not os.path.exists("/proc/%d" % victim), "the zombie was reaped"
    assert "web[%d] adopted" % victim in daemon.log()
    assert "web[%d] killed by SIGKILL" % victim in daemon.log(), "its exit code is the one of its reap"


@pytest.mark.timeout(90)
def test_a_stop_asked_during_an_upgrade_is_not_lost(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    daemon.signal(signal.SIGUSR2)
    daemon.wait_log(r"got SIGUSR2, running upgrade")
    assert daemon.terminate() == 0, daemon.log()[-3000:]
    assert not any(os.path.exists("/proc/%d" % pid) for pid in web)


@pytest.mark.timeout(90)
def test_a_daemonized_circusd_upgrades_in_place_and_keeps_its_pidfile(circusd, workers, tmp_path):
    pidfile, logfile = tmp_path / "circusd.pid", tmp_path / "daemon.log"
    daemon = circusd()
    daemon.write_ini("[watcher:web]\ncmd = %s\nnumprocesses = 2\n" % workers.cmd("web"))
    assert daemon.start("--daemon", "--pidfile", pidfile, "--log-output", logfile).wait(10) == 0, daemon.log()
    until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile written")
    daemon_pid = int(pidfile.read_text())
    daemon.tracker.add_root(daemon_pid)
    web = [report["pid"] for report in workers.wait_reports("web", 2)]
    code, out, err = ctl(daemon, "upgrade")
    assert code == 0, (out, err)
    until(lambda: "upgrade: done, circusd %d " % daemon_pid in logfile.read_text(), timeout=30,
          what=lambda: "the upgrade to end; log:\n%s" % logfile.read_text()[-3000:])
    assert sorted(pids(daemon, "web")) == sorted(web)
    assert int(pidfile.read_text()) == daemon_pid
    os.kill(daemon_pid, signal.SIGTERM)
    until(lambda: not os.path.exists("/proc/%d" % daemon_pid), what="daemon exit")
    assert not pidfile.exists()
    assert not any(os.path.exists("/proc/%d" % pid) for pid in web)


@pytest.mark.timeout(90)
def test_a_failed_exec_leaves_the_old_circusd_serving_with_its_control_plane_back(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    talker = pids(daemon, "talker")
    (tmp_path / "broken.exec").write_text("")
    ctl(daemon, "upgrade")  # the reply left before the exec was tried
    daemon.wait_log(r"upgrade: cannot execute .*the exec was refused; circusd goes on unchanged")
    daemon.wait_answering()
    assert pids(daemon, "web") == web and pids(daemon, "talker") == talker
    seen = len(talker_lines(tmp_path))
    until(lambda: len(talker_lines(tmp_path)) > seen + 5, timeout=10, what="talker lines after the failed exec")
    assert ctl(daemon, "incr", "web")[0] == 0
    daemon.wait_pids("web", 4)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
@async_test(timeout=110)
async def test_an_upgrade_under_load_keeps_real_web_servers_and_loses_no_request(circusd, tmp_path, server):
    from test_web_stack_reload import processes, start_stack, under_load

    daemon = start_stack(circusd, tmp_path, server)
    await asyncio.to_thread(daemon.wait_answering)
    before = await asyncio.to_thread(pids, daemon, "web")
    tally, _ = await under_load(daemon, lambda: asyncio.to_thread(upgrade, daemon, "circusctl"))
    assert tally.failed == 0, tally.summary()
    assert await asyncio.to_thread(pids, daemon, "web") == before
    assert sorted(processes(daemon)) == before


def test_check_config_builds_everything_binds_nothing_and_says_why_it_fails(circusd, workers, tmp_path):
    taken = tmp_path / "taken.sock"
    daemon = circusd()
    write_body(daemon, workers, tmp_path, unix_body(taken))
    taken.write_text("a running circusd's socket file would be here")
    rc, out, err = daemon.run("--check-config", timeout=20)
    assert rc == 0 and "ok (2 watchers, 1 sockets)" in out, (out, err)
    assert workers.reports("web") == [] and taken.read_text().startswith("a running")
    broken = circusd(directory=tmp_path / "broken")
    broken.write_ini("[watcher:bad]\ncmd = %s\nnumprocesses = many\n" % workers.cmd("bad"))
    rc, out, err = broken.run("--check-config", timeout=20)
    assert rc == 1 and "bad" in err and "numprocesses" in err, (out, err)


@pytest.mark.timeout(90)
def test_a_watcher_added_at_runtime_is_carried_over_with_its_processes(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    reply = call(daemon, "add", name="extra", cmd=workers.cmd("extra"), start=True,
                 options={"numprocesses": 2})
    assert reply["status"] == "ok", reply
    extra = daemon.wait_pids("extra", 2)
    upgrade(daemon, "circusctl")
    assert pids(daemon, "extra") == extra
    assert call(daemon, "get", name="extra", keys=["numprocesses"])["options"] == {"numprocesses": 2}
    os.kill(extra[0], signal.SIGKILL)
    until(lambda: len(daemon.pids("extra")) == 2 and extra[0] not in daemon.pids("extra"), timeout=15,
          what=lambda: "a replacement in the added watcher; have %s" % daemon.pids("extra"))


@pytest.mark.timeout(90)
def test_values_set_at_runtime_are_kept_by_the_upgrade(circusd, workers, tmp_path):
    daemon = start_daemon(circusd, workers, tmp_path)
    web = daemon.wait_pids("web", 3)
    assert call(daemon, "set", name="web", options={"graceful_timeout": 7, "max_retry": 9})["status"] == "ok"
    upgrade(daemon, "circusctl")
    reply = call(daemon, "get", name="web", keys=["graceful_timeout", "max_retry", "numprocesses"])
    assert reply["options"] == {"graceful_timeout": 7, "max_retry": 9, "numprocesses": 3}
    assert pids(daemon, "web") == web


@pytest.mark.timeout(90)
def test_orphans_adopted_before_an_upgrade_are_still_stopped_at_exit(circusd, tmp_path):
    from test_pid1 import ORPHANER

    daemon = circusd()
    daemon.write_ini("[watcher:orphaner]\ncmd = %s %s\n" % (ORPHANER, tmp_path))
    daemon.start("--init")
    daemon.wait_answering()
    until((tmp_path / "orphan.ready").exists, timeout=10, what="the long-lived orphan")
    upgrade(daemon, "circusctl")
    assert daemon.terminate(20) == 0, daemon.log()[-3000:]
    assert (tmp_path / "orphan.term").read_text() == "TERM"


@pytest.mark.timeout(90)
def test_processes_left_running_by_rm_nostop_stay_spared_after_an_upgrade(circusd, workers, tmp_path):
    daemon = circusd()
    daemon.write_ini("[watcher:left]\ncmd = %s\n" % workers.cmd("left"))
    daemon.start("--init")
    daemon.wait_answering()
    (left,) = daemon.wait_pids("left", 1)
    assert call(daemon, "rm", name="left", nostop=True, waiting=True)["status"] == "ok"
    upgrade(daemon, "circusctl")
    try:
        assert daemon.terminate(20) == 0, daemon.log()[-3000:]
        assert os.path.exists("/proc/%d" % left), "rm --nostop left it running, on purpose"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(left, signal.SIGKILL)
