"""Value converters shared by the option table, the config loader and commands.

Every converter takes a string from an ini file (or an already typed value)
and returns the typed value, or raises ``ValueError`` with a message a user
can act on.  ``bool`` is never accepted where a number is expected: JSON
``true`` is not the integer 1.
"""

import grp
import pwd
import re
import signal
from typing import Any

_TRUE = frozenset(("yes", "true", "on", "1"))
_FALSE = frozenset(("no", "false", "off", "0"))


def to_bool(value: Any) -> bool:
    """``True``/``False`` from a bool, ``None`` (False) or a word.

    Words (case-insensitive, trimmed): yes true on 1 / no false off 0.
    """
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
    elif isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("not a boolean: %r (use true or false)" % (value,))


def to_int(value: Any) -> int:
    """An int from an int or a decimal string (``bool`` refused)."""
    if isinstance(value, bool):
        raise ValueError("not an integer: %r" % (value,))
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ValueError("not an integer: %r" % (value,))


def to_float(value: Any) -> float:
    """A float from a number or a numeric string (``bool`` refused)."""
    if isinstance(value, bool):
        raise ValueError("not a number: %r" % (value,))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError("not a number: %r" % (value,))


_RT_NAME = re.compile(r"^SIGRT(MIN|MAX)(?:([+-])(\d+))?$")


def _signal_by_name(name):
    """Signal number for ``KILL``, ``sigkill``, ``SIGRTMIN+1``; None if unknown."""
    upper = name.strip().upper()
    if not upper.startswith("SIG"):
        upper = "SIG" + upper
    match = _RT_NAME.match(upper)
    if match:
        base = signal.SIGRTMIN if match.group(1) == "MIN" else signal.SIGRTMAX
        offset = int(match.group(3) or 0)
        number = base + offset if match.group(2) != "-" else base - offset
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return int(number)
        return None
    member = getattr(signal.Signals, upper, None)
    return None if member is None else int(member)


def _valid_signum(number):
    return 1 <= number < signal.NSIG


def to_signum(value: Any) -> int:
    """A signal number from an int, ``'9'``, ``'KILL'``, ``'sigkill'``, ``'SIGRTMIN+1'``."""
    if isinstance(value, bool):
        raise ValueError("not a signal: %r" % (value,))
    if isinstance(value, int):
        if _valid_signum(value):
            return value
        raise ValueError("unknown signal %d" % value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return to_signum(int(text))
        number = _signal_by_name(text)
        if number is not None:
            return number
        raise ValueError("unknown signal %r" % text)
    raise ValueError("not a signal: %r" % (value,))


def signal_name(signum: Any) -> str:
    """``'SIGTERM'`` for 15, ``'SIGRTMIN+1'`` for a real-time signal."""
    signum = to_signum(signum)
    if signal.SIGRTMIN <= signum <= signal.SIGRTMAX:
        offset = signum - signal.SIGRTMIN
        return "SIGRTMIN+%d" % offset if offset else "SIGRTMIN"
    try:
        return signal.Signals(signum).name
    except ValueError:
        raise ValueError("unknown signal %d" % signum) from None


def _to_id(value, kind, by_name, by_id):
    if isinstance(value, bool):
        raise ValueError("not a %s: %r" % (kind, value))
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            try:
                return by_name(text)
            except KeyError:
                raise ValueError("unknown %s %r" % (kind, text)) from None
        value = int(text)
    if not isinstance(value, int):
        raise ValueError("not a %s: %r" % (kind, value))
    try:
        by_id(value)
    except KeyError:
        raise ValueError("unknown %s %d" % (kind, value)) from None
    return value


def to_uid(value: Any) -> int:
    """A uid from a user name or number; unknown users raise ValueError."""
    return _to_id(value, "user", lambda n: pwd.getpwnam(n).pw_uid, pwd.getpwuid)


def to_gid(value: Any) -> int:
    """A gid from a group name or number; unknown groups raise ValueError."""
    return _to_id(value, "group", lambda n: grp.getgrnam(n).gr_gid, grp.getgrgid)


def to_umask(value: Any) -> int:
    """A umask from an octal string (``'027'`` -> 0o27) or an int."""
    if isinstance(value, bool):
        raise ValueError("not a umask: %r" % (value,))
    if isinstance(value, str):
        try:
            value = int(value.strip(), 8)
        except ValueError:
            raise ValueError("not an octal umask: %r (e.g. 022)" % value) from None
    if isinstance(value, int) and 0 <= value <= 0o777:
        return value
    raise ValueError("not a umask: %r (octal 000 to 777)" % (value,))


_SYMBOLS = ("K", "M", "G", "T", "P", "E", "Z", "Y")


def bytes2human(n: Any) -> str:
    """``10000`` -> ``'9.77K'``; below 1024 -> ``'100B'``."""
    number = to_int(n)
    if number < 0:
        raise ValueError("not a size: %r" % (n,))
    for index in range(len(_SYMBOLS) - 1, -1, -1):
        unit = 1 << ((index + 1) * 10)
        if number >= unit:
            return "%.2f%s" % (number / unit, _SYMBOLS[index])
    return "%dB" % number


_HUMAN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGTPEZY]?)B?\s*$", re.IGNORECASE)


def human2bytes(text: str) -> int:
    """``'1.5M'`` -> 1572864, ``'10k'`` -> 10240, ``'100'`` -> 100."""
    match = _HUMAN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("not a size: %r (e.g. 512, 10K, 1.5M, 2G)" % (text,))
    number, symbol = match.groups()
    power = _SYMBOLS.index(symbol.upper()) + 1 if symbol else 0
    return int(float(number) * (1 << (power * 10)))


def to_listen_address(value: Any) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; port 0 picks a free one) as ``(host, port)``."""
    if not isinstance(value, str):
        raise ValueError("not a string: %r" % (value,))
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError("expected host:port (such as 127.0.0.1:9101), got %r" % (value,))
    return host, int(port)
