"""The man pages shipped in docs/man are what circus.manpages writes from the
parsers, the command registry and the option table, and they render cleanly."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from circus import manpages, options
from circus.commands import get_commands
from circus.option_text import key_text
from helpers import system_tool

MAN = Path(__file__).resolve().parents[2] / "docs" / "man"


@pytest.mark.parametrize("filename", sorted(manpages.PAGES))
def test_the_shipped_page_is_the_generated_one(filename):
    assert (MAN / filename).read_text() == manpages.PAGES[filename](), (
        "docs/man/%s is stale: run python -m circus.manpages docs/man" % filename)


def test_circus_ini_5_has_every_key_of_the_option_table():
    page = manpages.ini_page()
    for section in options.SECTIONS:
        for row in options.rows(section):
            assert "\n\\fB%s\\fR\n" % key_text(row).replace("-", "\\-") in page, row.name


def test_circusctl_1_has_every_command_and_its_flags():
    page = manpages.circusctl_page()
    for name, command in get_commands().items():
        assert "\\fB%s\\fR" % name.replace("-", "\\-") in page
        for flag in command.options:
            assert "\n--%s" % flag.name in page, (name, flag.name)


def test_circusd_1_has_every_option_of_its_parser():
    page = manpages.circusd_page()
    for flag in ("--log-level", "--log-output", "--logger-config", "--daemon", "--pidfile", "--init"):
        assert flag.replace("-", "\\-") in page


def test_circusd_1_describes_every_signal_circusd_handles_and_sigusr2_is_the_upgrade():
    from circus.signals import HANDLED_SIGNALS

    page = manpages.circusd_page()
    signals = page.split('.SH "SIGNALS"')[1].split(".SH")[0]
    for sig in HANDLED_SIGNALS:
        assert signal.Signals(sig).name in signals
    usr2 = signals.split("\\fBSIGUSR2\\fR\n")[1].split(".TP")[0]
    assert "circusctl upgrade" in usr2


def test_text_that_looks_like_roff_is_escaped():
    page = manpages.Page("x", 1, "a test")
    page.para(".SH not a heading", "'also text", "back\\slash")
    assert page.lines[-3:] == ["\\&.SH not a heading", "\\&'also text", "back\\eslash"]


def _groff_warnings(path):
    done = subprocess.run([system_tool("groff"), "-man", "-Tutf8", "-ww", "-z", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.returncode, done.stderr


@pytest.fixture
def groff():
    return system_tool("groff")


@pytest.mark.parametrize("filename", sorted(manpages.PAGES))
def test_groff_renders_the_page_without_a_warning(groff, filename):
    assert _groff_warnings(MAN / filename) == (0, "")


def test_groff_does_report_a_broken_page(groff, tmp_path):
    broken = tmp_path / "broken.1"
    broken.write_text(manpages.circusd_page() + ".NOSUCHMACRO\n\\fQ\n")
    assert _groff_warnings(broken)[1]


@pytest.mark.parametrize("filename", sorted(manpages.PAGES))
def test_man_l_shows_the_page_without_a_warning(filename):
    man = system_tool("man")
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80", LC_ALL="C.UTF-8")
    done = subprocess.run([man, "--warnings", "-l", str(MAN / filename)],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(filename.rsplit(".", 1)[0].upper())
