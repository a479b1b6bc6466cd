"""The pure parts of an upgrade's hand-over (circus/upgrade.py): the new image's argv and state checks."""

import json
import os
import sys

import pytest

from circus import upgrade


def test_the_new_image_is_circusd_on_the_same_arguments_without_a_second_detach():
    argv = upgrade.exec_argv(["--daemon", "--log-level", "debug", "circus.ini"], "/tmp/state.json")
    assert argv == [sys.executable, "-m", "circus.circusd", "--log-level", "debug", "circus.ini",
                    "--adopt-state", "/tmp/state.json"]


def test_a_second_upgrade_replaces_the_state_file_of_the_first():
    argv = upgrade.exec_argv(["circus.ini", "--adopt-state", "/tmp/old.json"], "/tmp/new.json")
    assert argv[3:] == ["circus.ini", "--adopt-state", "/tmp/new.json"]
    argv = upgrade.exec_argv(["circus.ini", "--adopt-state=/tmp/old.json"], "/tmp/new.json")
    assert argv[3:] == ["circus.ini", "--adopt-state", "/tmp/new.json"]


def test_every_fd_of_the_state_is_kept_over_the_exec():
    state = {"sockets": {"web": {"fd": 5, "ours": True}}, "activation": {"api": 3},
             "watchers": [{"processes": [{"stdout": 7, "stderr": None}, {"stdout": None, "stderr": 9}]}]}
    assert sorted(upgrade.kept_fds(state)) == [3, 5, 7, 9]


def test_the_state_of_another_process_is_refused_and_removed(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": upgrade.VERSION, "pid": os.getpid() + 1, "sockets": {},
                                "activation": {}, "watchers": []}))
    with pytest.raises(ValueError, match="not the state of this circusd"):
        upgrade.claim(str(path))
    assert not path.exists()


def test_an_unreadable_state_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read the state"):
        upgrade.claim(str(tmp_path / "missing.json"))


def test_the_old_configuration_is_run_unless_json_could_not_carry_it():
    assert upgrade.config_of({"config": {"watchers": []}}, lambda: "read") == {"watchers": []}
    assert upgrade.config_of({"config": None}, lambda: "read") == "read"
