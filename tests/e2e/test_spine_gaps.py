"""circusd features of the spine not exercised elsewhere, through the real thing.

Each test runs a real ``circusd`` on an ini file in a temp dir. Where the
shared worker script (helpers.Workers) cannot see what a test needs, a
``helpers.Probe`` worker reports it: argv[0], interpreter, ids and groups,
resource limits, what each fd is (blocking mode, bound device), the signals
it got.
"""

import grp
import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from helpers import REPO_ROOT, Probe, http_get_tcp, listening_ports, pid_alive, python, start, until

@pytest.fixture
def probe(tmp_path):
    return Probe(tmp_path)


def served_pids(port, host="127.0.0.1", want=2, tries=200):
    """GET until ``want`` different pids answered (or ``tries`` requests); return them."""
    seen = set()
    for _ in range(tries):
        seen.add(int(http_get_tcp(host, port)))
        if len(seen) >= want:
            break
    return seen


# -- process: how the command is run ---------------------------------------------


def test_executable_runs_the_real_program_with_cmd_first_word_as_argv0(circusd, probe):
    daemon = start(circusd, """
        [watcher:exe]
        cmd = fakename-4242 %s
        executable = %s
        """ % (probe.args("exe"), sys.executable))
    (report,) = probe.wait("exe")
    assert report["argv0"] == "fakename-4242"
    assert daemon.alive()


def test_shell_true_runs_operators_redirections_and_shell_args(circusd, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    start(circusd, """
        [watcher:sh]
        cmd = echo first > a.txt && echo "$0 $1 $(circus.wid)" > b.txt && exec /bin/sleep 60
        shell = true
        shell_args = zero one
        working_dir = %s
        """ % out)
    until(lambda: (out / "b.txt").exists() and (out / "b.txt").read_text(), what="b.txt written")
    assert (out / "a.txt").read_text() == "first\n"
    assert (out / "b.txt").read_text() == "zero one 1\n"


def test_virtualenv_puts_its_bin_first_in_path_and_its_site_packages_in_pythonpath(circusd, probe, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    version = "%d.%d" % sys.version_info[:2]
    site_packages = venv / "lib" / ("python" + version) / "site-packages"
    (site_packages / "extra").mkdir()
    (site_packages / "extra.pth").write_text("# a comment\nextra\n")
    daemon = start(circusd, """
        [watcher:venv]
        cmd = python %s
        copy_env = true
        virtualenv = %s
        """ % (probe.args("venv"), venv))
    (report,) = probe.wait("venv")
    # "python" was found in the virtualenv's bin, first in PATH.
    assert report["env"]["PATH"].split(os.pathsep)[0] == str(venv / "bin")
    assert report["prefix"] == str(venv)
    pythonpath = report["env"]["PYTHONPATH"].split(os.pathsep)
    assert str(site_packages) in pythonpath
    assert str(site_packages / "extra") in pythonpath
    assert str(site_packages) in report["path"]
    assert daemon.alive()


def test_copy_path_gives_the_child_circusd_sys_path_as_pythonpath(circusd, probe):
    start(circusd, """
        [watcher:copy]
        cmd = %s
        copy_env = true
        copy_path = true
        """ % probe.cmd("copy"))
    (report,) = probe.wait("copy")
    assert str(REPO_ROOT) in report["env"]["PYTHONPATH"].split(os.pathsep)


def test_close_child_stdout_and_stderr_point_them_at_dev_null(circusd, probe):
    # close_child_* wins over the ring (default log_buffer_size): no pipe.
    # With log_buffer_size = 0 an output without a stream is circusd's own (0.19).
    start(circusd, """
        [watcher:closed]
        cmd = %s
        close_child_stdout = true
        close_child_stderr = true

        [watcher:open]
        cmd = %s
        log_buffer_size = 0
        """ % (probe.cmd("closed"), probe.cmd("open")))
    (closed,) = probe.wait("closed")
    (opened,) = probe.wait("open")
    assert {fd: closed["fds"][fd]["target"] for fd in "012"} == {
        "0": "/dev/null", "1": "/dev/null", "2": "/dev/null"}
    assert opened["fds"]["1"]["target"].endswith("stdout.log")
    assert opened["fds"]["2"]["target"].endswith("stderr.log")


def test_close_child_stdin_false_lets_the_child_inherit_circusd_stdin(circusd, probe, tmp_path, tracker):
    stdin_file = tmp_path / "stdin.txt"
    stdin_file.write_text("hello\n")
    daemon = circusd()
    daemon.write_ini("""
        [watcher:keep]
        cmd = %s
        close_child_stdin = false
        """ % probe.cmd("keep"))
    with open(stdin_file, "rb") as stdin:
        daemon.start(stdin=stdin)
    (report,) = probe.wait("keep")
    assert report["fds"]["0"]["target"] == str(stdin_file)


def test_stdin_socket_puts_the_named_socket_on_the_child_fd_0(circusd, probe):
    daemon = start(circusd, """
        [socket:feed]
        host = 127.0.0.1
        port = 0

        [watcher:fed]
        cmd = %s
        stdin_socket = feed
        """ % probe.cmd("fed", "serve=0"))
    (report,) = probe.wait("fed")
    (port,) = listening_ports(daemon.pid)
    assert report["fds"]["0"]["target"].startswith("socket:")
    assert report["fds"]["0"]["address"] == ["127.0.0.1", port]
    assert int(http_get_tcp("127.0.0.1", port)) == report["pid"]


# -- process: identity and limits -------------------------------------------------


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch groups")
def test_gid_alone_changes_the_group_and_keeps_the_user(circusd, probe):
    nogroup = grp.getgrgid(65534)
    start(circusd, """
        [watcher:grouped]
        cmd = %s
        gid = %s
        """ % (probe.cmd("grouped"), nogroup.gr_name))
    (report,) = probe.wait("grouped")
    assert report["uid"] == 0
    assert report["gid"] == 65534


def _user_with_supplementary_groups():
    for entry in grp.getgrall():
        for member in entry.gr_mem:
            try:
                user = pwd.getpwnam(member)
            except KeyError:
                continue
            if user.pw_uid != 0 and user.pw_gid != entry.gr_gid:
                return user
    return None


@pytest.fixture
def shared_dir():
    """A world-writable temp dir: pytest's own temp dirs are private to root."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="circus-spine-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch users")
def test_uid_sets_the_supplementary_groups_of_that_user(circusd, shared_dir):
    user = _user_with_supplementary_groups()
    if user is None:
        pytest.skip("no user with supplementary groups in /etc/group")
    expected = sorted(os.getgrouplist(user.pw_name, user.pw_gid))
    member = Probe(shared_dir)
    member.dir.chmod(0o777)
    # The venv interpreter lives under /root, out of reach for that user.
    start(circusd, """
        [watcher:member]
        cmd = %s
        uid = %s
        working_dir = /
        """ % (member.cmd("member", interpreter="/usr/bin/python3"), user.pw_name))
    (report,) = member.wait("member")
    assert (report["uid"], report["gid"]) == (user.pw_uid, user.pw_gid)
    assert report["groups"] == expected
    assert 0 not in report["groups"]


def test_an_empty_rlimit_means_unlimited(circusd, probe):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    start(circusd, """
        [watcher:unlimited]
        cmd = %s
        rlimit_fsize =
        rlimit_core =
        rlimit_nofile =
        """ % probe.cmd("unlimited"))
    (report,) = probe.wait("unlimited")
    inf = resource.RLIM_INFINITY
    assert report["limits"]["fsize"] == [inf, inf]
    assert report["limits"]["core"] == [inf, inf]
    # No process may have an infinite NOFILE: the hard limit stands in.
    assert report["limits"]["nofile"] == [hard, hard]


# -- sockets ------------------------------------------------------------------------


def socket_fds(report, host="127.0.0.1"):
    """``{fd: info}`` of the report's inet sockets bound at ``host``."""
    return {fd: info for fd, info in report["fds"].items()
            if info.get("address", [None])[0] == host}


def test_so_reuseport_gives_each_worker_its_own_socket_and_all_of_them_serve(circusd, probe):
    daemon = start(circusd, """
        [socket:web]
        host = 127.0.0.1
        port = 0
        so_reuseport = true

        [watcher:web]
        cmd = %s
        numprocesses = 2
        use_sockets = true
        """ % probe.cmd("web", "serve=$(circus.sockets.web)"))
    reports = probe.wait("web", 2)
    sockets = [list(socket_fds(r).values()) for r in reports]
    assert [len(s) for s in sockets] == [1, 1], sockets
    (first,), (second,) = sockets
    assert first["target"] != second["target"], "both workers got the same socket"
    port = first["address"][1]
    assert second["address"][1] == port != 0
    # circusd holds the address but does not listen: the workers take every connection.
    assert listening_ports(daemon.pid) == []
    pids = {r["pid"] for r in reports}
    assert served_pids(port) == pids

    victim = reports[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    (third,) = [r for r in probe.wait("web", 3) if r["pid"] not in pids]
    (fresh,) = socket_fds(third).values()
    assert fresh["address"][1] == port
    assert fresh["target"] not in (first["target"], second["target"])
    assert served_pids(port) == {reports[1]["pid"], third["pid"]}


@pytest.mark.skipif(os.getuid() != 0, reason="SO_BINDTODEVICE needs root or CAP_NET_RAW")
def test_interface_binds_the_socket_to_that_device(circusd, probe):
    daemon = start(circusd, """
        [socket:web]
        host = 127.0.0.1
        port = 0
        interface = lo

        [watcher:web]
        cmd = %s
        use_sockets = true
        """ % probe.cmd("web", "serve=$(circus.sockets.web)"))
    (report,) = probe.wait("web")
    (info,) = socket_fds(report).values()
    assert info["device"] == "lo"
    (port,) = listening_ports(daemon.pid)
    assert int(http_get_tcp("127.0.0.1", port)) == report["pid"]


def test_an_unknown_interface_exits_1_naming_socket_and_interface(circusd, workers):
    daemon = circusd()
    daemon.write_ini("""
        [socket:web]
        host = 127.0.0.1
        port = 0
        interface = nosuchif42

        [watcher:web]
        cmd = %s
        """ % workers.cmd("web"))
    rc, out, err = daemon.run()
    assert rc == 1, out + err
    assert "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert "web" in line and "nosuchif42" in line
    assert workers.reports("web") == []


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_an_af_inet6_socket_on_the_ipv6_loopback_is_served(circusd, probe):
    daemon = start(circusd, """
        [socket:web6]
        host = ::1
        port = 0
        family = AF_INET6

        [watcher:web6]
        cmd = %s
        use_sockets = true
        """ % probe.cmd("web6", "serve=$(circus.sockets.web6)"))
    (report,) = probe.wait("web6")
    (info,) = socket_fds(report, host="::1").values()
    assert info["family"] == socket.AF_INET6
    (port,) = listening_ports(daemon.pid, host="::1")
    assert int(http_get_tcp("::1", port)) == report["pid"]


def _listen_backlog(port):
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True, text=True,
                         check=True).stdout
    (line,) = out.strip().splitlines()
    return int(line.split()[2])  # Send-Q of a listening socket is its backlog


@pytest.mark.skipif(not os.path.exists("/usr/bin/ss") and not os.path.exists("/bin/ss"),
                    reason="needs ss (iproute2) to read a listen backlog")
def test_backlog_and_blocking_reach_the_listening_socket(circusd, probe):
    daemon = start(circusd, """
        [socket:custom]
        host = 127.0.0.1
        port = 0
        backlog = 7
        blocking = true

        [socket:plain]
        host = 127.0.0.1
        port = 0

        [watcher:both]
        cmd = %s
        use_sockets = true
        """ % probe.cmd("both", "custom=$(circus.sockets.custom)", "plain=$(circus.sockets.plain)"))
    (report,) = probe.wait("both")
    argv = dict(a.lstrip("-").split("=", 1) for a in psutil.Process(report["pid"]).cmdline()[2:])
    custom, plain = report["fds"][argv["custom"]], report["fds"][argv["plain"]]
    assert (custom["blocking"], plain["blocking"]) == (True, False)
    assert _listen_backlog(custom["address"][1]) == 7
    assert _listen_backlog(plain["address"][1]) == 2048
    assert daemon.alive()


# -- logging ------------------------------------------------------------------------


def test_logoutput_and_loglevel_of_the_ini_send_debug_lines_to_a_file(circusd, workers, tmp_path):
    logfile = tmp_path / "circusd.log"
    daemon = start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
                   circus={"logoutput": logfile, "loglevel": "debug"})
    daemon.wait_pids("web", 1)
    until(lambda: logfile.exists() and re.search(r"\[DEBUG\]", logfile.read_text()),
          what="a DEBUG line in %s" % logfile)
    assert "[INFO]" in logfile.read_text()
    assert daemon.terminate() == 0
    assert "[INFO]" not in daemon.log(), "log lines also went to stdout/stderr"


def test_command_line_log_options_beat_the_ini(circusd, workers, tmp_path):
    ini_log, cli_log = tmp_path / "ini.log", tmp_path / "cli.log"
    daemon = circusd()
    daemon.write_ini("[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
                     circus={"logoutput": ini_log, "loglevel": "error"})
    daemon.start("--log-level", "DEBUG", "--log-output", cli_log)
    daemon.wait_pids("web", 1)
    until(lambda: cli_log.exists() and "[DEBUG]" in cli_log.read_text(), what="DEBUG lines in cli.log")
    assert not ini_log.exists() or ini_log.read_text() == ""


def syslog_facility(message):
    """The facility of a syslog datagram: ``<priority>`` is facility * 8 + severity."""
    match = re.match(r"<(\d+)>", message)
    assert match, "not a syslog message: %r" % message
    return int(match.group(1)) // 8


def test_syslog_output_to_a_unix_socket_path_uses_the_facility(circusd, workers, tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog:
        syslog.bind(str(tmp_path / "log"))
        syslog.settimeout(10)
        start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
              circus={"logoutput": "syslog://%s?local0" % (tmp_path / "log")})
        message = syslog.recv(4096).decode()
    assert syslog_facility(message) == 16, message  # local0


def test_syslog_output_over_udp_uses_host_port_and_facility(circusd, workers):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as syslog:
        syslog.bind(("127.0.0.1", 0))
        syslog.settimeout(10)
        port = syslog.getsockname()[1]
        start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
              circus={"logoutput": "syslog://127.0.0.1:%d?daemon" % port})
        message = syslog.recv(4096).decode()
    assert syslog_facility(message) == 3, message  # daemon


def test_syslog_dev_log_without_a_syslog_daemon_does_not_stop_circusd(circusd, workers):
    if os.path.exists("/dev/log"):
        pytest.skip("a syslog daemon listens on /dev/log")
    daemon = start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
                   circus={"logoutput": "syslog:///dev/log?local1"})
    (pid,) = daemon.wait_pids("web", 1)
    os.kill(pid, signal.SIGKILL)
    until(lambda: daemon.pids("web") not in ([], [pid]), what="a replacement")
    assert daemon.terminate() == 0, daemon.log()


JSON_LOGGING = {
    "version": 1,
    "formatters": {"mark": {"format": "JSONCFG %(levelname)s %(name)s %(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "formatter": "mark", "filename": "{log}"}},
    "loggers": {"circus": {"handlers": ["file"], "level": "DEBUG"}},
}

INI_LOGGING = """
    [loggers]
    keys = root,circus

    [handlers]
    keys = file

    [formatters]
    keys = mark

    [logger_root]
    handlers =

    [logger_circus]
    qualname = circus
    handlers = file
    level = DEBUG

    [handler_file]
    class = FileHandler
    formatter = mark
    args = ({log!r},)

    [formatter_mark]
    format = INICFG %(levelname)s %(name)s %(message)s
    """


@pytest.mark.parametrize("kind", ["json", "ini"])
def test_loggerconfig_in_the_ini_takes_over_the_logging_setup(kind, circusd, workers, tmp_path):
    log = tmp_path / ("%s.log" % kind)
    config = tmp_path / ("logging.%s" % kind)
    if kind == "json":
        text = json.dumps(JSON_LOGGING).replace("{log}", str(log))
    else:
        text = textwrap.dedent(INI_LOGGING).replace("{log!r}", repr(str(log)))
    config.write_text(text)
    daemon = start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
                   circus={"loggerconfig": config})
    daemon.wait_pids("web", 1)
    mark = "JSONCFG" if kind == "json" else "INICFG"
    until(lambda: log.exists() and re.search(r"^%s DEBUG circus\.\S+ " % mark, log.read_text(), re.M),
          what="DEBUG lines formatted by %s in %s" % (config.name, log))
    assert daemon.terminate() == 0
    assert "[INFO]" not in daemon.log(), "the builtin handler is still in place"


def test_debug_gc_turns_on_gc_leak_debugging_without_harm(circusd, workers):
    daemon = start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"),
                   circus={"debug_gc": "true"})
    (pid,) = daemon.wait_pids("web", 1)
    os.kill(pid, signal.SIGKILL)
    until(lambda: daemon.pids("web") not in ([], [pid]), what="a replacement")
    assert daemon.terminate() == 0, daemon.log()[-2000:]
    # gc.DEBUG_LEAK reports each collectable object on stderr. When a collection
    # runs while circusd works depends on how many objects it happened to
    # allocate; the interpreter collects once more at exit, for sure.
    assert re.search(r"^gc: collectable <", daemon.stderr(), re.M), daemon.log()[-2000:]


# -- circusd: pidfile, endpoints, title ---------------------------------------------


def test_pidfile_and_socket_path_of_the_ini_expand_circus_env(circusd, workers, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    body = """
        [socket:web]
        path = $(circus.env.CIRCUS_RUN_DIR)/web.sock

        [watcher:web]
        cmd = %s
        """ % workers.cmd("web")
    daemon = circusd(env={"CIRCUS_RUN_DIR": str(run_dir)}, directory=tmp_path / "first")
    daemon.write_ini(body, circus={"pidfile": "$(circus.env.CIRCUS_RUN_DIR)/circusd.pid"})
    daemon.start()
    daemon.wait_pids("web", 1)
    pidfile = run_dir / "circusd.pid"
    until(pidfile.exists, what="the pid file of the ini")
    assert int(pidfile.read_text()) == daemon.pid
    assert (run_dir / "web.sock").exists()

    second = circusd(env={"CIRCUS_RUN_DIR": str(run_dir)}, directory=tmp_path / "second")
    second.write_ini("[watcher:other]\ncmd = %s\n" % workers.cmd("other"),
                     circus={"pidfile": "$(circus.env.CIRCUS_RUN_DIR)/circusd.pid"})
    rc, out, err = second.run()
    assert rc == 1 and str(pidfile) in err, out + err
    assert workers.reports("other") == []
    assert int(pidfile.read_text()) == daemon.pid

    assert daemon.terminate() == 0
    assert not pidfile.exists()
    assert not (run_dir / "web.sock").exists()


@pytest.mark.parametrize("which", ["endpoint", "pubsub_endpoint"])
def test_a_control_endpoint_already_taken_exits_1_and_starts_nothing(which, circusd, workers, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "tcp://127.0.0.1:%d" % taken.getsockname()[1]
        daemon = circusd()
        daemon.write_ini("""
            [socket:web]
            path = %s

            [watcher:web]
            cmd = %s
            """ % (tmp_path / "web.sock", workers.cmd("web")), circus={which: address})
        rc, out, err = daemon.run()
    assert rc == 1, out + err
    assert "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert address in line, line
    assert workers.reports("web") == []
    assert not (tmp_path / "web.sock").exists(), "the socket file of the failed start was left"


def test_an_ipc_endpoint_in_use_by_a_live_circusd_is_not_stolen(circusd, workers, tmp_path):
    first = circusd(directory=tmp_path / "first")
    first.write_ini("[watcher:one]\ncmd = %s\n" % workers.cmd("one"))
    first.start()
    first.wait_pids("one", 1)
    second = circusd(directory=tmp_path / "second")
    second.write_ini("[watcher:two]\ncmd = %s\n" % workers.cmd("two"),
                     circus={"endpoint": first.endpoint})
    rc, out, err = second.run()
    assert rc == 1, out + err
    assert first.endpoint in err
    assert workers.reports("two") == []
    # The first circusd still answers on its endpoint.
    from circus.client import CircusClient

    client = CircusClient(endpoint=first.endpoint, timeout=5)
    try:
        assert client.call({"command": "list", "properties": {}})["status"] == "ok"
    finally:
        client.stop()


def test_circusd_sets_its_process_title_and_answers_help(circusd, workers):
    daemon = start(circusd, "[watcher:web]\ncmd = %s\n" % workers.cmd("web"))
    daemon.wait_pids("web", 1)
    until(lambda: psutil.Process(daemon.pid).cmdline()[:1] == ["circusd"],
          what="process title 'circusd' (have %r)" % psutil.Process(daemon.pid).cmdline())
    rc, out, err = circusd(directory=daemon.dir / "help").run("--help", ini=False)
    assert rc == 0, err
    for flag in ("--daemon", "--pidfile", "--log-level", "--log-output", "--logger-config", "--version"):
        assert flag in out


# -- watchers ---------------------------------------------------------------------


def test_stop_signal_accepts_names_with_or_without_sig_and_numbers(circusd, probe):
    cases = {"int": ("INT", signal.SIGINT), "quit": ("SIGQUIT", signal.SIGQUIT),
             "three": ("3", signal.SIGQUIT), "lower": ("sigint", signal.SIGINT),
             "usr1": ("usr1", signal.SIGUSR1)}
    daemon = start(circusd, "".join("""
        [watcher:%s]
        cmd = %s
        stop_signal = %s
        graceful_timeout = 5
        """ % (name, probe.cmd(name), value) for name, (value, _) in cases.items()))
    pids = {name: probe.wait(name)[0]["pid"] for name in cases}
    assert daemon.terminate() == 0, daemon.log()
    got = {name: probe.signals(name, pid) for name, pid in pids.items()}
    assert got == {name: [int(sig)] for name, (_, sig) in cases.items()}


MISSING_PROGRAM = """
    [watcher:ghost]
    cmd = /nonexistent/ghost-4242
    max_retry = -1

    [watcher:good]
    cmd = %s
    priority = %d
    """


def test_max_retry_minus_1_keeps_retrying_without_spinning_and_circusd_still_stops(circusd, workers):
    # 'good' starts first (higher priority): this test is about retrying and stopping.
    daemon = start(circusd, MISSING_PROGRAM % (workers.cmd("good"), 10), circus={"check_delay": 1})
    workers.wait_reports("good", 1)
    until(lambda: len(re.findall(r"ghost-4242", daemon.log())) >= 6, timeout=15,
          what="six spawn attempts logged; log:\n%s" % daemon.log()[-2000:])
    proc = psutil.Process(daemon.pid)
    cpu = sum(proc.cpu_times()[:2])
    attempts = len(re.findall(r"ghost-4242", daemon.log()))
    time.sleep(2)  # measuring CPU use over a period, not synchronising
    spent = sum(proc.cpu_times()[:2]) - cpu
    assert spent < 0.5, "circusd used %.2f CPU-s in 2 s while retrying" % spent
    assert len(re.findall(r"ghost-4242", daemon.log())) - attempts < 20, "retrying too fast"
    assert daemon.alive()
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0, daemon.log()[-2000:]
    assert time.monotonic() - started < 5, "circusd took %.1fs to stop" % (time.monotonic() - started)


def test_max_retry_minus_1_does_not_hold_back_the_watchers_started_after_it(circusd, workers):
    # Same priority: watchers start by name, 'ghost' before 'good'.
    start(circusd, MISSING_PROGRAM % (workers.cmd("good"), 0))
    workers.wait_reports("good", 1, timeout=10)


def test_the_global_warmup_delay_spaces_the_start_of_watchers(circusd, workers):
    start(circusd, """
        [watcher:first]
        cmd = %s
        priority = 2

        [watcher:second]
        cmd = %s
        priority = 1
        """ % (workers.cmd("first"), workers.cmd("second")), circus={"warmup_delay": 1})
    (first,) = workers.wait_reports("first", 1)
    (second,) = workers.wait_reports("second", 1)
    assert second["monotonic"] - first["monotonic"] >= 0.8


def test_includes_are_found_relative_to_the_main_file_not_the_cwd(circusd, workers, tmp_path):
    daemon = circusd(directory=tmp_path / "cwd")
    conf = tmp_path / "etc" / "circus"
    (conf / "extra").mkdir(parents=True)
    (conf / "conf.d").mkdir()
    (conf / "extra" / "a.ini").write_text("[watcher:from_include]\ncmd = %s\n" % workers.cmd("inc"))
    (conf / "extra" / "b.txt").write_text("[watcher:not_matched]\ncmd = %s\n" % workers.cmd("nope"))
    (conf / "conf.d" / "c.ini").write_text("[watcher:from_dir]\ncmd = %s\n" % workers.cmd("dir"))
    main = daemon.write_ini("[watcher:main]\ncmd = %s\n" % workers.cmd("main"),
                            circus={"include": "extra/*.ini", "include_dir": "conf.d"},
                            path=conf / "circus.ini")
    daemon.start(main, ini=False)
    for marker in ("main", "inc", "dir"):
        workers.wait_reports(marker, 1)
    assert workers.reports("nope") == []


# -- embedding -------------------------------------------------------------------


EMBEDDED = """
import sys
from circus import get_arbiter

directory, worker = sys.argv[1], sys.argv[2]
arbiter = get_arbiter([{"cmd": worker, "numprocesses": 2, "graceful_timeout": 2}],
                      controller="ipc://%s/ctl.sock" % directory,
                      pubsub_endpoint="ipc://%s/pub.sock" % directory,
                      multicast_endpoint="udp://237.219.251.97:0")
result = arbiter.start()
print("start returned %r, running %r" % (result, arbiter.running), flush=True)
"""


def test_get_arbiter_start_blocks_until_sigterm_then_returns(workers, tmp_path, tracker):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    out = open(tmp_path / "embedded.out", "w+")
    proc = subprocess.Popen([sys.executable, "-c", EMBEDDED, str(tmp_path), workers.cmd("embedded")],
                            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    tracker.add_root(proc.pid)
    try:
        pids = sorted(r["pid"] for r in workers.wait_reports("embedded", 2))
        assert proc.poll() is None, "start() returned before it was stopped"
        assert all(psutil.Process(pid).ppid() == proc.pid for pid in pids)
        tracker.sample()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        output = out.read()
        out.close()
    assert "start returned None, running False" in output, output
    assert not any(pid_alive(pid) for pid in pids)


# -- what circusd leaves behind -------------------------------------------------


DAEMONIZER = r"""
import os, sys, time
marker_dir = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        # The daemon: no longer a descendant of the worker, not in its group.
        with open(os.path.join(marker_dir, "daemon.%d" % os.getpid()), "w"):
            pass
        while True:
            time.sleep(60)
    os._exit(0)
while True:
    time.sleep(60)
"""


def test_a_daemonized_grandchild_is_adopted_by_circusd_and_stopped_with_stop_children(circusd, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    daemon = start(circusd, """
        [watcher:forker]
        cmd = %s
        stop_children = true
        graceful_timeout = 1
        """ % python(DAEMONIZER, marks))
    until(lambda: list(marks.glob("daemon.*")), what="the daemonized grandchild")
    (mark,) = marks.glob("daemon.*")
    grandchild = int(mark.name.split(".")[1])
    # circusd is a child subreaper: the orphan was re-parented to it, not to init.
    until(lambda: psutil.Process(grandchild).ppid() == daemon.pid, timeout=5,
          what="the grandchild re-parented to circusd")
    assert daemon.terminate() == 0, daemon.log()
    assert not pid_alive(grandchild), "the daemonized grandchild outlived circusd"


def zombies(pid):
    """Children of ``pid`` in zombie state."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                found.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def open_fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_fifty_respawns_leak_no_fd_and_leave_no_zombie(circusd, workers, tmp_path):
    out = tmp_path / "workers.out"
    daemon = start(circusd, """
        [socket:web]
        host = 127.0.0.1
        port = 0
        so_reuseport = true

        [watcher:web]
        cmd = %s
        numprocesses = 25
        use_sockets = true
        stdout_stream.class = FileStream
        stdout_stream.filename = %s
        """ % (workers.cmd("web", "fd=$(circus.sockets.web)"), out))
    pids = daemon.wait_pids("web", 25, timeout=20)
    workers.wait_reports("web", 25, timeout=20)
    before = open_fd_count(daemon.pid)
    for _ in range(2):
        # Kill workers that have lived min_uptime (1 s): this test is about
        # fds and zombies, not about crash loops.
        until(lambda: all(time.time() - psutil.Process(p).create_time() > 1.1 for p in pids),
              what="workers older than 1 s")
        for pid in pids:  # and ready: on a loaded machine 1 s may not be enough to report
            workers.report("web", pid)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        until(lambda: len(daemon.pids("web")) == 25 and not set(daemon.pids("web")) & set(pids),
              timeout=20, what="25 new workers")
        pids = daemon.pids("web")
        until(lambda: not zombies(daemon.pid), timeout=5, what="no zombie child of circusd")
    workers.wait_reports("web", 75, timeout=20)
    until(lambda: open_fd_count(daemon.pid) <= before, timeout=5,
          what="circusd's fds back to %d (have %d)" % (before, open_fd_count(daemon.pid)))
    assert daemon.terminate() == 0


def test_the_demo_circus_ini_serves_http_from_its_three_workers(circusd, tmp_path):
    demo = circusd(directory=tmp_path / "demo")
    shutil.copytree(REPO_ROOT / "examples", demo.dir / "examples")
    text = (REPO_ROOT / "circus.ini").read_text()
    # Private endpoints and an ephemeral port instead of the fixed demo ones.
    text = re.sub(r"(?m)^endpoint = .*$", "endpoint = %s" % demo.endpoint, text)
    text = re.sub(r"(?m)^pubsub_endpoint = .*$", "pubsub_endpoint = %s\nmulticast_endpoint = udp://237.219.251.97:0"
                  % demo.pubsub_endpoint, text)
    text = re.sub(r"(?m)^port = 8080$", "port = 0", text)
    assert "port = 0" in text and demo.endpoint in text
    demo.ini.write_text(text)
    demo.start()
    until(lambda: listening_ports(demo.pid), what="the web socket")
    (port,) = listening_ports(demo.pid)
    until(lambda: len(demo.children()) >= 4, timeout=15, what="3 web workers and the ticker")
    answers = set()
    # Each worker answers "hello from pid N".
    until(lambda: answers.add(int(http_get_tcp("127.0.0.1", port).split()[-1])) or len(answers) > 1,
          timeout=15, what="answers from more than one worker (got %s)" % answers)
    assert answers <= {c.pid for c in demo.children()}, answers
    assert demo.terminate() == 0


def test_sigterm_while_watchers_are_still_starting_stops_them_all(circusd, workers):
    daemon = start(circusd, """
        [watcher:first]
        cmd = %s
        priority = 2

        [watcher:second]
        cmd = %s
        priority = 1
        """ % (workers.cmd("first"), workers.cmd("second")), circus={"warmup_delay": 2})
    (first,) = workers.wait_reports("first", 1)
    daemon.signal(signal.SIGTERM)  # during the warmup_delay before 'second'
    assert daemon.wait(10) == 0, daemon.log()[-2000:]
    late = [r["pid"] for r in workers.reports("second") if pid_alive(r["pid"])]
    assert late == [], "watchers started after the stop outlived circusd: %s" % late
    assert not pid_alive(first["pid"])
