"""CommandReloader: restart a watcher when the program its command runs changes.

Every ``loop_rate`` seconds (default 1) the plugin looks at the program of
each watcher (its ``executable``, else the first word of its ``cmd``,
searched on PATH when it is a bare name): when its real path or its mtime
changed since the last look, the watcher is restarted. A new ``cmd`` set
with ``set`` is only recorded: circusd already reloads the watcher for it.
"""

import logging
import os
import shlex
import shutil
from typing import Any, Sequence

from circus.exc import CallError
from circus.plugins import CircusPlugin

logger = logging.getLogger("circus.plugins.command_reloader")


def program_path(cmd: str | None, executable: str | None = None) -> str | None:
    """The real path of the program ``cmd`` runs, or None if it cannot be found."""
    program = executable
    if not program:
        try:
            words = shlex.split(cmd or "")
        except ValueError:
            words = (cmd or "").split()
        program = words[0] if words else None
    if not program:
        return None
    if os.sep not in program:
        program = shutil.which(program) or program
    return os.path.realpath(program)


def fingerprint(path: str | None) -> tuple[str | None, int | None]:
    """``(path, mtime_ns)`` of ``path``; mtime None when it does not exist."""
    if path is None:
        return path, None
    try:
        return path, os.stat(path).st_mtime_ns
    except OSError:
        return path, None


class CommandReloader(CircusPlugin):
    """Option: loop_rate (seconds between looks, default 1)."""

    name = "command_reloader"

    def configure(self, config: dict[str, Any]) -> None:
        self.loop_rate = float(config.get("loop_rate", 1))
        # watcher -> ((cmd, executable), (real path, mtime))
        self.known: dict[str, tuple[tuple[str | None, str | None], tuple[str | None, int | None]]] = {}

    def handle_init(self) -> None:
        self.periodic(self.look_at_programs, self.loop_rate)

    def handle_recv(self, data: Sequence[bytes]) -> None:
        watcher, action, _ = self.split_data(data)
        if action == "remove":
            self.known.pop(watcher, None)

    async def look_at_programs(self) -> None:
        try:
            names = (await self.acall("list")).get("watchers") or []
            seen = {}
            for watcher in names:
                reply = await self.acall("get", name=watcher, keys=["cmd", "executable"])
                if reply.get("status") == "ok":
                    options = reply.get("options") or {}
                    seen[watcher] = options.get("cmd"), options.get("executable")
        except CallError as exc:
            logger.warning("%s", exc)
            return
        for watcher, (cmd, executable) in seen.items():
            self.look_at(watcher, cmd, executable)
        self.known = {w: v for w, v in self.known.items() if w in seen}

    def look_at(self, watcher: str, cmd: str | None, executable: str | None) -> None:
        """Restart ``watcher`` if its program changed since the last look."""
        current = (cmd, executable), fingerprint(program_path(cmd, executable))
        previous = self.known.get(watcher)
        self.known[watcher] = current
        if previous is None or previous[0] != current[0]:
            return
        if previous[1] != current[1] and current[1][1] is not None:
            logger.info("%s: %s changed, restarting the watcher", watcher, current[1][0])
            self.cast("restart", name=watcher)
