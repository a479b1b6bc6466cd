import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from circus.procinfo import format_cpu_time, get_info

KEYS = {
    "pid",
    "username",
    "nice",
    "mem_info1",
    "mem_info2",
    "cpu",
    "mem",
    "ctime",
    "cmdline",
    "create_time",
    "age",
    "children",
}
HUMAN_SIZE = re.compile(r"^\d+(\.\d\d[KMGTPEZY]|B)$")

# A parent that starts one sleeping child and sleeps; on SIGTERM it kills
# and reaps its child, so that no orphan is left for init to reap.
PARENT = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "def stop(*_):\n"
    "    child.kill()\n"
    "    child.wait()\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def family(tracker):
    """A child process that has a child of its own; both gone afterwards."""
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for each in psutil.Process(proc.pid).children(recursive=True):
                each.kill()
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_info_of_a_child_has_every_key_and_its_children(family):
    info = get_info(family.pid)
    assert set(info) == KEYS
    assert info["pid"] == family.pid
    assert info["cmdline"] == os.path.basename(sys.executable)
    assert info["username"] == psutil.Process().username()
    assert info["nice"] == os.getpriority(os.PRIO_PROCESS, 0)
    assert HUMAN_SIZE.match(info["mem_info1"]), info["mem_info1"]
    assert HUMAN_SIZE.match(info["mem_info2"]), info["mem_info2"]
    assert isinstance(info["cpu"], float)
    assert info["mem"] == round(info["mem"], 3) and info["mem"] > 0
    assert re.match(r"^\d+:\d\d\.\d\d$", info["ctime"])
    assert abs(info["create_time"] - psutil.Process(family.pid).create_time()) < 0.01
    assert 0 <= info["age"] < 60
    (child,) = info["children"]
    assert set(child) == KEYS
    assert child["children"] == []
    assert child["pid"] == psutil.Process(family.pid).children()[0].pid


def test_info_accepts_a_psutil_process_and_defaults_to_ourselves(family):
    assert get_info(psutil.Process(family.pid))["pid"] == family.pid
    assert get_info()["pid"] == os.getpid()


def test_cpu_is_measured_between_calls_on_the_same_process_object():
    me = psutil.Process()
    get_info(me)
    start = sum(me.cpu_times()[:2])
    deadline = time.monotonic() + 10
    # Burn enough CPU time (not wall time: the machine may be loaded) to show.
    while sum(me.cpu_times()[:2]) - start < 0.05 and time.monotonic() < deadline:
        pass
    assert get_info(me)["cpu"] > 0


def test_info_of_a_dead_process_raises_no_such_process(tracker):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    pid = proc.pid
    proc.wait()
    with pytest.raises(psutil.NoSuchProcess):
        get_info(pid)


def test_process_title_is_reported_as_cmdline(tracker):
    code = (
        "import setproctitle, sys, time\n"
        "setproctitle.setproctitle('circusd')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        assert get_info(proc.pid)["cmdline"] == "circusd"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0:00.00"), (0.17, "0:00.17"), (59.999, "1:00.00"), (75.5, "1:15.50"), (3600, "60:00.00")],
)
def test_cpu_time_format(seconds, text):
    assert format_cpu_time(seconds) == text
