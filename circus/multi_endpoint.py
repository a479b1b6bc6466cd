"""One circusctl command sent to several circusd at once (``--endpoint A --endpoint B``).

Every endpoint is asked at the same time, each with the ``--timeout`` of one
call, so a daemon that does not answer costs one timeout, never one per
daemon, and never hides the others' answers. The text output is one table
whose first column is the endpoint; ``--json`` prints ``{endpoint: reply}``
where a daemon that did not answer has ``{"status": "unreachable",
"reason": ...}``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from typing import Any, Callable, Mapping, Sequence

from circus.exc import CallError

EXIT_OK, EXIT_FAILURE, EXIT_ERROR_REPLY = 0, 1, 3


def split_endpoints(given: Sequence[str] | None, default: str) -> list[str]:
    """The endpoints of repeated ``--endpoint`` values, or of ``CIRCUSCTL_ENDPOINT``,
    each a comma-separated list; ``[default]`` when neither is set."""
    words = list(given or []) or [os.environ.get("CIRCUSCTL_ENDPOINT", "")]
    found = [part.strip() for word in words for part in word.split(",") if part.strip()]
    return found or [default]


def ask_all(endpoints: Sequence[str], msg: dict, call: Callable[[str, dict], dict]) -> dict[str, dict]:
    """``{endpoint: reply}``; ``call(endpoint, msg)`` raises CallError when nobody answers."""

    def ask(endpoint):
        try:
            return call(endpoint, msg)
        except CallError as exc:
            return {"status": "unreachable", "reason": str(exc)}

    with concurrent.futures.ThreadPoolExecutor(len(endpoints)) as pool:
        return dict(zip(endpoints, pool.map(ask, endpoints)))


def table(replies: Mapping[str, dict], console_msg: Callable[[dict], str]) -> str:
    """The endpoint column, then each daemon's own lines (or why it has none)."""
    rows: list[tuple[str, str]] = []
    for endpoint, reply in replies.items():
        if reply.get("status") == "unreachable":
            lines = ["unreachable (%s)" % reply.get("reason")]
        elif reply.get("status") == "error":
            lines = ["error: %s" % reply.get("reason", "unknown error")]
        else:
            lines = console_msg(reply).splitlines() or ["ok"]
        rows.extend((endpoint, line) for line in lines)
    width = max(len("ENDPOINT"), *(len(endpoint) for endpoint, _ in rows))
    return "\n".join(("%-*s  %s" % (width, endpoint, line)).rstrip() for endpoint, line in [("ENDPOINT", ""), *rows])


def show(replies: Mapping[str, dict], console_msg: Callable[[dict], str], options: Mapping[str, Any]) -> int:
    """Print the replies as ``options`` ask; the exit status (without ``--json``: 1 if one is
    unreachable, else 3 if one erred)."""
    if options.get("json"):  # as for one endpoint: the replies say it all, the status is 0
        print(json.dumps(dict(replies), indent=2 if options.get("prettify") else None, sort_keys=True))
        return EXIT_OK
    print(table(replies, console_msg))
    statuses = {reply.get("status") for reply in replies.values()}
    if "unreachable" in statuses:
        return EXIT_FAILURE
    return EXIT_ERROR_REPLY if "error" in statuses else EXIT_OK
