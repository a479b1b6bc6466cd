"""Plain-text renderings of option-table rows, shared by the docs and the man page.

The configuration page (``docs/_ext/optiontable.py``) and ``circus.ini(5)``
(``circus.manpages``) print the same key, default and live-change texts, each
in its own markup.
"""

from circus import options
from circus.convert import signal_name

LIVE_TEXT = {
    options.Live.NONE: "at once",
    options.Live.MANAGE: "next manage pass",
    options.Live.RELOAD: "graceful restart",
    options.Live.READONLY: "restart circusd",
}


def default_text(row: options.Option) -> str | None:
    """The default as written in an ini file; None when the row has none to show."""
    if row.prefix or row.default is None:
        return None
    if row.name == "stop_signal":
        return signal_name(row.default)
    if isinstance(row.default, bool):
        return str(row.default).lower()
    if row.default == "":
        return '""'
    return str(row.default)


def key_text(row: options.Option) -> str:
    """The key, a family shown with its placeholder (``rlimit_NAME``, ``hooks.OPTION``)."""
    if not row.prefix:
        return row.name
    return row.name + ("NAME" if row.name.endswith("_") else "OPTION")
