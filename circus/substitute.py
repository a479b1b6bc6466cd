"""Variable substitution in configuration values and command lines.

Two syntaxes name a variable: ``$(circus.key)`` and ``((circus.key))``; the
whole token is matched case-insensitively and keys are made of ``[\\w.-]``.
Dict values flatten to dotted keys, so ``env={'FOO': 1}`` answers
``$(circus.env.foo)``.  A variable nobody provides is left verbatim, so that a
later pass (spawn time) can still fill it.
"""

import os
import re
from typing import Any, Mapping

_ENV_NAME = re.compile(r"\$([A-Z][A-Z0-9_]*)")
_WID = re.compile(r"\$WID\b")
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(prefix):
    pattern = _PATTERNS.get(prefix)
    if pattern is None:
        word = re.escape(prefix)
        pattern = re.compile(
            r"\$\(%s\.([\w.-]+)\)|\(\(%s\.([\w.-]+)\)\)" % (word, word), re.IGNORECASE
        )
        _PATTERNS[prefix] = pattern
    return pattern


def _flatten(variables, into, prefix=""):
    for key, value in variables.items():
        name = "%s%s" % (prefix, key)
        if isinstance(value, dict):
            _flatten(value, into, name + ".")
        else:
            into[name] = value
    return into


def _lookup_table(variables):
    """Exact names first, then their lower-case forms for case-insensitive matches."""
    exact = _flatten(variables, {})
    folded: dict[str, Any] = {}
    for name, value in exact.items():
        folded.setdefault(name.lower(), value)
    return exact, folded


def _format(value):
    return "" if value is None else str(value)


def replace_gnu_args(text: Any, prefix: str = "circus", **variables: Any) -> Any:
    """Replace ``$(prefix.key)`` and ``((prefix.key))`` in ``text`` from ``variables``.

    Non-string ``text`` is returned unchanged; unknown keys stay verbatim.
    """
    if not isinstance(text, str):
        return text
    exact, folded = _lookup_table(variables)

    def replace(match):
        key = match.group(1) or match.group(2)
        if key in exact:
            return _format(exact[key])
        if key.lower() in folded:
            return _format(folded[key.lower()])
        return match.group(0)

    return _pattern(prefix).sub(replace, text)


def parse_env_dict(env: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``env`` whose string values have ``$NAME`` replaced from os.environ.

    ``NAME`` matches ``[A-Z][A-Z0-9_]*``; an unset variable becomes ''.
    ``${NAME}`` and lower-case ``$name`` are left as they are.
    """
    def replace(match):
        return os.environ.get(match.group(1), "")

    return {
        key: _ENV_NAME.sub(replace, value) if isinstance(value, str) else value
        for key, value in env.items()
    }


def expand_command(
    text: str, wid: int, sockets: Mapping[str, int], watcher_vars: Mapping[str, Any]
) -> str:
    """Fill a command line at spawn time.

    Substitutes ``$(circus.wid)`` and ``$WID`` (a whole word) with ``wid``,
    ``$(circus.sockets.NAME)`` with the fd of socket NAME, ``$(circus.env.X)``
    from ``watcher_vars['env']`` and ``$(circus.<attr>)`` from ``watcher_vars``.
    """
    variables = dict(watcher_vars)
    variables["wid"] = wid
    variables["sockets"] = dict(sockets)
    if not isinstance(text, str):
        return text
    # $WID first, so that a substituted value containing "$WID" stays as it is.
    return replace_gnu_args(_WID.sub(str(wid), text), **variables)
