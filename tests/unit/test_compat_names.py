"""The names that code written for Circus 0.19 imports (spec/python-api.md §9-10, issue 18)."""

import asyncio
import inspect

import pytest
from tornado import gen
from tornado.ioloop import IOLoop

UTIL_NAMES = [
    "DEFAULT_ENDPOINT_DEALER", "DEFAULT_ENDPOINT_SUB", "DEFAULT_ENDPOINT_STATS", "DEFAULT_ENDPOINT_MULTICAST",
    "to_bool", "to_signum", "to_uid", "to_gid", "bytes2human", "human2bytes", "get_info", "resolve_name",
    "replace_gnu_args", "parse_env_dict", "configure_logger", "ImportStringError", "ConflictError",
    "IS_WINDOWS", "tornado_sleep",
]


@pytest.mark.parametrize("name", UTIL_NAMES)
def test_circus_util_offers_every_name_of_circus_0_19(name):
    import circus.util

    assert name in circus.util.__all__
    assert getattr(circus.util, name) is not None


def test_the_default_endpoints_are_those_of_circus():
    from circus import util

    assert (util.DEFAULT_ENDPOINT_DEALER, util.DEFAULT_ENDPOINT_SUB, util.DEFAULT_ENDPOINT_STATS,
            util.DEFAULT_ENDPOINT_MULTICAST) == ("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556",
                                                 "tcp://127.0.0.1:5557", "udp://237.219.251.97:12027")


def test_conflict_error_is_the_exception_a_busy_watcher_raises():
    from circus import exc, util, watcher

    assert util.ConflictError is exc.ConflictError is watcher.ConflictError


def test_is_windows_is_false():
    from circus.util import IS_WINDOWS

    assert IS_WINDOWS is False


def test_tornado_sleep_is_awaitable_from_async_def_and_tornado_coroutines():
    from circus.util import tornado_sleep

    @gen.coroutine
    def old_style():
        yield tornado_sleep(0.01)
        return "tornado"

    async def new_style():
        await tornado_sleep(0.01)
        return "async"

    async def both():
        return await old_style(), await new_style()

    assert asyncio.run(both()) == ("tornado", "async")
    assert IOLoop(make_current=False).run_sync(old_style) == "tornado"


def test_circusctl_version_is_the_package_version():
    import circus
    from circus.circusctl import VERSION

    assert VERSION == circus.__version__ == "0.19.0"


def test_the_client_names_and_signatures_of_circus():
    from circus.client import AsyncCircusClient, CircusClient, cast_message, make_json, make_message

    expected = ["context", "endpoint", "timeout", "ssh_server", "ssh_keyfile"]
    for client in (CircusClient, AsyncCircusClient):
        parameters = inspect.signature(client).parameters.values()
        assert [p.name for p in parameters if p.kind is not p.KEYWORD_ONLY] == expected
        # What circus adds (the CurveZMQ keys) is keyword-only.
        assert [p.name for p in parameters if p.kind is p.KEYWORD_ONLY] == ["curve_key", "server_key"]
    assert make_message("incr", name="web") == {"command": "incr", "properties": {"name": "web"}}
    assert cast_message("incr", name="web")["msg_type"] == "cast"
    assert make_json("incr", name="web") == '{"command": "incr", "properties": {"name": "web"}}'


def test_the_process_and_watcher_constructors_take_the_manuals_leading_parameters():
    from circus.process import Process
    from circus.watcher import Watcher
    from circus.watcher_options import POSITIONAL_OPTIONS

    assert list(inspect.signature(Process).parameters)[:10] == [
        "name", "wid", "cmd", "args", "working_dir", "shell", "uid", "gid", "env", "rlimits"]
    assert list(inspect.signature(Watcher).parameters)[:3] == ["name", "cmd", "args"]
    assert POSITIONAL_OPTIONS[:8] == (
        "numprocesses", "warmup_delay", "working_dir", "shell", "shell_args", "uid", "max_retry", "gid")


def test_get_commands_is_the_registry_of_commands():
    from circus.commands import Command, get_commands

    commands = get_commands()
    assert {"status", "incr", "quit", "numwatchers"} <= set(commands)
    assert all(isinstance(c, Command) for c in commands.values())
