"""Which command each signal to circusd stands for (circus/signals.py)."""

import signal

import pytest

from circus.commands import get_commands
from circus.signals import HANDLED_SIGNALS, IGNORED_SIGNALS, command_for


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_the_stop_signals_are_the_quit_command(sig):
    assert command_for(sig, "/etc/circus.ini") == "quit"
    assert command_for(sig, None) == "quit"


def test_sighup_is_reloadconfig_with_a_file_and_reload_without_one():
    assert command_for(signal.SIGHUP, "/etc/circus.ini") == "reloadconfig"
    assert command_for(signal.SIGHUP, None) == "reload"


def test_sigusr2_is_the_upgrade_command():
    assert command_for(signal.SIGUSR2, "/etc/circus.ini") == "upgrade"
    assert signal.SIGUSR2 in HANDLED_SIGNALS


@pytest.mark.parametrize("sig", IGNORED_SIGNALS)
def test_signals_whose_default_would_kill_circusd_are_handled_and_ignored(sig):
    assert sig in HANDLED_SIGNALS
    assert command_for(sig, "/etc/circus.ini") is None


def test_every_routed_command_exists_in_the_command_registry():
    routed = {command_for(sig, cfg) for sig in HANDLED_SIGNALS for cfg in ("circus.ini", None)} - {None}
    assert routed == {"quit", "reloadconfig", "reload", "upgrade"}
    assert routed <= set(get_commands())
