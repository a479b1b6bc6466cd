"""Logging setup shared by circusd and the other command-line tools.

``configure_logger`` sends log records to stdout, a file, or syslog, or
hands the whole setup to a logging config file. Log lines look like::

    2024-01-31 12:00:00 circus[1234] [INFO] web[1240] started
"""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import logging.handlers
import os
import socket
import sys
from typing import Optional, Tuple, Union
from urllib.parse import urlsplit

LOG_FORMAT = "%(asctime)s {name}[%(process)d] [%(levelname)s] %(message)s"
LOG_DATE_FMT = "%Y-%m-%d %H:%M:%S"
SYSLOG_DATE_FMT = "%b %d %H:%M:%S"

LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}

SYSLOG_PORT = 514

SyslogAddress = Union[str, Tuple[str, int]]


def to_level(level: Union[str, int]) -> int:
    """A logging level from a name (any case) or a number.

    Raises ValueError naming the level and the accepted names.
    """
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    key = str(level).strip().lower()
    if key not in LOG_LEVELS:
        raise ValueError(
            "unknown log level %r; use one of %s" % (level, ", ".join(LOG_LEVELS))
        )
    return LOG_LEVELS[key]


def parse_syslog_url(url: str) -> Tuple[SyslogAddress, int]:
    """``(address, facility)`` for a ``syslog://`` log output.

    ``syslog://host[:port][?facility]`` is UDP (port 514 by default);
    ``syslog:///dev/log[?facility]`` is a local unix socket. The facility
    defaults to ``user``.
    """
    parts = urlsplit(url)
    if parts.scheme != "syslog":
        raise ValueError("not a syslog URL: %r (syslog://host:port?facility)" % url)
    facility_name = (parts.query or "user").lower()
    facility = logging.handlers.SysLogHandler.facility_names.get(facility_name)
    if facility is None:
        known = ", ".join(sorted(logging.handlers.SysLogHandler.facility_names))
        raise ValueError("unknown syslog facility %r in %r; use one of %s" % (facility_name, url, known))
    if parts.netloc:
        try:
            port = parts.port or SYSLOG_PORT
        except ValueError:
            raise ValueError("bad port in syslog URL %r" % url) from None
        return (parts.hostname or "localhost", port), facility
    if not parts.path:
        raise ValueError("syslog URL %r names neither a host nor a socket path" % url)
    return parts.path, facility


class _SyslogHandler(logging.handlers.SysLogHandler):
    """A syslog handler that says once on stderr when syslog is unreachable.

    The stock handler prints a traceback for every record it cannot send.
    """

    _reported = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._reported:
            self._reported = True
            error = sys.exc_info()[1]
            sys.stderr.write("circus: cannot send logs to syslog at %r: %s\n" % (self.address, error))


def _make_handler(output: str) -> Tuple[logging.Handler, str]:
    """The handler for a log output, and the date format it wants."""
    if output in ("-", "stdout"):
        return logging.StreamHandler(sys.stdout), LOG_DATE_FMT
    if output == "stderr":
        return logging.StreamHandler(sys.stderr), LOG_DATE_FMT
    if output.startswith("syslog://"):
        address, facility = parse_syslog_url(output)
        # A unix socket may be datagram or stream: let the handler try both.
        socktype = socket.SOCK_DGRAM if isinstance(address, tuple) else None
        handler = _SyslogHandler(
            address=address, facility=facility, socktype=socktype  # type: ignore[arg-type]
        )
        return handler, SYSLOG_DATE_FMT
    # Python opens files close-on-exec, so children never inherit the log.
    try:
        return logging.handlers.WatchedFileHandler(output), LOG_DATE_FMT
    except OSError as exc:
        raise ValueError("cannot open the log output %r: %s" % (output, exc.strerror or exc)) from None


_INI_EXTENSIONS = (".ini", ".cfg", ".conf")
_YAML_EXTENSIONS = (".yaml", ".yml")


def _load_config_file(path: str) -> None:
    """Configure logging from an ``.ini``, ``.json`` or ``.yaml`` file.

    Any failure (a syntax error, a handler whose file cannot be opened) is
    a ValueError naming the file and the cause.
    """
    if not os.path.isfile(path):
        raise ValueError("logger config %r does not exist or is not a file" % path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _INI_EXTENSIONS + (".json",) + _YAML_EXTENSIONS:
        raise ValueError("logger config %r: unknown extension; use .ini, .json or .yaml" % path)
    if ext in _YAML_EXTENSIONS:
        try:
            import yaml  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            raise ValueError(
                "logger config %r is YAML but PyYAML is not installed; "
                "pip install pyyaml, or use a .ini or .json file" % path
            ) from None
    try:
        _apply_config_file(path, ext)
    except (ValueError, TypeError, KeyError, AttributeError, ImportError, OSError, configparser.Error) as exc:
        raise ValueError("logger config %r: %s" % (path, _with_cause(exc))) from None


def _with_cause(exc: BaseException) -> str:
    """``str(exc)``, followed by what caused it (logging.config wraps the real error)."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    return "%s: %s" % (text, cause) if cause is not None else text


def _apply_config_file(path: str, ext: str) -> None:
    if ext in _INI_EXTENSIONS:
        logging.config.fileConfig(path, disable_existing_loggers=False)
        return
    with open(path) as f:
        if ext == ".json":
            config = json.load(f)
        else:
            import yaml  # type: ignore[import-untyped]

            config = yaml.safe_load(f)
    if not isinstance(config, dict):
        raise ValueError("it does not hold a mapping")
    # Loggers created before this call (circus.*) must keep working.
    config.setdefault("disable_existing_loggers", False)
    logging.config.dictConfig(config)


def configure_logger(
    logger: logging.Logger,
    level: Union[str, int] = "INFO",
    output: str = "-",
    loggerconfig: Optional[str] = None,
    name: Optional[str] = None,
) -> None:
    """Set up ``logger`` for one of circus' programs.

    With ``loggerconfig`` naming a file (``.ini`` -> ``fileConfig``,
    ``.json``/``.yaml`` -> ``dictConfig``) the file decides everything and
    ``level``/``output`` are ignored. Otherwise (also for the literal
    ``default``) ``logger`` gets one handler for ``output``: ``-`` or
    ``stdout``, ``stderr``, a file path (reopened when rotated away), or a
    ``syslog://`` URL (see :func:`parse_syslog_url`). ``name`` is the
    program name shown in each line (default ``circus``).

    Raises ValueError for an unknown level, syslog facility or config file,
    or a log file that cannot be opened (a missing directory).
    """
    numeric_level = to_level(level)
    if loggerconfig and loggerconfig != "default":
        _load_config_file(loggerconfig)
        return
    handler, datefmt = _make_handler(output or "-")
    handler.setFormatter(logging.Formatter(LOG_FORMAT.format(name=name or "circus"), datefmt))
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(numeric_level)


def _all_handlers():
    loggers = [logging.getLogger()]
    loggers += [
        obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)
    ]
    seen = set()
    for each in loggers:
        for handler in each.handlers:
            if id(handler) not in seen:
                seen.add(id(handler))
                yield handler


def reopen_log_files() -> None:
    """Reopen every file that logging writes to (after logrotate, on reload)."""
    for handler in _all_handlers():
        if not isinstance(handler, logging.FileHandler):
            continue
        handler.acquire()
        try:
            if handler.stream is None:  # delay=True and nothing written yet
                continue
            handler.stream.close()
            handler.stream = handler._open()
            if isinstance(handler, logging.handlers.WatchedFileHandler):
                handler._statstream()  # remember the new file's inode
        finally:
            handler.release()
