"""Client side of the protocol, without a daemon: messages, console output, circusctl parsing."""

import io
import json
import signal

import pytest

from circus.circusctl import complete, parse_command_args, show_reply
from circus.client import cast_message, decode_reply, encode_call, make_json, make_message
from circus.commands import get_commands
from circus.exc import ArgumentError

COMMANDS = get_commands()
EXPECTED = {
    "add", "decr", "dstats", "get", "globaloptions", "incr", "ipython", "kill", "list", "listen", "logs", "metrics",
    "listsockets", "numprocesses", "numwatchers", "options", "quit", "reload",
    "reloadconfig", "restart", "rm", "set", "signal", "start", "stats", "status", "stop", "upgrade",
}  # fmt: skip


def props(name, *words, **flags):
    msg = COMMANDS[name].message(*words, **flags)
    assert msg["command"] == name
    return msg["properties"]


def console(command, **reply):
    return COMMANDS[command].console_msg(dict(reply, status=reply.get("status", "ok")))


INFO = {
    "pid": 15232, "cmdline": "python", "username": "root", "nice": 0, "mem_info1": "9.42M",
    "mem_info2": "12.38M", "cpu": 0.0, "mem": 0.039, "ctime": "0:00.20", "children": [],
}  # fmt: skip


# -- messages -------------------------------------------------------------------------


def test_make_message_puts_the_properties_under_properties():
    assert make_message("status", name="web") == {"command": "status", "properties": {"name": "web"}}
    assert make_message("list") == {"command": "list", "properties": {}}


def test_cast_message_is_a_message_marked_cast():
    assert cast_message("stop", name="web") == {
        "command": "stop", "properties": {"name": "web"}, "msg_type": "cast",
    }  # fmt: skip


def test_make_json_is_the_json_text_of_make_message():
    assert json.loads(make_json("incr", name="web", nb=2)) == make_message("incr", name="web", nb=2)


def test_encode_call_gives_each_call_a_fresh_id():
    first, second = make_message("list"), make_message("list")
    id1, frame1 = encode_call(first)
    id2, _ = encode_call(second)
    assert id1 != id2 and len(id1) == 32
    assert json.loads(frame1) == {"command": "list", "properties": {}, "id": id1}


def test_encode_call_refuses_a_string():
    with pytest.raises(DeprecationWarning):
        encode_call('{"command": "list"}')


def test_decode_reply_skips_replies_to_other_calls_and_garbage():
    assert decode_reply("a", b'{"id": "a", "status": "ok"}') == {"id": "a", "status": "ok"}
    assert decode_reply("a", b'{"id": "b", "status": "ok"}') is None
    assert decode_reply("a", b"not json") is None
    assert decode_reply("a", b"[1, 2]") is None


def test_every_command_of_the_protocol_is_registered():
    assert set(COMMANDS) == EXPECTED


def test_every_command_has_a_help_text_with_its_message_and_command_line():
    for name, command in COMMANDS.items():
        assert command.summary and "\n" not in command.summary, name
        assert "circusctl %s" % name in command.help, name


# -- circusctl words to properties ------------------------------------------------------


def test_add_joins_the_remaining_words_into_the_command_line():
    assert props("add", "web", "python", "-m", "http.server", start=True) == {
        "name": "web", "cmd": "python -m http.server", "start": True,
    }  # fmt: skip


def test_incr_and_decr_send_nb_as_an_integer():
    assert props("incr", "web", "3", waiting=True) == {"name": "web", "nb": 3, "waiting": True}
    assert props("decr", "web") == {"name": "web"}
    with pytest.raises(ArgumentError):
        props("incr", "web", "three")


def test_a_wrong_number_of_words_is_an_argument_error():
    for name, words in [("incr", ()), ("get", ("web",)), ("status", ("a", "b")),
                        ("set", ("web", "numprocesses")), ("signal", ("web",)),
                        ("quit", ("now",)), ("add", ("web",)), ("rm", ())]:  # fmt: skip
        with pytest.raises(ArgumentError, match="Invalid number of arguments"):
            props(name, *words)


def test_get_sends_the_keys_as_a_list():
    assert props("get", "web", "numprocesses", "cmd") == {"name": "web", "keys": ["numprocesses", "cmd"]}


def test_kill_sends_its_flags_including_waiting():
    assert props("kill", "web", "123", signum="9", graceful_timeout=2.5, waiting=True) == {
        "name": "web", "pid": 123, "signum": 9, "graceful_timeout": 2.5, "waiting": True,
    }  # fmt: skip
    assert props("kill", "web", signum="KILL") == {"name": "web", "signum": "KILL"}


def test_rm_sends_nostop_and_waiting():
    assert props("rm", "web", nostop=True, waiting=True) == {"name": "web", "nostop": True, "waiting": True}


def test_reload_terminate_means_not_graceful():
    assert props("reload", "web", terminate=True) == {"name": "web", "graceful": False, "sequential": False}
    assert props("reload") == {"graceful": True, "sequential": False}


def test_start_stop_restart_send_match_only_with_a_name():
    assert props("start", "web*", match="glob", waiting=True) == {"name": "web*", "match": "glob", "waiting": True}
    assert props("stop", match="glob") == {}
    assert props("restart", "web", match="simple") == {"name": "web", "match": "simple"}


def test_signal_takes_the_signal_last_and_optional_pids_before_it():
    assert props("signal", "web", "HUP") == {"name": "web", "signum": "HUP"}
    assert props("signal", "web", "12", "9", children=True) == {
        "name": "web", "pid": 12, "signum": 9, "children": True,
    }  # fmt: skip
    assert props("signal", "web", "12", "13", "USR1") == {
        "name": "web", "pid": 12, "childpid": 13, "signum": "USR1",
    }  # fmt: skip


def test_set_converts_values_from_their_ini_spelling():
    sent = props("set", "web", "NumProcesses", "3", "graceful_timeout", "2.5", "send_hup", "yes",
                 "stop_signal", "SIGINT", "env", "A=1, B=x=y", "hooks", "after_start:m.f,before_stop:m.g",
                 "hooks.after_spawn", "m.h,true", "stdout_stream.max_bytes", "1024",
                 "stdout_stream.filename", "out.log", "uid", "nobody", "rlimit_nofile", "100")  # fmt: skip
    assert sent["options"] == {
        "numprocesses": 3, "graceful_timeout": 2.5, "send_hup": True,
        "stop_signal": int(signal.SIGINT), "env": {"A": "1", "B": "x=y"},
        "hooks": {"after_start": "m.f", "before_stop": "m.g"}, "hooks.after_spawn": "m.h,true",
        "stdout_stream.max_bytes": 1024, "stdout_stream.filename": "out.log", "uid": "nobody",
        "rlimit_nofile": 100,
    }  # fmt: skip


def test_set_refuses_unknown_keys_and_bad_values_with_a_message():
    with pytest.raises(ArgumentError, match="unknown key 'colour'"):
        props("set", "web", "colour", "blue")
    with pytest.raises(ArgumentError, match="numprocesses"):
        props("set", "web", "numprocesses", "x")
    with pytest.raises(ArgumentError, match="KEY=VALUE"):
        props("set", "web", "env", "A")


def test_stats_sends_the_pid_as_process():
    assert props("stats", "web", "12", extended=True) == {"name": "web", "process": 12, "extended": True}


def test_listen_subscribes_to_everything_by_default():
    assert props("listen") == {"topics": [""]}
    assert props("listen", "watcher.web.", "watcher.api.spawn") == {"topics": ["watcher.web.", "watcher.api.spawn"]}


# -- console output ---------------------------------------------------------------------


def test_status_prints_one_sorted_line_per_watcher_or_the_bare_state():
    assert console("status", statuses={"web": "active", "api": "stopped"}) == "api: stopped\nweb: active"
    assert COMMANDS["status"].console_msg({"status": "active"}) == "active"


def test_list_prints_comma_joined_names_or_pids():
    assert console("list", watchers=["a", "b"]) == "a,b"
    assert console("list", pids=[3, 4]) == "3,4"


def test_incr_prints_the_new_count_or_the_singleton_notice():
    assert console("incr", numprocesses=4) == "4"
    assert console("decr") == "ok"
    assert console("decr", numprocesses=1, singleton=True) == (
        "This watcher is a Singleton - not changing the number of processes"
    )


def test_options_prints_sorted_keys_with_empty_none_and_joined_env():
    assert console("options", options={"uid": None, "env": {"B": "2", "A": "1"}, "cmd": "x"}) == (
        "cmd: x\nenv: A=1,B=2\nuid: "
    )


def test_get_prints_keys_in_the_order_asked():
    assert console("get", options={"numprocesses": 2, "cmd": "x"}) == "numprocesses: 2\ncmd: x"


def test_listsockets_prints_address_or_path():
    reply = {"sockets": [{"fd": 9, "name": "web", "backlog": 5, "host": "127.0.0.1", "port": 80},
                         {"fd": 10, "name": "u", "backlog": 5, "path": "/tmp/u.sock"}]}  # fmt: skip
    assert console("listsockets", **reply) == "9:socket 'web' at 127.0.0.1:80\n10:socket 'u' at /tmp/u.sock"


def test_stats_prints_info_lines_with_children_indented():
    child = dict(INFO, pid=15233, children=[])
    reply = {"infos": {"web": {"15232": dict(INFO, children=[child])}, "api": {}}}
    assert console("stats", **reply) == (
        "api:\n"
        "web:\n"
        "15232: 15232  python root 0 9.42M 12.38M 0.0 0.039 0:00.20\n"
        "   15233  python root 0 9.42M 12.38M 0.0 0.039 0:00.20"
    )
    assert console("stats", process=15232, info=INFO) == "15232: 15232  python root 0 9.42M 12.38M 0.0 0.039 0:00.20"
    assert console("stats", name="web", info={"15232": INFO}).startswith("web:\n15232: 15232  python")


def test_dstats_prints_the_main_process_then_its_children():
    text = console("dstats", info=dict(INFO, children=[dict(INFO, pid=7)]))
    assert text == (
        "Main Process:\n    15232  python root 0 9.42M 12.38M 0.0 0.039 0:00.20\n"
        "Children:\n    7  python root 0 9.42M 12.38M 0.0 0.039 0:00.20"
    )


def test_numbers_print_bare():
    assert console("numwatchers", numwatchers=3) == "3"
    assert console("numprocesses", numprocesses=5) == "5"


def test_error_replies_print_error_and_the_reason():
    assert COMMANDS["status"].console_error({"status": "error", "reason": "program x not found"}) == (
        "error: program x not found"
    )


# -- circusctl -----------------------------------------------------------------------


def test_command_flags_and_global_options_may_follow_the_words():
    args, flags, options = parse_command_args(
        COMMANDS["incr"], ["web", "--waiting", "2", "--json", "--timeout", "9"], {"timeout": 5.0, "json": False}
    )
    assert args == ["web", "2"] and flags == {"waiting": True}
    assert options == {"timeout": 9.0, "json": True}


def test_a_double_dash_ends_the_flags_of_add():
    args, flags, _ = parse_command_args(COMMANDS["add"], ["--start", "w", "--", "python", "-c", "x"], {})
    assert args == ["w", "python", "-c", "x"] and flags == {"start": True, "waiting": False}


def test_show_reply_exit_status_and_streams(capsys):
    options = {"json": False, "prettify": False}
    assert show_reply(COMMANDS["list"], {"status": "ok", "watchers": ["a"]}, options) == 0
    assert capsys.readouterr().out == "a\n"
    assert show_reply(COMMANDS["list"], {"status": "error", "reason": "boom"}, options) == 3
    assert capsys.readouterr().err == "error: boom\n"
    error = {"status": "error", "reason": "boom", "id": "x"}
    assert show_reply(COMMANDS["list"], error, dict(options, json=True)) == 0
    assert json.loads(capsys.readouterr().out) == error
    assert show_reply(COMMANDS["list"], {"b": 1, "a": 2}, dict(options, json=True, prettify=True)) == 0
    assert capsys.readouterr().out == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_bash_completion_of_the_first_word_lists_matching_commands():
    out = io.StringIO()
    complete(["circusctl", "re"], 1, COMMANDS, out=out)
    assert out.getvalue().split() == ["reload", "reloadconfig", "restart"]
    out = io.StringIO()
    complete(["circusctl", "--timeout", "3", "st"], 3, COMMANDS, out=out)
    assert out.getvalue().split() == ["start", "stats", "status", "stop"]
    out = io.StringIO()
    complete(["circusctl", "quit", ""], 2, COMMANDS, out=out)
    assert out.getvalue().split() == []


def test_circusctl_loads_no_daemon_module_so_it_starts_fast():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; from circus import circusctl; circusctl.get_commands();"
        "circusctl.parse_command_args(circusctl.get_commands()['set'], ['w', 'numprocesses', '2'], {});"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tornado', 'psutil', 'asyncio')"
        " or m in ('circus.arbiter', 'circus.watcher', 'circus.process', 'circus.controller')))"
    )
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True).stdout
    assert out.strip() == "[]"
