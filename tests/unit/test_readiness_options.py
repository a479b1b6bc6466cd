"""The readiness options of the table: their values, their checks, the batch sizes of a rolling reload."""

import pytest

from circus import options
from circus.rolling import batch_size


def convert(key, text):
    return options.lookup("watcher", key).convert(text)


def check(key, value):
    return options.lookup("watcher", key).check(value)


def test_defaults_are_off():
    defaults = options.defaults("watcher")
    assert (defaults["ready"], defaults["watchdog_sec"], defaults["reload_batch"]) == ("none", 0.0, 0)
    assert defaults["ready_address"] is None and defaults["ready_url"] is None


@pytest.mark.parametrize("text, value", [("notify", "notify"), (" TCP ", "tcp"), ("http", "http"), ("none", "none")])
def test_ready_kinds(text, value):
    assert convert("ready", text) == value


@pytest.mark.parametrize("key, bad, words", [
    ("ready", "systemd", "unknown ready"),
    ("ready_address", "localhost", "host:port"),
    ("ready_address", "localhost:99999", "host:port"),
    ("ready_url", "localhost:8000/health", "http"),
    ("ready_url", "http://[::1/health", "Invalid IPv6"),
    ("ready_url", "http:///health", "no host"),
    ("ready_timeout", "0", "more than 0"),
    ("watchdog_sec", "-1", "0 or more"),
    ("reload_batch", "150%", "percentage"),
    ("reload_batch", "-2", "0 or more"),
    ("reload_batch", "two", "integer"),
])
def test_bad_values_are_refused_with_a_reason(key, bad, words):
    with pytest.raises(ValueError, match=words):
        convert(key, bad)


def test_substituted_addresses_are_checked_at_spawn_time():
    assert convert("ready_address", "127.0.0.1:80$(circus.wid)") == "127.0.0.1:80$(circus.wid)"
    assert convert("ready_address", "$(circus.sockets.web)") == "$(circus.sockets.web)"


def test_reload_batch_is_a_count_or_a_percentage():
    assert convert("reload_batch", "3") == 3
    assert convert("reload_batch", "25 %") == "25%"
    assert check("reload_batch", 2) == 2
    assert check("reload_batch", "50%") == "50%"
    with pytest.raises(ValueError):
        check("reload_batch", True)


def test_tcp_and_http_need_their_address():
    with pytest.raises(ValueError, match="ready_address"):
        options.check_readiness("web", "tcp", None, None)
    with pytest.raises(ValueError, match="ready_url"):
        options.check_readiness("web", "http", "127.0.0.1:1", None)
    options.check_readiness("web", "http", None, "http://127.0.0.1:1/")
    options.check_readiness("web", "notify", None, None)


@pytest.mark.parametrize("setting, count, size", [
    (0, 8, 1), (2, 8, 2), ("25%", 8, 2), ("25%", 3, 1), ("100%", 8, 8), ("10%", 1, 1), (20, 4, 20),
])
def test_batch_sizes(setting, count, size):
    assert batch_size(setting, count) == size
