"""The unit files the docs ship (examples/circusd.service, circusd.socket)
say what docs/systemd.rst says, and systemd accepts them."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from circus.config import get_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((EXAMPLES / name).read_text(), source=name)
    return parser


def test_the_service_is_type_notify_with_a_watchdog_and_a_reload():
    service = unit("circusd.service")["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["ExecStart"].split()[0].endswith("/circusd")
    assert service["ExecStart"].split()[1].endswith(".ini")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(service["WatchdogSec"]) > 0
    assert service["KillMode"] == "mixed"  # circusd stops its own workers


def test_the_socket_unit_names_a_systemd_socket_of_the_example_config():
    sock = unit("circusd.socket")["Socket"]
    assert sock["Service"] == "circusd.service"
    assert sock["ListenStream"]
    config = get_config(str(EXAMPLES / "systemd.ini"))
    named = [s for s in config["sockets"] if s["name"] == sock["FileDescriptorName"]]
    assert [s.get("systemd") for s in named] == [True]
    assert unit("circusd.service")["Unit"]["Requires"] == "circusd.socket"


def test_systemd_analyze_verifies_both_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify wants ExecStart's program to exist: circusd need not be installed.
    service = (EXAMPLES / "circusd.service").read_text()
    program = unit("circusd.service")["Service"]["ExecStart"].split()[0]
    (tmp_path / "circusd.service").write_text(service.replace(program, shutil.which("true")))
    shutil.copy(EXAMPLES / "circusd.socket", tmp_path / "circusd.socket")
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "circusd.service"), str(tmp_path / "circusd.socket")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
