"""The manual's Python examples, run as scripts: "Circus Library" and "Adding new commands".

Each script is the manual's text with only what a test must change: the
program (a reporting worker), private ipc endpoints instead of fixed ports,
and, where a variant says so, one line that stops the arbiter.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from helpers import REPO_ROOT, pid_alive, until

# "Using Circus as a library", with the endpoints made private.
LIBRARY_EXAMPLE = """
from circus import get_arbiter

myprogram = {{"cmd": {cmd!r}, "numprocesses": 4}}

arbiter = get_arbiter([myprogram], controller={ctl!r}, pubsub_endpoint={pub!r})
{extra}
try:
    arbiter.start()
finally:
    arbiter.stop()
print("stopped, running=%s" % arbiter.running)
"""

# Ways to end the blocking start(); None: a signal sent by the test.
STOPPERS = {
    "SIGTERM": "",
    "SIGINT (Ctrl-C)": "",
    "stop() from another thread": textwrap.dedent("""
        import os, threading, time
        def stop_when_asked():
            while not os.path.exists("stop-now"):
                time.sleep(0.01)
            arbiter.stop()
            print("the thread's stop() returned, running=%s" % arbiter.running)
        threading.Thread(target=stop_when_asked).start()
        """),
    "stop() from a Python signal handler": textwrap.dedent("""
        import signal
        def install(arbiter):
            signal.signal(signal.SIGUSR2, lambda signum, frame: arbiter.stop())
        _start = arbiter.start
        arbiter.start = lambda: _start(cb=install)
        """),
}


class Script:
    """A Python script in ``directory``, run with the worktree's circus."""

    def __init__(self, directory, source):
        self.dir = directory
        self.path = directory / "example.py"
        self.path.write_text(source)
        self.proc = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(self.path)], cwd=self.dir, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        return self

    def finish(self, timeout=30):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("script still running after %ss:\n%s%s" % (timeout, out, err)) from None
        return self.proc.returncode, out, err

    def run(self, timeout=30):
        return self.start().finish(timeout)


def assert_clean(rc, out, err):
    assert rc == 0, "exit %s\nstdout:\n%s\nstderr:\n%s" % (rc, out, err)
    assert "Traceback" not in err, err
    assert "never awaited" not in err, err


@pytest.mark.parametrize("stopper", sorted(STOPPERS))
def test_the_library_example_runs_four_processes_and_stops_cleanly(stopper, tmp_path, workers, tracker):
    source = LIBRARY_EXAMPLE.format(cmd=workers.cmd("myprogram"), ctl="ipc://%s" % (tmp_path / "ctl.sock"),
                                    pub="ipc://%s" % (tmp_path / "pub.sock"), extra=STOPPERS[stopper])
    script = Script(tmp_path, source).start()
    try:
        pids = [r["pid"] for r in workers.wait_reports("myprogram", 4, timeout=20)]
        assert all(pid_alive(pid) for pid in pids)
        if stopper == "SIGTERM":
            script.proc.send_signal(signal.SIGTERM)
        elif stopper == "SIGINT (Ctrl-C)":
            script.proc.send_signal(signal.SIGINT)
        elif stopper == "stop() from a Python signal handler":
            script.proc.send_signal(signal.SIGUSR2)
        else:
            (tmp_path / "stop-now").touch()
        rc, out, err = script.finish()
    finally:
        if script.proc.poll() is None:
            script.proc.kill()
            script.proc.wait()
    assert_clean(rc, out, err)
    assert "stopped, running=False" in out
    if stopper == "stop() from another thread":
        assert "the thread's stop() returned, running=False" in out
    assert not any(pid_alive(pid) for pid in pids)


def test_the_library_example_with_a_program_that_cannot_start_still_ends(tmp_path, tracker):
    # start() raises (the control endpoint cannot be bound); the finally's stop() must not hide it.
    source = LIBRARY_EXAMPLE.format(cmd="sleep 60", ctl="ipc://%s" % (tmp_path / "missing" / "ctl.sock"),
                                    pub="ipc://%s" % (tmp_path / "pub.sock"), extra="")
    rc, out, err = Script(tmp_path, source).run()
    assert rc == 1 and "OSError: cannot bind" in err, err
    assert "never awaited" not in err, err


PROCESS_EXAMPLE = """
from circus.process import Process
process = Process('Top', 'top', shell=True)
print(process.age())
print(process.info())
print(process.status)
process.stop()
"""


def test_the_process_example_of_the_manual_runs(tmp_path, tracker):
    rc, out, err = Script(tmp_path, PROCESS_EXAMPLE).run()
    assert rc == 0 and "Traceback" not in err, err
    age, info, status = out.splitlines()
    assert 0 <= float(age) < 10
    assert info.startswith("{'pid': ") or info == "No such process (stopped?)"
    assert int(status) in (0, 1, 2)


# "Adding new commands", the class as the manual gives it; its placeholders
# (default_value, the empty validate) filled in, then run by a blocking
# arbiter and driven from a thread through CircusClient and circusctl.
COMMAND_RECIPE = '''
from circus.commands.base import Command

default_value = None


class NumWatchers(Command):
    """It is a good practice to describe what the class does here.

    Have a look at other commands to see how we are used to format this text.
    """

    # you need to specify a name so we find back the command somehow
    name = "numwatchers"

    # Set waiting to True or False to define your default behavior
    waiting = True

    # options
    options = [('', 'optname', default_value, 'description')]

    properties = ['foo', 'bar']

    def execute(self, arbiter, props):
        return {{"numwatchers": arbiter.numwatchers()}}

    def console_msg(self, msg):
        return "a string that will be displayed"

    def validate(self, props):
        pass


import threading

from circus import get_arbiter
from circus.circusctl import main as circusctl
from circus.client import CircusClient, make_message

CTL = {ctl!r}
arbiter = get_arbiter([{{"cmd": "sleep 60", "name": "one"}}, {{"cmd": "sleep 60", "name": "two"}}],
                      controller=CTL, pubsub_endpoint={pub!r})


def drive(arbiter):
    def run():
        try:
            client = CircusClient(endpoint=CTL)
            reply = client.call(make_message("numwatchers", foo=1, bar=2))
            print("reply:", reply["status"], reply["numwatchers"])
            client.stop()
            print("circusctl exit:", circusctl(["--endpoint", CTL, "numwatchers", "a", "b", "--optname"]))
        finally:
            arbiter.stop()
    threading.Thread(target=run).start()


try:
    arbiter.start(cb=drive)
finally:
    arbiter.stop()
'''


def test_the_adding_new_commands_recipe_works_in_circusd_and_circusctl(tmp_path, tracker):
    source = COMMAND_RECIPE.format(ctl="ipc://%s" % (tmp_path / "ctl.sock"), pub="ipc://%s" % (tmp_path / "pub.sock"))
    rc, out, err = Script(tmp_path, source).run()
    assert_clean(rc, out, err)
    assert out.splitlines() == [
        "reply: ok 2",
        "a string that will be displayed",
        "circusctl exit: 0",
    ]
