"""Helpers that plugins and hooks written for Circus import from ``circus.util``.

Nothing lives here: each name is re-exported from the module that owns it,
but for ``IS_WINDOWS``, a constant that only code written for Circus reads.
"""

#: ``await tornado_sleep(seconds)``, or ``yield`` it in a tornado coroutine.
from tornado.gen import sleep as tornado_sleep  # noqa: F401

from circus.client_defaults import (  # noqa: F401
    DEFAULT_ENDPOINT_DEALER,
    DEFAULT_ENDPOINT_MULTICAST,
    DEFAULT_ENDPOINT_STATS,
    DEFAULT_ENDPOINT_SUB,
)
from circus.convert import (  # noqa: F401
    bytes2human,
    human2bytes,
    to_bool,
    to_gid,
    to_signum,
    to_uid,
)
from circus.exc import ConflictError  # noqa: F401
from circus.logsetup import configure_logger  # noqa: F401
from circus.naming import ImportStringError, resolve_name  # noqa: F401
from circus.procinfo import get_info  # noqa: F401
from circus.substitute import parse_env_dict, replace_gnu_args  # noqa: F401

#: Always False: circus runs on Linux only.
IS_WINDOWS = False

__all__ = [
    "DEFAULT_ENDPOINT_DEALER",
    "DEFAULT_ENDPOINT_MULTICAST",
    "DEFAULT_ENDPOINT_STATS",
    "DEFAULT_ENDPOINT_SUB",
    "ConflictError",
    "IS_WINDOWS",
    "ImportStringError",
    "bytes2human",
    "configure_logger",
    "get_info",
    "human2bytes",
    "parse_env_dict",
    "replace_gnu_args",
    "resolve_name",
    "to_bool",
    "to_gid",
    "to_signum",
    "to_uid",
    "tornado_sleep",
]
