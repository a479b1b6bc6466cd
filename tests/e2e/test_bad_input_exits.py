"""Bad input to circusd, circusctl and circus-top: one clear line, exit 1, nothing bound."""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO_ROOT
from test_circusd_cli import assert_one_line_error


def _left_in(directory):
    """What circusd left in its directory besides the files the test wrote."""
    return sorted(set(os.listdir(directory)) - {"circus.ini", "bin", "stdout.log", "stderr.log"})


BAD_CIRCUSD_CONFIGS = {
    "a unix socket without a path": (
        "[socket:web]\nfamily = AF_UNIX\n", {}, ["circus.ini", "socket:web", "family", "AF_UNIX", "path"]),
    "a raw socket the kernel refuses": (
        "[socket:web]\nhost = 127.0.0.1\nport = 0\ntype = SOCK_RAW\n", {}, ["web", "SOCK_RAW"]),
    "a log output in a missing directory": (
        "", {"logoutput": "{dir}/missing/circus.log"}, ["{dir}/missing/circus.log", "No such file"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CIRCUSD_CONFIGS))
def test_circusd_refuses_the_config_in_one_line_and_binds_nothing(case, circusd, workers, tmp_path):
    body, circus, names = BAD_CIRCUSD_CONFIGS[case]
    daemon = circusd(directory=tmp_path / "circusd")
    circus = {key: value.format(dir=daemon.dir) for key, value in circus.items()}
    daemon.write_ini("[watcher:good]\ncmd = %s\n\n" % workers.cmd("good") + body, circus=circus)
    rc, out, err = daemon.run()
    assert_one_line_error(rc, out, err, *[name.format(dir=daemon.dir) for name in names])
    # No ./None unix socket file, no control or pub/sub socket, no worker.
    assert _left_in(daemon.dir) == []
    assert workers.reports("good") == []


def test_circusd_refuses_a_log_output_option_in_a_missing_directory(circusd, workers, tmp_path):
    daemon = circusd(directory=tmp_path / "circusd")
    daemon.write_ini("[watcher:good]\ncmd = %s\n" % workers.cmd("good"))
    target = daemon.dir / "missing" / "circus.log"
    rc, out, err = daemon.run("--log-output", target)
    assert_one_line_error(rc, out, err, str(target))
    assert _left_in(daemon.dir) == []
    assert workers.reports("good") == []


@pytest.mark.parametrize("kind", ["json", "ini"])
def test_circusd_refuses_a_logger_config_whose_file_handler_cannot_open(kind, circusd, workers, tmp_path):
    daemon = circusd(directory=tmp_path / "circusd")
    target = tmp_path / "missing" / "circus.log"
    config = tmp_path / ("logging." + kind)
    if kind == "json":
        config.write_text(json.dumps({"version": 1, "root": {"handlers": ["f"]}, "handlers": {
            "f": {"class": "logging.FileHandler", "filename": str(target)}}}))
    else:
        config.write_text("[loggers]\nkeys=root\n[handlers]\nkeys=f\n[formatters]\nkeys=\n"
                          "[logger_root]\nhandlers=f\n[handler_f]\nclass=FileHandler\nargs=(%r,)\n" % str(target))
    daemon.write_ini("[watcher:good]\ncmd = %s\n" % workers.cmd("good"), circus={"loggerconfig": config})
    rc, out, err = daemon.run()
    assert_one_line_error(rc, out, err, str(config), str(target), "No such file")
    assert _left_in(daemon.dir) == []
    assert workers.reports("good") == []


def _run(code, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=env, timeout=30)
    return done.returncode, done.stdout, done.stderr


CIRCUSCTL = "import sys\nfrom circus.circusctl import main\nsys.exit(main())"
CIRCUS_TOP = "from circus.stats.client import main\nmain()"


@pytest.mark.parametrize("endpoint", ["foo", "tcp://127.0.0.1:notaport", "ipc://"])
@pytest.mark.parametrize("words", [["status"], ["listen"], ["quit", "--waiting"]])
def test_circusctl_names_a_malformed_endpoint_in_one_line_and_exits_1(endpoint, words):
    rc, out, err = _run(CIRCUSCTL, "--endpoint", endpoint, *words)
    assert_one_line_error(rc, out, err, "invalid endpoint", repr(endpoint))


@pytest.mark.parametrize("endpoint", ["foo", "tcp://127.0.0.1:notaport"])
def test_circus_top_names_a_malformed_endpoint_in_one_line_and_exits_1(endpoint):
    rc, out, err = _run(CIRCUS_TOP, "--endpoint", endpoint)
    assert_one_line_error(rc, out, err, "circus-top", "invalid endpoint", repr(endpoint))
