"""Plugins run by a real circusd: the circus-plugin program and [plugin:NAME] sections."""

import shlex
import socket
import subprocess
import sys

from helpers import REPO_ROOT, SLEEPER, python, until

from circus.client import CircusClient

PLUGIN_MAIN = "from circus import plugins; plugins.main()"
CRASHER = python("import sys\nsys.exit(3)")


def circus_plugin(*args, timeout=20):
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", PLUGIN_MAIN, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def client(daemon):
    return CircusClient(endpoint=daemon.endpoint, timeout=5)


def test_circus_plugin_without_a_plugin_prints_its_usage_and_exits_0():
    result = circus_plugin()
    assert result.returncode == 0
    assert result.stdout.startswith("usage: circus-plugin")


def test_circus_plugin_prints_its_version():
    result = circus_plugin("--version")
    assert (result.returncode, result.stdout.strip()) == (0, "0.19.0")


def test_circus_plugin_names_a_plugin_path_that_does_not_import():
    result = circus_plugin("--endpoint", "ipc:///nonexistent/c", "no_such_module.Plugin")
    assert result.returncode == 1
    assert "no_such_module.Plugin" in result.stdout + result.stderr


def test_circus_plugin_refuses_a_malformed_config():
    result = circus_plugin("--config", "host=localhost", "circus.plugins.statsd.StatsdEmitter")
    assert result.returncode == 2
    assert "host=localhost" in result.stderr


def test_statsd_emitter_run_by_circusd_sends_real_udp_packets(circusd):
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind(("127.0.0.1", 0))
    statsd.settimeout(0.2)
    daemon = circusd()
    words = [sys.executable, "-c", PLUGIN_MAIN, "--endpoint", daemon.endpoint,
             "--pubsub", daemon.pubsub_endpoint,
             "--config", "host:127.0.0.1:::port:%d:::application_name:e2e" % statsd.getsockname()[1],
             "circus.plugins.statsd.StatsdEmitter"]
    daemon.write_ini("""
        [watcher:statsd]
        cmd = %s
        copy_env = true

        [watcher:sleeper]
        cmd = %s
        """ % (" ".join(shlex.quote(w) for w in words), SLEEPER))
    daemon.start()
    ctl = client(daemon)
    lines = []

    def spawn_counted():
        # The plugin's subscription may come after some events: keep making them.
        ctl.send_message("incr", name="sleeper")
        try:
            lines.append(statsd.recv(65535).decode())
        except socket.timeout:
            pass
        return "circus.e2e.watcher.sleeper.spawn:1|c" in lines

    try:
        until(spawn_counted, 10, what="a spawn counter; got %s; log:\n%s" % (lines, daemon.log()[-2000:]))
    finally:
        ctl.stop()
        statsd.close()


def run_flapping(circusd, plugin_keys, watcher_keys=""):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:crasher]
        cmd = %s
        %s

        [plugin:flapping]
        use = circus.plugins.flapping.Flapping
        %s
        """ % (CRASHER, watcher_keys, plugin_keys), circus={"check_delay": 1, "debug": "true"})
    return daemon.start()


def wait_flapping_gives_up(daemon):
    """Stopped once, retried after retry_in, stopped for good."""
    ctl = client(daemon)
    try:
        watchers = until(lambda: ctl.send_message("list").get("watchers"), 5)
        assert "plugin:flapping" in watchers
        daemon.wait_log(r"crasher: flapping, stopped; retry in 1.0s \(attempt number 1\)", timeout=5)
        daemon.wait_log(r"crasher: retrying after flapping", timeout=5)
        daemon.wait_log(r"crasher: flapping, reached the max retry limit \(1\)", timeout=5)
        until(lambda: ctl.send_message("status", name="crasher")["status"] == "stopped", 5)
        assert daemon.alive()
    finally:
        ctl.stop()


def test_a_plugin_section_runs_flapping_with_per_watcher_options(circusd):
    daemon = run_flapping(circusd, "attempts = 2", "flapping.retry_in = 1\n        flapping.max_retry = 1")
    wait_flapping_gives_up(daemon)


def test_flapping_takes_retry_in_and_max_retry_from_its_plugin_section(circusd):
    # The documented example: these two are also watcher option names.
    daemon = run_flapping(circusd, "retry_in = 1\n        max_retry = 1")
    wait_flapping_gives_up(daemon)


def test_a_plugin_section_whose_use_does_not_import_stops_circusd_naming_it(circusd):
    daemon = circusd()
    daemon.write_ini("""
        [watcher:sleeper]
        cmd = %s

        [plugin:broken]
        use = no_such_module.Plugin
        """ % SLEEPER)
    rc, out, err = daemon.run()
    assert rc != 0
    assert "no_such_module.Plugin" in out + err


def test_redis_observer_without_redis_py_names_the_extra_to_install():
    # Hide redis-py, as on a machine installed without the extra.
    code = "import sys; sys.modules['redis'] = None; " + PLUGIN_MAIN
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code, "--endpoint", "ipc:///nonexistent/c",
                             "circus.plugins.redis_observer.RedisObserver"],
                            capture_output=True, text=True, timeout=20, env=env)
    assert result.returncode == 1
    assert "pip install 'circus[redis]'" in result.stdout + result.stderr
