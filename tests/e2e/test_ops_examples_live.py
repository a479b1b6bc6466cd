"""The ops examples at work: logrotate rotates the files of
examples/logrotate.ini under a running circusd, and nginx with
examples/nginx.conf serves the workers of examples/nginx.ini.

The files are the shipped ones with their paths moved into the test's temp
dir (and nginx listening on a unix socket instead of port 8080)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path


from helpers import REPO_ROOT, http_get_unix, kill_groups, system_tool, until

EXAMPLES = REPO_ROOT / "examples"


def example_watchers(name, replacements):
    """The example ini without its [circus] section (the test's circusd has its own), edited."""
    text = re.sub(r"^\[circus\]\n(?:[^\[\n].*\n|\n)*", "", (EXAMPLES / name).read_text(), flags=re.M)
    replacements = dict(replacements, **{"python3 ": sys.executable + " ", "examples/": "%s/" % EXAMPLES})
    for old, new in replacements.items():
        assert old in text, "%s no longer has %r" % (name, old)
        text = text.replace(old, new)
    return text


def edited(name, target, replacements):
    text = (EXAMPLES / name).read_text()
    for old, new in replacements.items():
        assert old in text, "%s no longer has %r" % (name, old)
        text = text.replace(old, new)
    Path(target).write_text(text)
    return Path(target)


def lines(path):
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def test_logrotate_moves_the_watched_file_and_circus_writes_a_new_one(circusd, tmp_path):
    logrotate = system_tool("logrotate")
    logs = tmp_path / "logs"
    logs.mkdir()
    daemon = circusd()
    daemon.write_ini(example_watchers("logrotate.ini", {"/var/log/circus": str(logs), "--every 1": "--every 0.1"}))
    daemon.start()
    current, rotated = logs / "ticker.stdout.log", logs / "ticker.stdout.log.1"
    until(lambda: any("tick" in line for line in lines(current)), timeout=20,
          what="ticks in %s; log:\n%s" % (current, daemon.log()[-2000:]))  # fmt: skip
    conf = edited("logrotate.conf", tmp_path / "circus", {"/var/log/circus": str(logs)})
    conf.chmod(0o644)
    done = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert any("tick" in line for line in lines(rotated))
    until(lambda: len([line for line in lines(current) if "tick" in line]) >= 3, timeout=20,
          what="ticks in the new %s; log:\n%s" % (current, daemon.log()[-2000:]))  # fmt: skip
    before = rotated.stat().st_size
    grown = len(lines(current))
    until(lambda: len(lines(current)) > grown + 3, timeout=20, what="more ticks in the new file")
    assert rotated.stat().st_size == before, "circus still writes to the rotated file"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", lines(current)[-1])  # time_format


def answer(path):
    """The body of a GET over the unix socket ``path``; None while it fails."""
    try:
        return http_get_unix(path, timeout=5)
    except (OSError, AssertionError):
        return None


def test_nginx_serves_the_workers_through_the_socket_circusd_binds(circusd, tmp_path):
    nginx = system_tool("nginx")
    web_sock, front = tmp_path / "web.sock", tmp_path / "nginx.sock"
    daemon = circusd()
    daemon.write_ini(example_watchers("nginx.ini", {"/tmp/circus-web-nginx.sock": str(web_sock)}))
    daemon.start()
    until(web_sock.exists, timeout=20, what="circusd to bind %s; log:\n%s" % (web_sock, daemon.log()[-2000:]))
    conf = edited("nginx.conf", tmp_path / "nginx.conf", {
        "unix:/tmp/circus-web-nginx.sock": "unix:%s" % web_sock, "listen 8080;": "listen unix:%s;" % front})
    (tmp_path / "logs").mkdir()
    # The temp dir is ours only: nginx's workers must run as this user to reach the sockets.
    user = "user root; " if os.geteuid() == 0 else ""
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf),
         "-g", "daemon off; %spid %s;" % (user, tmp_path / "nginx.pid")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        errors = tmp_path / "error.log"
        until(lambda: answer(front), timeout=20, what=lambda: "an answer through nginx; its error.log:\n%s"
              % "\n".join(lines(errors)[-20:]))  # fmt: skip
        answers = [http_get_unix(front) for _ in range(8)]
        workers = {child.pid for child in daemon.children()}
        pids = {int(re.fullmatch(r"hello from pid (\d+)\n", body).group(1)) for body in answers}
        assert pids and pids <= workers, (answers, workers, daemon.log()[-2000:])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        kill_groups([proc.pid])
