"""The option table: every configuration key of circus, declared once.

A row says how to read the key from an ini file (``convert``), how to check a
JSON value sent by ``add``/``set`` (``check``), its default, a one-line doc and
what a live change needs (``live``).  The config loader, the watcher's
defaults, the ``options``/``get``/``set``/``globaloptions`` commands and the
configuration page of the docs all read this table; nobody else declares a key.

Both ``convert`` and ``check`` return the typed value or raise ``ValueError``
with a readable message.  Families of keys (``rlimit_nofile``,
``stdout_stream.filename``, ``hooks.before_start``, ``flapping.max_retry``) are
rows with ``prefix=True`` whose ``name`` is the prefix.
"""

import enum
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from circus.convert import (
    to_bool,
    to_float,
    to_gid,
    to_int,
    to_listen_address,
    to_signum,
    to_uid,
    to_umask,
)

SECTIONS = ("circus", "watcher", "socket")

# The moments a watcher calls a hook at (``hooks.NAME``), in call order.
HOOK_NAMES = (
    "before_start",
    "after_start",
    "before_spawn",
    "after_spawn",
    "before_stop",
    "after_stop",
    "before_signal",
    "after_signal",
    "before_reap",
    "after_reap",
    "extended_stats",
)
# A failure of these hooks (before_stop and after) never changes what happens next.
HOOKS_IGNORING_FAILURE = frozenset(HOOK_NAMES[4:])


class Live(enum.Enum):
    """What a running circusd must do for a changed value to take effect."""

    NONE = "none"  # read when needed: nothing to do
    MANAGE = "manage"  # one manage pass of the watcher (e.g. numprocesses)
    RELOAD = "reload"  # graceful restart of the running processes / rebind
    READONLY = "readonly"  # cannot be changed live; restart circusd


@dataclass(frozen=True)
class Option:
    """One configuration key (or, with ``prefix``, one family of keys)."""

    name: str
    section: str
    convert: Callable[[str], Any]
    check: Callable[[Any], Any]
    default: Any
    doc: str
    live: Live
    prefix: bool = False
    # From the text circusctl ``set`` is given to the JSON value it sends
    # (None: ``convert``, as in an ini file).
    cli: Callable[[str], Any] | None = None


# -- converters from ini strings ---------------------------------------------


def _text(value):
    if not isinstance(value, str):
        raise ValueError("not a string: %r" % (value,))
    return value


def _in_range(convert, low, high=None, words=""):
    """``convert``, then refuse a number below ``low`` (or above ``high``) with ``words``."""

    def checked(value):
        number = convert(value)
        if number < low or (high is not None and number > high):
            raise ValueError("%s, got %s" % (words, number))
        return number

    return checked


_non_negative_int = _in_range(to_int, 0, words="must be 0 or more")
_retries = _in_range(to_int, -1, words="must be -1 (forever) or more")
_non_negative_float = _in_range(to_float, 0, words="must be 0 or more")
_port = _in_range(to_int, 0, 65535, words="port must be between 0 and 65535")


def _listen_address(value):
    """A ``host:port`` to listen on, kept as the text given."""
    to_listen_address(value)
    return _text(value).strip()


def _user_name(value):
    """A user that exists; the name is kept (``add`` compares it verbatim)."""
    to_uid(value)
    return _text(value).strip()


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _loglevel(value):
    level = _text(value).strip().lower()
    if level not in _LOG_LEVELS:
        raise ValueError(
            "unknown log level %r (one of %s)" % (value, ", ".join(_LOG_LEVELS))
        )
    return level


def _choice(what, *choices):
    def convert(value):
        word = _text(value).strip().upper()
        if word not in choices:
            raise ValueError("unknown %s %r; use one of %s" % (what, value, ", ".join(choices)))
        return word

    return convert


def _protocol(value):
    """A protocol number from a number or a name such as ``tcp``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _text(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return socket.getprotobyname(text)
    except OSError:
        raise ValueError("unknown protocol %r (see /etc/protocols)" % text) from None


def _rlimit(value):
    """An rlimit from the ini: an int, or empty for infinity (None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_int(value)


def _hook(value):
    """``'dotted.path[, flag]'`` -> ``(path, ignore_failure)``."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        path, flag = value
    elif isinstance(value, str):
        path, _, flag = value.partition(",")
        flag = flag.strip() or False
    else:
        raise ValueError("not a hook: %r (use 'dotted.path[, true]')" % (value,))
    path = _text(path).strip()
    if not path:
        raise ValueError("empty hook path (use 'dotted.path[, true]')")
    return (path, to_bool(flag))


def _family_only(family):
    def convert(value):
        raise ValueError("set the %s* keys instead" % family)

    return convert


def _env_from_ini(value):
    raise ValueError("use an [env:NAME] section to set a watcher's environment")


# -- circusctl set: from a command-line word to the JSON value sent ------------


def _pairs(separator):
    """``'A=1,B=2'`` (``'A:1,B:2'`` with ``separator=':'``) as a dict."""

    def convert(text):
        result = {}
        for item in filter(None, (part.strip() for part in _text(text).split(","))):
            key, sep, value = item.partition(separator)
            if not sep:
                raise ValueError(
                    "must look like KEY%sVALUE,KEY2%sVALUE2" % (separator, separator)
                )
            result[key.strip()] = value.strip()
        return result

    return convert


# Stream options that are numbers; the others stay text.
_INT_STREAM_OPTIONS = ("max_bytes", "backup_count", "rotate_interval")


def _stream_option(key):
    def convert(text):
        return to_int(text) if key in _INT_STREAM_OPTIONS else _text(text)

    return convert


def cli_value(key: str, text: str) -> Any:
    """The JSON value circusctl sends for ``set NAME key text``.

    Raises ``ValueError`` for a key the table does not know or a bad value.
    """
    row = lookup("watcher", key)
    if row is None:
        raise ValueError("unknown key %r" % key)
    if row.name in ("stdout_stream.", "stderr_stream."):
        return _stream_option(key[len(row.name):])(text)
    return (row.cli or row.convert)(text)


# -- checks of JSON values (add / set) -----------------------------------------


def _optional(check):
    def checked(value):
        return None if value is None else check(value)

    checked.__doc__ = check.__doc__
    return checked


def _json_int(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer: %r" % (value,))
    return value


def _json_non_negative_int(value):
    return _non_negative_int(_json_int(value))


def _json_retries(value):
    return _retries(_json_int(value))


def _json_float(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number: %r" % (value,))
    return float(value)


def _json_non_negative_float(value):
    return _non_negative_float(_json_float(value))


def _json_bool(value):
    if not isinstance(value, bool):
        raise ValueError("not a boolean: %r (use true or false)" % (value,))
    return value


def _json_signal(value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("not a signal: %r" % (value,))
    return to_signum(value)


def _json_cmd(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("cmd must be a non-empty string, got %r" % (value,))
    return value


def _json_args(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError("args must be a string or a list of strings, got %r" % (value,))


def _json_env(value):
    if not isinstance(value, dict):
        raise ValueError("env must be an object of strings, got %r" % (value,))
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValueError("env values must be strings, got %r=%r" % (key, item))
    return dict(value)


def _scalar(value):
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValueError("not a string or number: %r" % (value,))
    return value


def _json_stream(value):
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("a stream must be an object, got %r" % (value,))
    if not any(key in value for key in ("class", "filename", "stream")):
        raise ValueError("a stream needs a 'class' (or a 'filename')")
    return dict(value)


def _json_hooks(value):
    if not isinstance(value, dict):
        raise ValueError("hooks must be an object {hook: 'dotted.path[, flag]'}")
    return {_text(name): _hook(hook) for name, hook in value.items()}


def _watcher_names(value):
    """``'db, cache'`` (or a JSON list of names) as a list of watcher names."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = [item.strip() for item in value]
    else:
        raise ValueError("expected watcher names separated by commas, got %r" % (value,))
    if names == [""]:
        return []
    if not all(names):
        raise ValueError("an empty watcher name in %r" % (value,))
    return names


def _json_port(value):
    return _port(_json_int(value))


def _json_rlimit(value):
    return None if value is None else _json_int(value)


# -- readiness -------------------------------------------------------------------

READY_KINDS = ("none", "notify", "tcp", "http")


def _ready_kind(value):
    word = _text(value).strip().lower()
    if word not in READY_KINDS:
        raise ValueError("unknown ready %r; use one of %s" % (value, ", ".join(READY_KINDS)))
    return word


def _substituted(text):
    return "$(" in text


def _ready_address(value):
    text = _text(value).strip()
    if not _substituted(text):
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, got %r" % (value,))
    return text


def _ready_url(value):
    text = _text(value).strip()
    if not text.lower().startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL, got %r" % (value,))
    if not _substituted(text):
        try:
            host = urllib.parse.urlsplit(text).hostname
        except ValueError as exc:
            raise ValueError("%s: %r" % (exc, value)) from None
        if not host:
            raise ValueError("no host in %r" % (value,))
    return text


_positive_float = _in_range(to_float, 0.001, words="must be more than 0")


def _json_positive_float(value):
    return _positive_float(_json_float(value))


def _reload_batch(value):
    """A count (``2``) or a percentage of numprocesses (``'25%'``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _non_negative_int(value)
    text = _text(value).strip()
    if text.endswith("%"):
        number = text[:-1].strip()
        if not number.isdigit() or not 0 < int(number) <= 100:
            raise ValueError("a percentage must be between 1%% and 100%%, got %r" % (value,))
        return "%d%%" % int(number)
    return _non_negative_int(text)


def check_readiness(name, ready, address, url):
    """``ready = tcp`` needs ``ready_address``, ``ready = http`` needs ``ready_url``."""
    if ready == "tcp" and not address:
        raise ValueError("watcher %r: ready = tcp needs ready_address" % name)
    if ready == "http" and not url:
        raise ValueError("watcher %r: ready = http needs ready_url" % name)


# -- the table -----------------------------------------------------------------

_ROWS: list[Option] = []


def _row(section, name, convert, check, default, doc, live, prefix=False, cli=None):
    _ROWS.append(Option(name, section, convert, check, default, doc, live, prefix, cli))


def _circus(name, convert, check, default, doc, live=Live.READONLY):
    _row("circus", name, convert, check, default, doc, live)


_str, _ostr = _text, _optional(_text)

_circus("endpoint", _text, _str, "tcp://127.0.0.1:5555", "ZeroMQ ROUTER endpoint circusd binds for commands.")
_circus("endpoint_owner", _user_name, _optional(_user_name), None, "User that owns an ipc:// endpoint; `add` then requires this uid.")
_circus("pubsub_endpoint", _text, _str, "tcp://127.0.0.1:5556", "ZeroMQ PUB endpoint where circusd publishes events.")
_circus("multicast_endpoint", _text, _str, "udp://237.219.251.97:12027", "UDP multicast group:port answering autodiscovery with the endpoint.")
_circus("stats_endpoint", _text, _str, "tcp://127.0.0.1:5557", "ZeroMQ PUB endpoint of circusd-stats (setting it turns statsd on).")
_circus("statsd", to_bool, _json_bool, False, "Run circusd-stats as the watcher 'circusd-stats'.")
_circus("statsd_close_outputs", to_bool, _json_bool, False, "Send circusd-stats' stdout and stderr to /dev/null.")
_circus("check_delay", _non_negative_float, _json_non_negative_float, 5.0, "Seconds between two periodic checks of every watcher.", Live.NONE)
_circus("warmup_delay", _non_negative_float, _json_non_negative_float, 0.0, "Seconds to wait after starting each watcher.", Live.NONE)
_circus("include", _text, _str, "", "Whitespace-separated globs of more ini files, relative to this file.", Live.NONE)
_circus("include_dir", _text, _str, "", "Whitespace-separated directories whose *.ini files are included.", Live.NONE)
_circus("httpd", to_bool, _json_bool, False, "Run the circus web console (needs circusweb) as the watcher 'circushttpd'.")
_circus("httpd_host", _text, _str, "localhost", "Host the web console binds.")
_circus("httpd_port", _port, _json_port, 8080, "Port the web console binds.")
_circus("httpd_close_outputs", to_bool, _json_bool, False, "Send the web console's stdout and stderr to /dev/null.")
_circus("debug", to_bool, _json_bool, False, "Plugins, stats and web console log at DEBUG to circusd's stdout.")
_circus("debug_gc", to_bool, _json_bool, False, "Turn on gc.DEBUG_LEAK in circusd (read once, at start).")
_circus("pidfile", _text, _ostr, None, "File where circusd writes its pid (--pidfile wins).")
_circus("umask", to_umask, _optional(to_umask), None, "Octal umask of circusd and its children; unset leaves it alone.")
_circus("loglevel", _loglevel, _loglevel, "info", "One of critical, error, warning, info, debug (--log-level wins).")
_circus("logoutput", _text, _str, "-", "'-' (stdout), a file path, or syslog://host[:port]?facility (--log-output wins).")
_circus("loggerconfig", _text, _ostr, None, "A logging config file (.ini, .json, .yaml) or 'default' (--logger-config wins).")
_circus("max_message_size", _non_negative_int, _json_non_negative_int, 1048576, "Largest request body circusd parses, in bytes; a larger one gets an error reply (0: no limit).")
_circus("fqdn_prefix", _text, _ostr, None, "Prefix of the name circusd reports: prefix@fqdn.")
_circus("metrics_endpoint", _listen_address, _optional(_listen_address), None, "host:port where circusd serves /metrics (Prometheus), /healthz and /readyz over HTTP; unset: off.")
_circus("stream_backend", _text, _str, "thread", "Accepted for compatibility and ignored: streams always run in a writer thread.", Live.NONE)


def _watcher(name, convert, check, default, doc, live, prefix=False, cli=None):
    _row("watcher", name, convert, check, default, doc, live, prefix, cli)


_bool = (to_bool, _json_bool)

_watcher("cmd", _text, _json_cmd, "", "Command line to run; split like a shell would (or given to /bin/sh with shell).", Live.RELOAD, cli=_text)
_watcher("args", _text, _optional(_json_args), None, "Extra arguments appended to cmd.", Live.RELOAD, cli=_text)
_watcher("numprocesses", _non_negative_int, _json_non_negative_int, 1, "Number of processes to keep running.", Live.MANAGE)
_watcher("warmup_delay", _non_negative_float, _json_non_negative_float, 0.0, "Seconds between two spawns.", Live.NONE)
_watcher("executable", _text, _ostr, None, "Program to run; the first word of cmd becomes argv[0].", Live.READONLY)
_watcher("working_dir", _text, _ostr, None, "Working directory of the processes (default: circusd's).", Live.RELOAD)
_watcher("shell", *_bool, False, "Run cmd through /bin/sh -c.", Live.RELOAD)
_watcher("shell_args", _text, _ostr, None, "Arguments given to the shell after the command (with shell).", Live.READONLY)
_watcher("uid", to_uid, _optional(to_uid), None, "User (name or number) the processes run as.", Live.RELOAD, cli=_text)
_watcher("gid", to_gid, _optional(to_gid), None, "Group (name or number) the processes run as (default: the user's group).", Live.RELOAD, cli=_text)
_watcher("copy_env", *_bool, False, "Start the environment from circusd's own.", Live.RELOAD)
_watcher("copy_path", *_bool, False, "Put circusd's sys.path in PYTHONPATH (needs copy_env).", Live.READONLY)
_watcher("send_hup", *_bool, False, "Reload gracefully by sending SIGHUP instead of restarting.", Live.NONE)
_watcher("stop_signal", to_signum, _json_signal, 15, "Signal that stops a process (name or number).", Live.NONE)
_watcher("stop_children", *_bool, False, "Also send stop_signal to the children of each process.", Live.NONE)
_watcher("max_retry", _retries, _json_retries, 5, "Failed starts in a row (see min_uptime) after which the watcher is stopped (-1: never).", Live.NONE)
_watcher("min_uptime", _non_negative_float, _json_non_negative_float, 1.0, "Seconds a process must live to count as started; an earlier exit (except by SIGKILL) or a fork/exec error is a failed start.", Live.NONE)
_watcher("respawn_delay", _non_negative_float, _json_non_negative_float, 0.0, "Seconds a slot waits before its respawn after a process died young (before min_uptime), doubling per young death in a row up to respawn_delay_max (0: the built-in crash-loop delays).", Live.NONE)
_watcher("respawn_delay_max", _non_negative_float, _json_non_negative_float, 60.0, "Longest respawn wait of the respawn_delay backoff, in seconds (never below respawn_delay).", Live.NONE)
_watcher("depends_on", _watcher_names, _optional(_watcher_names), None, "Watchers (comma-separated) that must be up before this one starts; it stops before them. Unknown names and cycles are errors.", Live.NONE)
_watcher("retry_in", _non_negative_float, _optional(_json_non_negative_float), None, "Accepted for compatibility; the flapping plugin reads flapping.retry_in.", Live.NONE)
_watcher("graceful_timeout", _non_negative_float, _json_non_negative_float, 30.0, "Seconds between stop_signal and SIGKILL.", Live.NONE)
_watcher("priority", to_int, _json_int, 0, "Watchers with a higher priority start first.", Live.READONLY)
_watcher("singleton", *_bool, False, "At most one process.", Live.MANAGE)
_watcher("use_sockets", *_bool, False, "Let the processes inherit circusd's sockets.", Live.READONLY)
_watcher("listen_fds", *_bool, False, "Hand the watcher's sockets to each process the systemd way: fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the process's own pid); without a $(circus.sockets.NAME) in the command, every socket.", Live.READONLY)
_watcher("on_demand", *_bool, False, "Start only when one of circus' sockets has a connection.", Live.READONLY)
_watcher("autostart", *_bool, True, "Start with circusd and start-all.", Live.READONLY)
_watcher("respawn", *_bool, True, "Replace processes that die.", Live.MANAGE)
_watcher("max_age", _non_negative_int, _json_non_negative_int, 0, "Recycle processes older than this many seconds (0: never).", Live.RELOAD)
_watcher("max_age_variance", _non_negative_int, _json_non_negative_int, 30, "Random extra seconds added to max_age per process.", Live.RELOAD)
_watcher("virtualenv", _text, _ostr, None, "Virtualenv whose bin and site-packages the processes use (needs copy_env).", Live.READONLY)
_watcher("virtualenv_py_ver", _text, _ostr, None, "Python X.Y of the virtualenv's lib/pythonX.Y (default: circusd's).", Live.READONLY)
_watcher("stdin_socket", _text, _ostr, None, "Name of a circus socket to use as the processes' stdin.", Live.READONLY)
_watcher("close_child_stdin", *_bool, True, "Give the processes /dev/null as stdin.", Live.RELOAD)
_watcher("close_child_stdout", *_bool, False, "Send the processes' stdout to /dev/null.", Live.RELOAD)
_watcher("close_child_stderr", *_bool, False, "Send the processes' stderr to /dev/null.", Live.RELOAD)
_watcher("check_flapping", *_bool, True, "Accepted for compatibility; the flapping plugin decides.", Live.READONLY)
_watcher("env", _env_from_ini, _optional(_json_env), None, "Environment of the processes (from [env] sections in ini files).", Live.RELOAD, cli=_pairs("="))
_watcher("stdout_stream", _family_only("stdout_stream."), _optional(_json_stream), None, "Where the processes' stdout goes (see stdout_stream.*).", Live.NONE)
_watcher("stderr_stream", _family_only("stderr_stream."), _optional(_json_stream), None, "Where the processes' stderr goes (see stderr_stream.*).", Live.NONE)
_watcher("hooks", _family_only("hooks."), _optional(_json_hooks), None, "Hooks called around start, spawn, stop, signal and reap (see hooks.*).", Live.NONE, cli=_pairs(":"))
_watcher("log_buffer_size", _non_negative_int, _json_non_negative_int, 65536, "Bytes of the latest stdout/stderr lines kept in memory for `logs` and followed as log.* events; an output without a stream is then piped and written on to circusd's own. 0: none kept, and such an output is inherited from circusd (Circus 0.19).", Live.NONE)
_watcher("hook_timeout", _non_negative_float, _json_non_negative_float, 30.0, "Seconds a hook may run before it counts as failed (0: no limit).", Live.NONE)
_watcher("ready", _ready_kind, _ready_kind, "none", "When a new process counts as up: none (once spawned), notify (it sends READY=1 to NOTIFY_SOCKET), tcp (ready_address accepts a connection) or http (ready_url answers 2xx).", Live.NONE)
_watcher("ready_address", _ready_address, _optional(_ready_address), None, "host:port that ready = tcp connects to; $(circus.wid) and $(circus.sockets.NAME) (the socket's host:port) are substituted.", Live.NONE)
_watcher("ready_url", _ready_url, _optional(_ready_url), None, "http(s) URL that ready = http fetches; substituted as ready_address.", Live.NONE)
_watcher("ready_timeout", _positive_float, _json_positive_float, 30.0, "Seconds a new process has to become ready; then it is killed and counts as a failed start (max_retry), and a rolling reload stops.", Live.NONE)
_watcher("watchdog_sec", _non_negative_float, _json_non_negative_float, 0.0, "A process that sends no WATCHDOG=1 to NOTIFY_SOCKET for this many seconds is killed and replaced (0: off).", Live.NONE)
_watcher("reload_batch", _reload_batch, _reload_batch, 0, "New processes a rolling reload starts at a time: a count or a percentage of numprocesses (25%); 0: one at a time with readiness, else today's reload.", Live.NONE)
_watcher("rlimit_", _rlimit, _json_rlimit, None, "rlimit_NAME: setrlimit(RLIMIT_NAME, value) in each process; empty = unlimited.", Live.RELOAD, prefix=True)
_watcher("stdout_stream.", _text, _scalar, None, "stdout_stream.class (e.g. FileStream) and that stream's options.", Live.NONE, prefix=True)
_watcher("stderr_stream.", _text, _scalar, None, "stderr_stream.class (e.g. FileStream) and that stream's options.", Live.NONE, prefix=True)
_watcher("hooks.", _hook, _hook, None, "hooks.HOOK = dotted.path[, ignore_failure]: a callable run at that moment, one of %s." % ", ".join(HOOK_NAMES), Live.NONE, prefix=True, cli=_text)
_watcher("flapping.", _text, _text, None, "flapping.OPTION: per-watcher settings of the flapping plugin (kept as text).", Live.READONLY, prefix=True)


def _socket(name, convert, check, default, doc):
    _row("socket", name, convert, check, default, doc, Live.RELOAD)


_socket("host", _text, _str, "localhost", "Host or address to bind.")
_socket("port", _port, _json_port, 8080, "Port to bind; 0 picks a free one.")
_family = _choice("family", "AF_INET", "AF_INET6", "AF_UNIX")
_socket("family", _family, _family, "AF_INET", "AF_INET, AF_INET6 or AF_UNIX.")
_sock_type = _choice("type", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET")
_socket("type", _sock_type, _sock_type, "SOCK_STREAM", "SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM or SOCK_SEQPACKET.")
_socket("proto", _protocol, _protocol, 0, "Protocol name or number (0: the family's default).")
_socket("backlog", _non_negative_int, _json_non_negative_int, 2048, "Length of the listen queue.")
_socket("path", _text, _ostr, None, "Path of a unix socket (implies AF_UNIX; host and port are ignored).")
_socket("umask", to_umask, _optional(to_umask), None, "Octal umask while binding a unix socket; unset keeps circusd's.")
_socket("replace", *_bool, False, "Remove an existing file at path before binding.")
_socket("so_reuseport", *_bool, False, "Bind one SO_REUSEPORT socket per process.")
_socket("blocking", *_bool, False, "Leave the socket in blocking mode.")
_socket("interface", _text, _ostr, None, "Network interface to bind to (SO_BINDTODEVICE).")
_socket("systemd", *_bool, False, "Take the socket of this name that circusd's supervisor passed (socket activation: LISTEN_FDS, LISTEN_FDNAMES) instead of binding; the address keys are ignored.")

_EXACT = {(row.section, row.name): row for row in _ROWS if not row.prefix}
_PREFIXES = [row for row in _ROWS if row.prefix]


def lookup(section: str, key: str) -> Option | None:
    """The row of ``key`` in ``section`` ('circus', 'watcher', 'socket'), families included.

    Returns None for a key the table does not know (a freeform key).
    """
    row = _EXACT.get((section, key))
    if row is not None:
        return row
    for row in _PREFIXES:
        if row.section == section and key.startswith(row.name) and len(key) > len(row.name):
            return row
    return None


def rows(section: str) -> list[Option]:
    """Every row of ``section``, in table order (families last)."""
    return [row for row in _ROWS if row.section == section]


def defaults(section: str) -> dict[str, Any]:
    """``{name: default}`` for every non-family row of ``section``."""
    return {row.name: row.default for row in _ROWS if row.section == section and not row.prefix}


def settable(key: str) -> Option | None:
    """The watcher row ``add``/``set`` accept for ``key``, or None (unknown or read-only)."""
    row = lookup("watcher", key)
    if row is None or row.live is Live.READONLY:
        return None
    return row


def check_settable(values: dict) -> dict:
    """``values`` ({key: JSON value} of ``add``/``set``) checked against the table.

    Returns the checked values; raises ``ValueError`` naming the first key
    that is unknown, read-only or of the wrong type.
    """
    checked = {}
    for key, value in values.items():
        row = settable(key)
        if row is None:
            if lookup("watcher", key) is not None:
                raise ValueError(
                    "%r cannot be changed on a live watcher: edit the config and "
                    "use reloadconfig" % key
                )
            raise ValueError("unknown key %r" % key)
        try:
            checked[key] = row.check(value)
        except (TypeError, ValueError) as error:
            raise ValueError("invalid value for %r: %s" % (key, error)) from None
    return checked


def check_singleton(name: str, singleton: bool, numprocesses: int) -> None:
    """The singleton rule: a singleton watcher runs at most 1 process.

    Raises ``ValueError`` naming the watcher and the limit. The config file,
    ``add``, ``set``, ``incr`` and ``reloadconfig`` all report this message.
    """
    if singleton and numprocesses > 1:
        raise ValueError(
            "watcher %r is a singleton: it runs at most 1 process, not %d" % (name, numprocesses)
        )


# Families whose dotted keys (``hooks.after_start``, ``stdout_stream.class``)
# are parts of one value (the ``hooks`` mapping, a stream's configuration).
_FOLDED = ("hooks", "stdout_stream", "stderr_stream")


def folded_family(key: str) -> str | None:
    """``'hooks'``, ``'stdout_stream'`` or ``'stderr_stream'`` for that key or one of its dotted keys; else None."""
    family = key.partition(".")[0]
    return family if family in _FOLDED else None


def fold(values: dict) -> dict:
    """``values`` with dotted keys merged into their family's mapping (a dotted key wins).

    ``{"hooks.after_start": h, "stdout_stream.class": "FileStream"}`` gives
    ``{"hooks": {"after_start": h}, "stdout_stream": {"class": "FileStream"}}``.
    """
    parts = [key for key in values if "." in key and folded_family(key)]
    folded = {key: value for key, value in values.items() if key not in parts}
    for key in parts:
        family, _, part = key.partition(".")
        folded[family] = dict(folded.get(family) or {}, **{part: values[key]})
    return folded
