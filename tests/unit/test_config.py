"""Loading ini files with circus.config.get_config."""

import glob
import logging
import os
import textwrap

import pytest

from circus.config import get_config
from circus.exc import ConfigError

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "*.ini")))


def write(directory, name, text):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path, text, name="circus.ini"):
    return get_config(str(write(tmp_path, name, text)))


def refused(tmp_path, text, name="circus.ini"):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, name)
    return info.value


def watcher(config, name):
    return next(w for w in config["watchers"] if w["name"] == name)


def assert_names(error, filename, section, key=None):
    text = str(error)
    assert str(filename) in text
    assert "[%s]" % section in text
    if key is not None:
        assert "%s:" % key in text
    assert (error.section, error.key) == (section, key)


# -- the shape -------------------------------------------------------------


def test_a_minimal_file_gives_every_circus_default_and_the_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = get_config(str(write(tmp_path, "c.ini", "[watcher:web]\ncmd = sleep 10\n").name))
    assert config["config_file"] == str(tmp_path / "c.ini")
    assert config["circus"]["check_delay"] == 5.0
    assert config["circus"]["endpoint"] == "tcp://127.0.0.1:5555"
    assert config["circus"]["umask"] is None
    assert config["sockets"] == [] and config["plugins"] == []
    assert config["watchers"] == [
        {"name": "web", "cmd": "sleep 10", "env": {}, "rlimits": {}, "hooks": {}, "options": {}}
    ]


def test_watcher_keys_are_converted_and_only_present_keys_are_returned(tmp_path):
    config = load(tmp_path, """
        [watcher:web]
        cmd = sleep 10
        numprocesses = 3
        warmup_delay = 0.5
        shell = yes
        stop_signal = sigint
        graceful_timeout = 2
        max_retry = -1
        """)
    assert watcher(config, "web") == {
        "name": "web", "cmd": "sleep 10", "numprocesses": 3, "warmup_delay": 0.5,
        "shell": True, "stop_signal": 2, "graceful_timeout": 2.0, "max_retry": -1,
        "env": {}, "rlimits": {}, "hooks": {}, "options": {},
    }


def test_watchers_are_sorted_by_name_and_keep_their_case(tmp_path):
    config = load(tmp_path, """
        [watcher:zed]
        cmd = a
        [watcher:Alpha]
        cmd = b
        [watcher:beta]
        cmd = c
        """)
    assert [w["name"] for w in config["watchers"]] == ["Alpha", "beta", "zed"]


def test_circus_section_values_are_converted(tmp_path):
    config = load(tmp_path, """
        [circus]
        check_delay = 1
        warmup_delay = 0.25
        umask = 027
        loglevel = DEBUG
        statsd = on
        httpd_port = 9000
        """)
    circus = config["circus"]
    assert (circus["check_delay"], circus["warmup_delay"], circus["umask"]) == (1.0, 0.25, 0o27)
    assert (circus["loglevel"], circus["statsd"], circus["httpd_port"]) == ("debug", True, 9000)


def test_setting_stats_endpoint_turns_statsd_on(tmp_path):
    config = load(tmp_path, "[circus]\nstats_endpoint = ipc:///tmp/x\n")
    assert config["circus"]["statsd"] is True


def test_unknown_circus_keys_are_ignored_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="circus"):
        config = load(tmp_path, "[circus]\nstream_backnd = thread\n")
    assert "stream_backnd" not in config["circus"]
    assert "stream_backnd" in caplog.text


@pytest.mark.parametrize("backend", ["thread", "gevent"])
def test_the_manuals_stream_backend_is_accepted_without_a_warning(backend, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="circus"):
        config = load(tmp_path, "[circus]\nstream_backend = %s\n" % backend)
    assert config["circus"]["stream_backend"] == backend
    assert "stream_backend" not in caplog.text


def test_sockets_are_lower_cased_and_their_umask_is_octal(tmp_path):
    config = load(tmp_path, """
        [socket:Web]
        host = 127.0.0.1
        port = 0
        umask = 077
        family = af_inet6
        replace = true
        """)
    assert config["sockets"] == [
        {"name": "web", "host": "127.0.0.1", "port": 0, "umask": 0o77, "family": "AF_INET6", "replace": True}
    ]


def test_plugins_keep_their_keys_as_strings(tmp_path):
    config = load(tmp_path, """
        [plugin:flapping]
        use = circus.plugins.flapping.Flapping
        max_retry = 3
        """)
    assert config["plugins"] == [
        {"name": "plugin:flapping", "use": "circus.plugins.flapping.Flapping", "max_retry": "3"}
    ]


def test_a_plugin_without_use_is_refused(tmp_path):
    error = refused(tmp_path, "[plugin:x]\nmax_retry = 3\n")
    assert_names(error, tmp_path / "circus.ini", "plugin:x", "use")


# -- families and freeform keys ---------------------------------------------


def test_families_are_grouped(tmp_path):
    config = load(tmp_path, """
        [watcher:web]
        cmd = sleep 10
        rlimit_nofile = 1024
        rlimit_CORE =
        stdout_stream.class = FileStream
        stdout_stream.filename = /tmp/out.log
        stdout_stream.max_bytes = 100
        stderr_stream.filename = /tmp/err.log
        hooks.before_start = app.hooks.check
        hooks.after_stop = app.hooks.done, true
        """)
    web = watcher(config, "web")
    assert web["rlimits"] == {"nofile": 1024, "core": None}
    assert web["stdout_stream"] == {"class": "FileStream", "filename": "/tmp/out.log", "max_bytes": "100"}
    assert web["stderr_stream"] == {"class": "FileStream", "filename": "/tmp/err.log"}
    assert web["hooks"] == {"before_start": ("app.hooks.check", False), "after_stop": ("app.hooks.done", True)}


def test_unknown_keys_are_freeform_options_kept_as_text(tmp_path):
    config = load(tmp_path, """
        [watcher:web]
        cmd = sleep 10
        flapping.max_retry = 3
        custom = hello
        Numprocesses = 4
        """)
    web = watcher(config, "web")
    assert web["options"] == {"flapping.max_retry": "3", "custom": "hello", "Numprocesses": "4"}
    assert "numprocesses" not in web


def test_a_stream_without_class_or_filename_is_refused(tmp_path):
    error = refused(tmp_path, "[watcher:web]\ncmd = x\nstdout_stream.max_bytes = 10\n")
    assert_names(error, tmp_path / "circus.ini", "watcher:web", "stdout_stream.class")


def test_an_unknown_rlimit_is_refused(tmp_path):
    error = refused(tmp_path, "[watcher:web]\ncmd = x\nrlimit_nosuch = 1\n")
    assert_names(error, tmp_path / "circus.ini", "watcher:web", "rlimit_nosuch")


def test_an_unknown_hook_name_is_kept_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="circus"):
        config = load(tmp_path, "[watcher:web]\ncmd = x\nhooks.before_lunch = a.b\n")
    assert watcher(config, "web")["hooks"] == {"before_lunch": ("a.b", False)}
    assert "hooks.before_lunch" in caplog.text


# -- ini syntax ----------------------------------------------------------------


def test_ini_syntax_rules(tmp_path):
    config = load(tmp_path, """
        [DEFAULT]
        shared = everywhere

        # a comment
        ; another
        rem an old-style comment
        [watcher:web]
        cmd = run x;y ; a comment
        args: --a#b # another comment
          --continued
        empty = ""
        """)
    web = watcher(config, "web")
    assert web["cmd"] == "run x;y"
    assert web["args"] == "--a#b\n--continued"
    assert web["options"] == {"empty": "", "shared": "everywhere"}


def test_no_section_or_env_has_a_name_key(tmp_path):
    config = load(tmp_path, """
        [env]
        A = 1
        [env:web]
        B = 2
        [watcher:web]
        cmd = x
        [socket:s]
        port = 0
        [plugin:p]
        use = a.b
        """)
    assert "__name__" not in config["env"]
    web = watcher(config, "web")
    assert "__name__" not in web["env"] and "__name__" not in web["options"]
    assert "__name__" not in config["sockets"][0]
    assert "__name__" not in config["plugins"][0]


# -- errors ----------------------------------------------------------------


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        get_config(str(tmp_path / "nope.ini"))
    assert str(tmp_path / "nope.ini") in str(info.value)


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no section"):
        load(tmp_path, "# nothing here\n")


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="directory"):
        get_config(str(tmp_path))


def test_a_line_outside_any_section_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="line 1"):
        load(tmp_path, "cmd = x\n[watcher:web]\ncmd = y\n")


def test_a_bad_line_is_refused_with_its_number(tmp_path):
    with pytest.raises(ConfigError, match="line 3") as info:
        load(tmp_path, "[watcher:web]\ncmd = x\nthis is not a key\n")
    assert str(tmp_path / "circus.ini") in str(info.value)


def test_a_duplicate_section_is_refused(tmp_path):
    error = refused(tmp_path, "[watcher:web]\ncmd = x\n[watcher:web]\nnumprocesses = 2\n")
    assert_names(error, tmp_path / "circus.ini", "watcher:web")
    assert "line 3" in str(error)


def test_a_duplicate_key_is_refused(tmp_path):
    error = refused(tmp_path, "[watcher:web]\ncmd = x\ncmd = y\n")
    assert_names(error, tmp_path / "circus.ini", "watcher:web", "cmd")


def test_watchers_differing_only_by_case_are_refused(tmp_path):
    error = refused(tmp_path, "[watcher:web]\ncmd = x\n[watcher:WEB]\ncmd = y\n")
    assert "defined twice" in str(error)


@pytest.mark.parametrize("title", ["program:web", "watchers:web", "Watcher:web", "circusd", "watcher:"])
def test_unknown_section_types_are_refused(tmp_path, title):
    error = refused(tmp_path, "[%s]\ncmd = x\n" % title)
    assert_names(error, tmp_path / "circus.ini", title)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("watcher:web", "numprocesses", "-1", "0 or more"),
        ("watcher:web", "numprocesses", "two", "not an integer"),
        ("watcher:web", "shell", "perhaps", "not a boolean"),
        ("watcher:web", "graceful_timeout", "soon", "not a number"),
        ("watcher:web", "stop_signal", "NOPE", "unknown signal 'NOPE'"),
        ("watcher:web", "uid", "no-such-user-xyz", "unknown user"),
        ("watcher:web", "gid", "no-such-group-xyz", "unknown group"),
        ("socket:s", "port", "65536", "between 0 and 65535"),
        ("socket:s", "port", "-1", "between 0 and 65535"),
        ("circus", "loglevel", "verbose", "unknown log level"),
        ("circus", "check_delay", "x", "not a number"),
        ("circus", "umask", "999", "octal"),
    ],
)
def test_bad_values_are_refused_naming_file_section_and_key(tmp_path, section, key, value, message):
    text = "[watcher:web]\ncmd = sleep 1\n"
    if section != "watcher:web":
        text += "[%s]\n" % section
    text += "%s = %s\n" % (key, value)
    error = refused(tmp_path, text)
    assert_names(error, tmp_path / "circus.ini", section, key)
    assert message in str(error)


@pytest.mark.parametrize(
    "lines, key",
    [
        ("numprocesses = 2", "cmd"),
        ("cmd =", "cmd"),
        ("cmd = x\nsingleton = true\nnumprocesses = 2", "numprocesses"),
        ("cmd = x\ncopy_path = true", "copy_path"),
        ("cmd = x\nvirtualenv = /venv", "virtualenv"),
        ("cmd = x\nstdin_socket = nosuch", "stdin_socket"),
        ("cmd = x\nname = other", "name"),
        ("cmd = x\nenv = A=1", "env"),
    ],
)
def test_inconsistent_watchers_are_refused(tmp_path, lines, key):
    error = refused(tmp_path, "[watcher:web]\n%s\n" % lines)
    assert_names(error, tmp_path / "circus.ini", "watcher:web", key)


def test_consistent_singleton_and_copy_options_are_accepted(tmp_path):
    config = load(tmp_path, """
        [socket:In]
        path = %s
        [watcher:web]
        cmd = x
        singleton = true
        numprocesses = 1
        copy_env = true
        copy_path = true
        stdin_socket = in
        """ % (tmp_path / "sock"))
    web = watcher(config, "web")
    assert (web["singleton"], web["copy_path"], web["stdin_socket"]) == (True, True, "in")


# -- includes ----------------------------------------------------------------


def test_includes_are_relative_to_the_main_file_and_the_main_file_wins(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    write(tmp_path, "conf.d/b.ini", "[watcher:web]\nnumprocesses = 9\npriority = 3\n[watcher:api]\ncmd = y\n")
    write(tmp_path, "conf.d/a.ini", "[watcher:api]\ncmd = from-a\n")
    config = load(tmp_path, "[circus]\ninclude = conf.d/*.ini\n[watcher:web]\ncmd = x\nnumprocesses = 2\n")
    web = watcher(config, "web")
    assert (web["numprocesses"], web["priority"]) == (2, 3)
    assert watcher(config, "api")["cmd"] == "from-a", "included files are read in sorted order"


def test_include_dir_reads_its_ini_files(tmp_path):
    write(tmp_path, "more/w.ini", "[watcher:api]\ncmd = y\n")
    write(tmp_path, "more/ignored.conf", "[watcher:other]\ncmd = z\n")
    config = load(tmp_path, "[circus]\ninclude_dir = more\n[watcher:web]\ncmd = x\n")
    assert [w["name"] for w in config["watchers"]] == ["api", "web"]


def test_errors_in_an_included_file_name_that_file(tmp_path):
    write(tmp_path, "inc.ini", "[watcher:api]\ncmd = y\nnumprocesses = many\n")
    error = refused(tmp_path, "[circus]\ninclude = inc.ini\n")
    assert_names(error, tmp_path / "inc.ini", "watcher:api", "numprocesses")


def test_a_section_repeated_in_an_included_file_is_merged(tmp_path):
    write(tmp_path, "inc.ini", "[watcher:web]\ncmd = other\nnumprocesses = 4\n")
    config = load(tmp_path, "[circus]\ninclude = inc.ini\n[watcher:web]\ncmd = x\n")
    assert watcher(config, "web")["numprocesses"] == 4


def test_an_include_that_matches_nothing_is_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="circus"):
        config = load(tmp_path, "[circus]\ninclude = none/*.ini\n[watcher:web]\ncmd = x\n")
    assert len(config["watchers"]) == 1
    assert "matches no file" in caplog.text


def test_an_include_naming_a_directory_is_refused(tmp_path):
    (tmp_path / "d.ini").mkdir()
    error = refused(tmp_path, "[circus]\ninclude = *.ini\n")
    assert_names(error, tmp_path / "circus.ini", "circus", "include")
    assert "directory" in str(error)


def test_an_include_dir_that_is_a_file_is_refused(tmp_path):
    write(tmp_path, "afile", "")
    error = refused(tmp_path, "[circus]\ninclude_dir = afile\n")
    assert_names(error, tmp_path / "circus.ini", "circus", "include_dir")


@pytest.mark.parametrize("pattern", ["broken.ini", "*.ini"])
def test_an_include_that_is_a_broken_link_is_refused(tmp_path, pattern):
    os.symlink(tmp_path / "gone.ini", tmp_path / "broken.ini")
    error = refused(tmp_path, "[circus]\ninclude = %s\n" % pattern)
    assert_names(error, tmp_path / "circus.ini", "circus", "include")
    assert "broken link" in str(error)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_include_is_refused(tmp_path):
    path = write(tmp_path, "secret.ini", "[watcher:a]\ncmd = x\n")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot be read") as info:
        load(tmp_path, "[circus]\ninclude = secret.ini\n")
    assert str(path) in str(info.value)


def test_an_include_that_is_not_text_is_refused(tmp_path):
    (tmp_path / "bin.ini").write_bytes(b"[watcher:a]\ncmd = \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load(tmp_path, "[circus]\ninclude = bin.ini\n")
    assert str(tmp_path / "bin.ini") in str(info.value)


def test_includes_are_not_nested(tmp_path):
    write(tmp_path, "deep.ini", "[watcher:deep]\ncmd = z\n")
    write(tmp_path, "inc.ini", "[circus]\ninclude = deep.ini\n[watcher:api]\ncmd = y\n")
    config = load(tmp_path, "[circus]\ninclude = inc.ini\n")
    assert [w["name"] for w in config["watchers"]] == ["api"]


# -- environment -------------------------------------------------------------


ENV_FILE = """
    [env]
    SHARED = from-env
    HOMEY = $CIRCUS_T_HOME/x
    BRACED = ${CIRCUS_T_HOME}
    LOWER = $circus_t_home
    FROM_OS = $(circus.env.circus_t_home)

    [env:web*, api]
    SHARED = from-pattern
    EXTRA = 1

    [env:webapp]
    EXTRA = 2

    [watcher:webapp]
    cmd = run $(circus.env.shared) ((CIRCUS.ENV.Extra)) $(circus.wid) $(circus.sockets.s)

    [watcher:api]
    cmd = run $(circus.env.path)
    copy_env = true

    [watcher:other]
    cmd = run $(circus.env.shared)
    """


@pytest.fixture
def env_config(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRCUS_T_HOME", "/home/t")
    monkeypatch.setenv("PATH", "/usr/bin")
    return load(tmp_path, ENV_FILE)


def test_env_section_values_expand_dollar_names_from_circusd_environment(env_config):
    assert env_config["env"] == {
        "SHARED": "from-env", "HOMEY": "/home/t/x", "BRACED": "${CIRCUS_T_HOME}",
        "LOWER": "$circus_t_home", "FROM_OS": "/home/t",
    }


def test_without_copy_env_a_watcher_sees_only_env_sections(env_config):
    other = watcher(env_config, "other")
    assert other["env"] == env_config["env"]
    assert other["cmd"] == "run from-env"


def test_env_pattern_sections_apply_in_file_order_to_matching_watchers(env_config):
    webapp = watcher(env_config, "webapp")
    assert webapp["env"]["SHARED"] == "from-pattern"
    assert webapp["env"]["EXTRA"] == "2", "the later [env:webapp] wins"
    assert webapp["cmd"] == "run from-pattern 2 $(circus.wid) $(circus.sockets.s)"


def test_with_copy_env_a_watcher_starts_from_circusd_environment(env_config):
    api = watcher(env_config, "api")
    assert api["env"]["PATH"] == "/usr/bin"
    assert api["env"]["CIRCUS_T_HOME"] == "/home/t"
    assert (api["env"]["SHARED"], api["env"]["EXTRA"]) == ("from-pattern", "1")
    assert api["cmd"] == "run /usr/bin"


def test_os_environment_values_are_not_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRCUS_T_RAW", "a$HOME")
    config = load(tmp_path, "[watcher:w]\ncmd = x\ncopy_env = 1\n")
    assert watcher(config, "w")["env"]["CIRCUS_T_RAW"] == "a$HOME"


def test_watcher_env_wins_over_circusd_environment_in_options(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRCUS_T_V", "os")
    config = load(tmp_path, """
        [env:w]
        CIRCUS_T_V = mine
        [watcher:w]
        cmd = echo $(circus.env.circus_t_v)
        [watcher:v]
        cmd = echo $(circus.env.circus_t_v)
        """)
    assert watcher(config, "w")["cmd"] == "echo mine"
    assert watcher(config, "v")["cmd"] == "echo os"


def test_env_patterns_are_case_sensitive_globs(tmp_path):
    config = load(tmp_path, """
        [env:W?b, [xy]z]
        HIT = 1
        [watcher:Web]
        cmd = a
        [watcher:web]
        cmd = b
        [watcher:xz]
        cmd = c
        """.replace("[watcher:web]", "[watcher:wob]"))
    assert {w["name"]: "HIT" in w["env"] for w in config["watchers"]} == {"Web": True, "wob": False, "xz": True}


def test_circus_sockets_and_plugins_expand_against_env_and_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRCUS_T_PORT", "7000")
    config = load(tmp_path, """
        [env]
        HOST = 127.0.0.2
        [circus]
        endpoint = tcp://$(circus.env.host):$(circus.env.circus_t_port)
        [socket:s]
        host = ((circus.env.HOST))
        port = $(circus.env.circus_t_port)
        [plugin:p]
        use = a.b
        where = $(circus.env.host)
        """)
    assert config["circus"]["endpoint"] == "tcp://127.0.0.2:7000"
    assert config["sockets"][0]["port"] == 7000
    assert config["sockets"][0]["host"] == "127.0.0.2"
    assert config["plugins"][0]["where"] == "127.0.0.2"


def test_unknown_env_variables_are_left_verbatim(tmp_path):
    config = load(tmp_path, "[watcher:w]\ncmd = echo $(circus.env.nosuch_xyz)\n")
    assert watcher(config, "w")["cmd"] == "echo $(circus.env.nosuch_xyz)"


# -- examples ----------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_every_example_parses(path):
    config = get_config(path)
    assert config["config_file"] == os.path.abspath(path)
