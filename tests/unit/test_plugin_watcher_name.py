"""One rule maps a plugin section to its watcher: the name ``status`` and
``reloadconfig`` know it by, and where each watcher key of the section goes."""

import textwrap

import pytest

from circus.arbiter import Arbiter
from circus.commands import get_commands
from circus.config import get_config
from circus.exc import ConfigError
from circus.helper_watchers import with_internal_watchers
from circus.reload_plan import plan_reload

FLAPPING = "circus.plugins.flapping.Flapping"


def load(tmp_path, body):
    path = tmp_path / "circus.ini"
    path.write_text(textwrap.dedent("""\
        [circus]
        endpoint = ipc://%s/ctl.sock
        pubsub_endpoint = ipc://%s/pub.sock
        """ % (tmp_path, tmp_path)) + textwrap.dedent(body))
    return get_config(str(path))


def plugin_watcher(cfg):
    return next(w for w in with_internal_watchers(cfg)["watchers"] if w["name"].startswith("plugin:"))


@pytest.mark.parametrize("title", ["plugin:Flap", "plugin: Flap ", "plugin:  Flap"])
def test_a_plugin_section_runs_as_the_watcher_plugin_name_that_status_finds(tmp_path, title):
    cfg = load(tmp_path, "[%s]\nuse = %s\n" % (title, FLAPPING))
    assert [p["name"] for p in cfg["plugins"]] == ["plugin:Flap"]
    arbiter = Arbiter.from_config(cfg)
    status = get_commands()["status"]
    assert status.prepare(arbiter, {"name": "plugin:flap"}) == {"status": "stopped"}
    assert "plugin:Flap" in status.prepare(arbiter, {})["statuses"]


def test_reloadconfig_removes_and_adds_a_plugin_watcher_by_that_name(tmp_path):
    with_plugin = load(tmp_path, "[plugin: Flap ]\nuse = %s\n" % FLAPPING)
    without = load(tmp_path, "")
    assert plan_reload(with_internal_watchers(with_plugin), with_internal_watchers(without)).watchers_removed == [
        "plugin:flap"
    ]
    assert plan_reload(with_internal_watchers(without), with_internal_watchers(with_plugin)).watchers_added == [
        "plugin:flap"
    ]


def test_a_plugins_dict_given_to_the_arbiter_gets_the_same_name(tmp_path):
    arbiter = Arbiter([], "ipc://%s/c.sock" % tmp_path, "ipc://%s/p.sock" % tmp_path,
                      plugins=[{"use": FLAPPING, "name": "plugin: Flap"}])
    assert [w.name for w in arbiter.watchers] == ["plugin:Flap"]


def test_a_plugin_section_places_watcher_keys_as_a_watcher_section_does(tmp_path):
    keys = textwrap.dedent("""\
        cmd = ignored
        priority = 3
        rlimit_nofile = 100
        hooks.before_start = os.getcwd, true
        stdout_stream.class = FileStream
        stdout_stream.filename = %s/out.log
        """) % tmp_path
    cfg = load(tmp_path, "[watcher:w]\n%s\n[plugin:p]\nuse = %s\n%s" % (keys, FLAPPING, keys))
    watcher, plugin = cfg["watchers"][0], plugin_watcher(cfg)
    for key in ("priority", "rlimits", "hooks", "stdout_stream"):
        assert plugin[key] == watcher[key], key
    assert "max_retry" not in plugin.get("options", {})


def test_a_plugin_section_cannot_rename_its_watcher(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[plugin:p]\nuse = %s\nname = other\n" % FLAPPING)
    assert "[plugin:p] name" in str(info.value)


def test_a_bad_watcher_key_in_a_plugin_section_names_file_section_and_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[plugin:p]\nuse = %s\nrlimit_bogus = 1\n" % FLAPPING)
    assert "circus.ini" in str(info.value) and "[plugin:p] rlimit_bogus" in str(info.value)


def test_two_plugin_sections_differing_only_in_case_are_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[plugin:p]\nuse = %s\n[plugin:P]\nuse = %s\n" % (FLAPPING, FLAPPING))
    assert "defined twice" in str(info.value)
