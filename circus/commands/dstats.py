"""dstats: process information of circusd itself."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from circus.commands import Command, as_key, format_info

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


class Dstats(Command):
    """Get circusd stats

    ZMQ message
    -----------

    ::

        {"command": "dstats"}

    The reply has ``info``: circusd's own process info (as in ``stats``),
    with the infos of its child processes under ``children``.

    Command line
    ------------

    ::

        $ circusctl dstats

    Prints ``Main Process:`` and circusd's line, then ``Children:`` and one
    line per child process.
    """

    name = "dstats"
    readonly = True
    _process = None  # kept between calls: cpu percent is measured since the last one

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        import psutil

        from circus.procinfo import get_info_sliced

        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process(os.getpid())
        # circusd's children are every worker: read them a slice at a time.
        return as_key("info", get_info_sliced(self._process))

    def console_msg(self, reply: dict) -> str:
        info = reply.get("info") or {}
        lines = ["Main Process:", "    %s" % format_info(info)]
        children = info.get("children") if isinstance(info, dict) else None
        if children:
            lines.append("Children:")
            lines.extend("    %s" % format_info(child) for child in children)
        return "\n".join(lines)
