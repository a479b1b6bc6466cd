"""The option table: every key once, with a default that passes its own check."""

import pytest

from circus import options
from circus.options import Live, Option

# Every key of spec/config.md sections 1 to 3 (the Circus 0.19 contract).
SPEC_KEYS = {
    "circus": """endpoint endpoint_owner pubsub_endpoint multicast_endpoint stats_endpoint
        statsd check_delay warmup_delay include include_dir httpd httpd_host httpd_port
        debug debug_gc pidfile umask loglevel logoutput loggerconfig fqdn_prefix""",
    "watcher": """cmd args numprocesses warmup_delay executable working_dir shell shell_args
        uid gid copy_env copy_path send_hup stop_signal stop_children max_retry
        graceful_timeout priority singleton use_sockets on_demand autostart respawn max_age
        max_age_variance virtualenv virtualenv_py_ver stdin_socket close_child_stdin
        close_child_stdout close_child_stderr check_flapping rlimit_nofile
        stdout_stream.class stderr_stream.filename hooks.before_start""",
    "socket": """host port family type proto backlog path umask replace so_reuseport
        blocking interface""",
}

# What `add` and `set` accept in Circus 0.19 (spec/protocol.md).
SETTABLE = """numprocesses warmup_delay working_dir uid gid send_hup stop_signal stop_children
    shell env cmd args copy_env retry_in max_retry graceful_timeout stdout_stream stderr_stream
    max_age max_age_variance respawn singleton hooks close_child_stdin close_child_stdout
    close_child_stderr hook_timeout min_uptime respawn_delay respawn_delay_max depends_on
    log_buffer_size ready ready_address ready_url ready_timeout watchdog_sec reload_batch""".split()

ALL_ROWS = [row for section in options.SECTIONS for row in options.rows(section)]


@pytest.mark.parametrize("section, key", [(s, k) for s, keys in SPEC_KEYS.items() for k in keys.split()])
def test_every_key_of_the_spec_has_a_row(section, key):
    row = options.lookup(section, key)
    assert row is not None and row.section == section


@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda row: "%s.%s" % (row.section, row.name))
def test_every_row_is_complete(row):
    assert isinstance(row, Option)
    assert row.section in options.SECTIONS
    assert callable(row.convert) and callable(row.check)
    assert isinstance(row.live, Live)
    assert row.doc and "\n" not in row.doc and row.doc.endswith(".")


# cmd is required: its default '' only stands for "not given" and no check accepts it.
DEFAULTED_ROWS = [r for r in ALL_ROWS if not r.prefix and (r.section, r.name) != ("watcher", "cmd")]


@pytest.mark.parametrize("row", DEFAULTED_ROWS, ids=lambda row: "%s.%s" % (row.section, row.name))
def test_every_default_passes_its_own_check(row):
    assert row.check(row.default) == row.default


def test_cmd_is_required_by_its_check():
    with pytest.raises(ValueError, match="non-empty string"):
        options.lookup("watcher", "cmd").check(options.defaults("watcher")["cmd"])


@pytest.mark.parametrize(
    "row",
    [r for r in ALL_ROWS if not r.prefix and r.default is not None and r.name not in ("env", "hooks")],
    ids=lambda row: "%s.%s" % (row.section, row.name),
)
def test_every_default_written_in_an_ini_file_converts_back_to_itself(row):
    assert row.convert(str(row.default)) == row.default


def test_rows_are_unique_per_section():
    names = [(row.section, row.name) for row in ALL_ROWS]
    assert len(names) == len(set(names))


def test_ini_defaults_are_those_of_the_ini_file():
    circus = options.defaults("circus")
    assert circus["check_delay"] == 5.0
    assert circus["endpoint"] == "tcp://127.0.0.1:5555"
    watcher = options.defaults("watcher")
    assert watcher["numprocesses"] == 1
    assert watcher["stop_signal"] == 15
    assert watcher["graceful_timeout"] == 30.0
    assert watcher["close_child_stdin"] is True
    assert watcher["max_age_variance"] == 30
    assert options.defaults("socket")["umask"] is None


def test_defaults_leave_families_out():
    assert not any(name.endswith((".", "_")) for name in options.defaults("watcher"))


def test_lookup_finds_families_and_not_unknown_keys():
    assert options.lookup("watcher", "rlimit_nofile").name == "rlimit_"
    assert options.lookup("watcher", "stdout_stream.max_bytes").name == "stdout_stream."
    assert options.lookup("watcher", "hooks.after_start").name == "hooks."
    assert options.lookup("watcher", "flapping.max_retry").name == "flapping."
    assert options.lookup("watcher", "hooks").name == "hooks"
    assert options.lookup("watcher", "rlimit_") is None
    assert options.lookup("watcher", "Numprocesses") is None, "keys are case-sensitive"
    assert options.lookup("socket", "cmd") is None
    assert options.lookup("circus", "nosuch") is None


def test_settable_keys_are_exactly_those_add_and_set_accept():
    assert sorted(row.name for row in options.rows("watcher") if options.settable(row.name) and not row.prefix) == sorted(SETTABLE)
    for key in ("rlimit_nofile", "stdout_stream.filename", "stderr_stream.class", "hooks.before_start"):
        assert options.settable(key) is not None
    for key in ("priority", "use_sockets", "autostart", "flapping.max_retry", "nosuch"):
        assert options.settable(key) is None


@pytest.mark.parametrize(
    "key, value",
    [
        ("numprocesses", True),
        ("numprocesses", "3"),
        ("numprocesses", -1),
        ("numprocesses", 2.0),
        ("graceful_timeout", True),
        ("graceful_timeout", "3"),
        ("shell", "true"),
        ("shell", 1),
        ("stop_signal", True),
        ("stop_signal", "NOPE"),
        ("env", {"A": 1}),
        ("env", ["A=1"]),
        ("cmd", ""),
        ("cmd", ["ls"]),
        ("args", [1]),
        ("stdout_stream", "FileStream"),
        ("stdout_stream", {"max_bytes": 1}),
        ("hooks", {"before_start": ""}),
        ("rlimit_nofile", "10"),
        ("max_retry", -2),
    ],
)
def test_checks_refuse_mistyped_json_values(key, value):
    with pytest.raises(ValueError):
        options.settable(key).check(value)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("numprocesses", 3, 3),
        ("graceful_timeout", 3, 3.0),
        ("warmup_delay", 0.5, 0.5),
        ("shell", True, True),
        ("stop_signal", "KILL", 9),
        ("stop_signal", 2, 2),
        ("env", {"A": "1"}, {"A": "1"}),
        ("args", ["-v", "x"], ["-v", "x"]),
        ("stdout_stream", {"class": "StdoutStream"}, {"class": "StdoutStream"}),
        ("hooks", {"before_start": "m.f, true"}, {"before_start": ("m.f", True)}),
        ("hooks.after_start", "m.f", ("m.f", False)),
        ("rlimit_nofile", None, None),
        ("max_retry", -1, -1),
        ("stdout_stream.max_bytes", 10, 10),
    ],
)
def test_checks_accept_json_values_of_the_right_type(key, value, expected):
    assert options.settable(key).check(value) == expected


def test_ini_converters_read_strings():
    assert options.lookup("watcher", "warmup_delay").convert("0.5") == 0.5
    assert options.lookup("circus", "warmup_delay").convert("1.5") == 1.5
    assert options.lookup("socket", "umask").convert("077") == 0o77
    assert options.lookup("socket", "family").convert("af_unix") == "AF_UNIX"
    assert options.lookup("socket", "proto").convert("tcp") == 6
    assert options.lookup("watcher", "rlimit_nofile").convert("") is None
    assert options.lookup("circus", "loglevel").convert("DEBUG") == "debug"
    with pytest.raises(ValueError, match="between 0 and 65535"):
        options.lookup("socket", "port").convert("70000")
    with pytest.raises(ValueError, match="unknown log level"):
        options.lookup("circus", "loglevel").convert("verbose")
    with pytest.raises(ValueError, match=r"\[env:NAME\]"):
        options.lookup("watcher", "env").convert("A=1")


def _optiontable():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "docs" / "_ext" / "optiontable.py"
    spec = importlib.util.spec_from_file_location("optiontable", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("section", options.SECTIONS)
def test_the_docs_table_lists_every_row_of_a_section(section):
    pytest.importorskip("docutils")
    text = "\n".join(_optiontable().render(section))
    for row in options.rows(section):
        assert "``%s" % row.name in text
    assert "SIGTERM" in text or section != "watcher"


def test_the_docs_table_refuses_an_unknown_section():
    pytest.importorskip("docutils")
    with pytest.raises(ValueError, match="no option section 'nosuch'"):
        _optiontable().render("nosuch")


def test_fold_merges_dotted_hook_and_stream_keys_into_their_family():
    fold = options.fold

    given = {"hooks": {"before_start": "a.b"}, "hooks.after_start": "c.d", "stdout_stream.class": "FileStream",
             "numprocesses": 2, "rlimit_nofile": 10, "flapping.attempts": "3"}  # fmt: skip
    assert fold(given) == {
        "hooks": {"before_start": "a.b", "after_start": "c.d"},
        "stdout_stream": {"class": "FileStream"},
        "numprocesses": 2, "rlimit_nofile": 10, "flapping.attempts": "3",
    }  # fmt: skip
    assert given["hooks"] == {"before_start": "a.b"}  # the caller's mapping is not changed


def test_check_settable_names_the_first_bad_key():
    check_settable = options.check_settable

    assert check_settable({"numprocesses": 3, "hooks.after_start": "a.b"}) == {
        "numprocesses": 3, "hooks.after_start": ("a.b", False)}  # fmt: skip
    for values, message in [({"colour": 1}, "unknown key 'colour'"),
                            ({"priority": 1}, "'priority' cannot be changed on a live watcher"),
                            ({"numprocesses": "3"}, "invalid value for 'numprocesses'")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            check_settable(values)


def test_the_hooks_page_documents_exactly_the_hook_names_of_the_table():
    import pathlib
    import re

    page = (pathlib.Path(__file__).parents[2] / "docs" / "hooks.rst").read_text()
    rows = re.findall(r"^``(\w+)``\s{2,}", page, re.MULTILINE)
    documented = [name for name in rows if name in options.HOOK_NAMES or name.startswith(("before_", "after_"))]
    assert set(documented) == set(options.HOOK_NAMES)
    assert options.HOOKS_IGNORING_FAILURE < set(options.HOOK_NAMES)


def test_the_hooks_row_names_every_hook_so_the_configuration_page_does():
    doc = options.lookup("watcher", "hooks.after_start").doc
    assert all(name in doc for name in options.HOOK_NAMES)


def test_every_watcher_row_turns_circusctl_text_into_a_value_its_own_check_accepts():
    samples = {"env": "A=1,B=x=y", "hooks": "after_start:m.f", "hooks.": "m.f,true",
               "stdout_stream.": "out.log", "stderr_stream.": "err.log", "rlimit_": "100",
               "stop_signal": "TERM", "retry_in": "1.5", "uid": "0", "gid": "0", "cmd": "sleep 1", "args": "--x",
               "ready_address": "127.0.0.1:8000", "ready_url": "http://127.0.0.1:8000/"}  # fmt: skip
    for row in options.rows("watcher"):
        if row.name in ("stdout_stream", "stderr_stream"):  # set as stdout_stream.KEY
            with pytest.raises(ValueError, match="stream.\\* keys"):
                options.cli_value(row.name, "x")
            continue
        key = row.name + ("nofile" if row.name == "rlimit_" else "x" if row.prefix else "")
        default = row.default if row.default is not None else ""
        text = samples.get(row.name, str(default).lower() if isinstance(default, bool) else str(default))
        row.check(options.cli_value(key, text))  # the daemon accepts what circusctl sends


def test_circusctl_sends_stream_sizes_as_numbers_and_other_stream_options_as_text():
    assert options.cli_value("stdout_stream.max_bytes", "1024") == 1024
    assert options.cli_value("stderr_stream.backup_count", "3") == 3
    assert options.cli_value("stdout_stream.filename", "1024") == "1024"
    with pytest.raises(ValueError):
        options.cli_value("stdout_stream.rotate_interval", "often")
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        options.cli_value("colour", "blue")


def test_the_singleton_rule_allows_0_or_1_process_and_names_the_watcher_and_the_limit():
    for singleton, numprocesses in [(True, 0), (True, 1), (False, 5)]:
        options.check_singleton("web", singleton, numprocesses)
    with pytest.raises(ValueError) as refused:
        options.check_singleton("web", True, 2)
    assert str(refused.value) == "watcher 'web' is a singleton: it runs at most 1 process, not 2"
