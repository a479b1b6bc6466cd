"""Constructor signatures and command shapes as the manual shows them."""

import pytest

from circus.commands import Command, Flag, get_commands
from circus.process import Process
from circus.watcher import Watcher
from circus.watcher_options import POSITIONAL_OPTIONS


@pytest.mark.parametrize("args, expected", [
    (("web", 3, "sleep 10"), ("web", 3, "sleep 10")),   # as a watcher builds it
    (("Top", "top"), ("top", "Top", "top")),            # the manual's Process(wid, cmd)
    (("/bin/sleep 10",), ("sleep", 1, "/bin/sleep 10")),  # Process(cmd)
])
def test_process_takes_name_wid_cmd_or_the_manuals_shorter_forms(args, expected):
    process = Process(*args, spawn=False)
    assert (process.name, process.wid, process.cmd) == expected


def test_watcher_takes_its_options_by_position_in_the_manuals_order():
    watcher = Watcher("web", "sleep 10", None, 3, 0.5, "/tmp", True)
    assert (watcher.numprocesses, watcher.warmup_delay, watcher.working_dir, watcher.shell) == (3, 0.5, "/tmp", True)
    assert POSITIONAL_OPTIONS[:4] == ("numprocesses", "warmup_delay", "working_dir", "shell")


def test_watcher_refuses_an_option_given_by_position_and_by_name():
    with pytest.raises(TypeError, match="multiple values for argument 'numprocesses'"):
        Watcher("web", "sleep 10", None, 3, numprocesses=4)
    with pytest.raises(TypeError, match="at most"):
        Watcher("web", "sleep 10", None, *range(len(POSITIONAL_OPTIONS) + 1))


@pytest.fixture(autouse=True)
def forget_test_commands():
    """Commands defined by a test leave the registry with it (docs and fuzzing read it)."""
    before = set(get_commands())
    yield
    for name in set(get_commands()) - before:
        del get_commands()[name]


def test_a_command_written_for_circus_gets_flags_from_tuples_and_runs_its_execute():
    class Frobnicate(Command):
        """Frobnicate: a command as the manual's recipe writes it."""

        name = "frobnicate-test"
        options = [("", "loud", False, "be loud"), ("", "times", 1, "how many times")]
        properties = ["what"]

        def execute(self, arbiter, props):
            return {"frobnicated": props["what"]}

    command = get_commands()["frobnicate-test"]
    assert command.options == (Flag("loud", "be loud"), Flag("times", "how many times", kind=int, default=1))
    assert command.prepare(None, {"what": "x"}) == {"frobnicated": "x"}


def test_a_command_with_neither_prepare_nor_execute_is_not_implemented():
    class Hollow(Command):
        name = "hollow-test"

    with pytest.raises(NotImplementedError):
        get_commands()["hollow-test"].prepare(None, {})


def test_circus_commands_base_command_is_the_command_class():
    from circus.commands.base import Command as BaseCommand

    assert BaseCommand is Command and "base" not in get_commands()


def test_a_process_made_on_its_own_is_reaped_by_poll(tracker):
    import psutil

    from helpers import until

    process = Process("true")
    until(lambda: process.poll() is not None, what="the process to exit and be reaped")
    assert process.poll() == 0 and not process.is_alive()
    assert not psutil.pid_exists(process.pid)
    assert process.info() == "No such process (stopped?)"
