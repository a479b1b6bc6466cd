"""What ``circusctl completion`` offers for a line, without a daemon."""

import io

import pytest

from circus import completion
from circus.commands import get_commands

COMMANDS = get_commands()


def offered(*words):
    return completion.candidates(list(words), COMMANDS)


def test_the_first_word_is_a_command_or_completion():
    assert offered("co") == ["completion"]
    assert offered("--timeout", "2", "numw") == ["numwatchers"]
    assert "status" in offered("")


def test_set_offers_the_keys_a_live_watcher_accepts_and_get_every_key():
    assert offered("set", "web", "numpro") == ["numprocesses"]
    assert offered("set", "web", "numprocesses", "3", "graceful_t") == ["graceful_timeout"]
    assert offered("set", "web", "numprocesses", "") == []  # a value, not a key
    assert "priority" not in offered("set", "web", "")  # read-only on a live watcher
    assert "priority" in offered("get", "web", "numprocesses", "")


def test_a_dash_offers_the_global_options_and_the_command_flags():
    assert offered("--end") == ["--endpoint"]
    assert offered("stop", "--wa") == ["--waiting"]


def test_valued_flags_and_their_values_do_not_count_as_arguments(monkeypatch):
    monkeypatch.setattr(completion, "watcher_names", lambda endpoints: ["web"])
    assert offered("--endpoint", "ipc:///nowhere", "set", "web", "graceful_t") == ["graceful_timeout"]
    assert offered("kill", "--signum", "HUP", "") == ["web"]
    assert offered("logs", "-n", "20", "") == ["web"]


def test_the_endpoint_given_on_the_line_is_the_one_asked(monkeypatch):
    asked = []
    monkeypatch.setattr(completion, "watcher_names", lambda endpoints: asked.append(endpoints) or ["web"])
    assert offered("--endpoint=ipc:///a", "--endpoint", "ipc:///b", "stop", "w") == ["web"]
    assert asked == [["ipc:///a", "ipc:///b"]]
    assert offered("numwatchers", "") == []  # no watcher argument: circusd is not asked
    assert len(asked) == 1


def test_completion_offers_the_shells():
    assert offered("completion", "") == ["bash", "zsh", "fish"]
    assert offered("completion", "zsh", "") == []


def test_line_words_keep_the_empty_word_under_the_cursor():
    assert completion.line_words("circusctl --endpoint ipc:///x stop ") == ["--endpoint", "ipc:///x", "stop", ""]
    assert completion.line_words("circusctl st") == ["st"]
    assert completion.line_words("circusctl add 'web") == ["add", "'web"]  # an open quote


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_each_shell_gets_its_script_which_asks_circusctl_for_the_candidates(shell):
    out = io.StringIO()
    assert completion.main([shell], COMMANDS, out=out) == 0
    script = out.getvalue()
    assert "%s completion of circusctl" % shell in script.splitlines()[0 if shell != "zsh" else 1]
    assert " completion --line " in script or " completion --words -- " in script


def test_an_unknown_shell_is_a_usage_error(capsys):
    assert completion.main(["tcsh"], COMMANDS) == 2
    assert "bash|zsh|fish" in capsys.readouterr().err
