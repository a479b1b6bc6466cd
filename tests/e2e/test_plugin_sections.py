"""``[plugin:NAME]`` sections take the watcher keys the manual gives them, through a real circusd.

The plugin and hook modules live in a temp dir named only by the ini's
``[env] PYTHONPATH``.
"""

import json

from circus.client import CircusClient
from helpers import until

PLUGIN = """
import os
import sys

from circus.plugins import CircusPlugin


class Echo(CircusPlugin):
    name = "echo"

    def handle_init(self):
        sys.stderr.write("echo says hello on stderr\\n")
        sys.stderr.flush()
        with open(self.config["marker"], "w") as marker:
            marker.write(str(os.getpid()))

    def handle_recv(self, data):
        pass
"""

HOOKS = """
import json

LOG = {log!r}


def record(watcher, arbiter, hook_name, **kwargs):
    with open(LOG, "a") as log:
        log.write(json.dumps({{"watcher": watcher.name, "hook": hook_name}}) + "\\n")
    return True
"""


def start_echo(circusd, tmp_path, extra=""):
    """circusd running ``[plugin:echo]`` (plus ``extra`` ini lines); returns it once the plugin runs."""
    mods, marker = tmp_path / "mods", tmp_path / "marker"
    mods.mkdir()
    (mods / "myplugins.py").write_text(PLUGIN)
    (mods / "myhooks.py").write_text(HOOKS.format(log=str(tmp_path / "hooks.jsonl")))
    daemon = circusd()
    daemon.write_ini("""
        [env]
        PYTHONPATH = %s

        [plugin:echo]
        use = myplugins.Echo
        marker = %s
        """ % (mods, marker) + extra)
    daemon.start()
    until(lambda: marker.exists() and marker.read_text(), timeout=20,
          what="the plugin running; log:\n%s" % daemon.log()[-3000:])
    return daemon, int(marker.read_text())


def test_a_plugin_imports_from_the_env_pythonpath_in_a_file_without_watchers(circusd, tmp_path):
    daemon, pid = start_echo(circusd, tmp_path)
    ctl = CircusClient(endpoint=daemon.endpoint, timeout=5)
    try:
        assert ctl.send_message("list", name="plugin:echo").get("pids") == [pid]
    finally:
        ctl.stop()
    assert daemon.terminate() == 0


def test_a_plugin_section_takes_stream_and_hook_keys_for_its_watcher(circusd, tmp_path):
    out, err = tmp_path / "plugin.out", tmp_path / "plugin.err"
    daemon, _ = start_echo(circusd, tmp_path, """
        stdout_stream.class = FileStream
        stdout_stream.filename = %s
        stderr_stream.filename = %s
        hooks.after_start = myhooks.record

        [watcher:idle]
        cmd = sleep 120
        """ % (out, err))
    # The plugin program logs to its stdout: that goes to the FileStream.
    until(lambda: out.exists() and "Starting" in out.read_text(), timeout=10,
          what="the plugin's log in %s; log:\n%s" % (out, daemon.log()[-3000:]))
    until(lambda: err.exists() and err.read_text() == "echo says hello on stderr\n", timeout=10,
          what="the plugin's stderr in %s" % err)
    hooks = tmp_path / "hooks.jsonl"
    until(hooks.exists, timeout=10, what="the after_start hook called")
    assert [json.loads(line) for line in hooks.read_text().splitlines()] == [
        {"watcher": "plugin:echo", "hook": "after_start"}
    ]
    assert daemon.terminate() == 0
