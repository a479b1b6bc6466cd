import json
import logging
import logging.handlers
import os
import re
import sys

import pytest

from circus.logsetup import configure_logger, parse_syslog_url, reopen_log_files

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?P<name>\S+)\[(?P<pid>\d+)\] \[(?P<level>[A-Z]+)\] (?P<msg>.*)$"
)


@pytest.fixture
def logger(request):
    """A fresh logger of the circus hierarchy, emptied afterwards."""
    log = logging.getLogger("circus.test_logsetup.%s" % request.node.name)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def test_file_output_writes_formatted_lines(logger, tmp_path):
    path = tmp_path / "circus.log"
    configure_logger(logger, "debug", str(path))
    logger.debug("web[%d] started", 42)
    logger.info("second line")
    lines = path.read_text().splitlines()
    first = LINE.match(lines[0])
    assert first is not None, lines[0]
    assert first.group("name") == "circus"
    assert int(first.group("pid")) == os.getpid()
    assert first.group("level") == "DEBUG"
    assert first.group("msg") == "web[42] started"
    assert LINE.match(lines[1]).group("msg") == "second line"


def test_log_file_is_not_inherited_by_children(logger, tmp_path):
    configure_logger(logger, "info", str(tmp_path / "circus.log"))
    (handler,) = logger.handlers
    logger.info("open the file")
    assert os.get_inheritable(handler.stream.fileno()) is False


def test_level_filters_lower_records(logger, tmp_path):
    path = tmp_path / "circus.log"
    configure_logger(logger, "WARNING", str(path))
    logger.info("hidden")
    logger.warning("shown")
    assert [LINE.match(l).group("msg") for l in path.read_text().splitlines()] == ["shown"]


def test_name_is_the_program_shown_in_each_line(logger, tmp_path):
    path = tmp_path / "stats.log"
    configure_logger(logger, "info", str(path), name="circusd-stats")
    logger.info("hello")
    assert LINE.match(path.read_text().strip()).group("name") == "circusd-stats"


def test_stdout_output(logger, capsys):
    configure_logger(logger, "info", "-")
    logger.info("to stdout")
    out = capsys.readouterr().out
    assert LINE.match(out.strip()).group("msg") == "to stdout"


def test_reconfiguring_replaces_the_previous_handler(logger, tmp_path):
    configure_logger(logger, "info", str(tmp_path / "a.log"))
    configure_logger(logger, "info", str(tmp_path / "b.log"))
    logger.info("only in b")
    assert (tmp_path / "a.log").read_text() == ""
    assert "only in b" in (tmp_path / "b.log").read_text()


def test_unknown_level_is_refused_by_name(logger):
    with pytest.raises(ValueError, match="unknown log level 'loud'; use one of critical"):
        configure_logger(logger, "loud")


def test_syslog_url_with_host_port_and_facility():
    address, facility = parse_syslog_url("syslog://logs.example.com:5514?local3")
    assert address == ("logs.example.com", 5514)
    assert facility == logging.handlers.SysLogHandler.LOG_LOCAL3


def test_syslog_url_defaults_to_port_514_and_user_facility():
    address, facility = parse_syslog_url("syslog://localhost")
    assert address == ("localhost", 514)
    assert facility == logging.handlers.SysLogHandler.LOG_USER


def test_syslog_url_with_a_unix_socket_path():
    address, facility = parse_syslog_url("syslog:///dev/log?daemon")
    assert address == "/dev/log"
    assert facility == logging.handlers.SysLogHandler.LOG_DAEMON


def test_syslog_url_with_unknown_facility_is_refused():
    with pytest.raises(ValueError, match="unknown syslog facility 'nosuch'"):
        parse_syslog_url("syslog://localhost?nosuch")


def test_syslog_output_builds_a_udp_handler_without_sending(logger):
    configure_logger(logger, "info", "syslog://127.0.0.1:5514?local0")
    (handler,) = logger.handlers
    assert isinstance(handler, logging.handlers.SysLogHandler)
    assert handler.address == ("127.0.0.1", 5514)
    assert handler.facility == logging.handlers.SysLogHandler.LOG_LOCAL0
    assert handler.formatter.datefmt == "%b %d %H:%M:%S"


def test_json_logger_config_is_applied(tmp_path):
    target = tmp_path / "from-json.log"
    config = {
        "version": 1,
        "formatters": {"bare": {"format": "%(name)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(target), "formatter": "bare"}
        },
        "loggers": {"circus.test_json": {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    configure_logger(logging.getLogger(), "info", "-", loggerconfig=str(path))
    log = logging.getLogger("circus.test_json")
    try:
        log.info("hello json")
        assert target.read_text() == "circus.test_json hello json\n"
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def test_ini_logger_config_is_applied(tmp_path):
    target = tmp_path / "from-ini.log"
    path = tmp_path / "logging.ini"
    path.write_text(
        "[loggers]\nkeys=root,test\n"
        "[handlers]\nkeys=file\n"
        "[formatters]\nkeys=bare\n"
        "[logger_root]\nhandlers=\n"
        "[logger_test]\nqualname=circus.test_ini\nhandlers=file\nlevel=INFO\npropagate=0\n"
        "[handler_file]\nclass=FileHandler\nformatter=bare\nargs=(%r,)\n"
        "[formatter_bare]\nformat=%%(message)s\n" % str(target)
    )
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logger(root, "info", "-", loggerconfig=str(path))
        log = logging.getLogger("circus.test_ini")
        log.info("hello ini")
        assert target.read_text() == "hello ini\n"
    finally:
        log = logging.getLogger("circus.test_ini")
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_missing_logger_config_names_the_file(logger, tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="logger config '%s' does not exist" % re.escape(missing)):
        configure_logger(logger, "info", "-", loggerconfig=missing)


def test_yaml_logger_config_without_pyyaml_says_what_to_install(logger, tmp_path, monkeypatch):
    path = tmp_path / "logging.yaml"
    path.write_text("version: 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail
    with pytest.raises(ValueError, match="pip install pyyaml"):
        configure_logger(logger, "info", "-", loggerconfig=str(path))


def test_default_logger_config_uses_level_and_output(logger, tmp_path):
    path = tmp_path / "circus.log"
    configure_logger(logger, "info", str(path), loggerconfig="default")
    logger.info("builtin setup")
    assert LINE.match(path.read_text().strip()).group("msg") == "builtin setup"


def test_reopen_log_files_follows_a_rotated_file(logger, tmp_path):
    path = tmp_path / "circus.log"
    configure_logger(logger, "info", str(path))
    logger.info("before rotation")
    os.rename(path, tmp_path / "circus.log.1")
    reopen_log_files()
    logger.info("after rotation")
    assert "before rotation" in (tmp_path / "circus.log.1").read_text()
    assert "after rotation" not in (tmp_path / "circus.log.1").read_text()
    assert "after rotation" in path.read_text()
