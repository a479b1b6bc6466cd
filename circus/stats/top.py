"""What circus-top shows: the figures received so far, laid out as text.

:class:`TopState` keeps the last stats of each process and aggregate and
forgets a process not heard of for ``process_timeout`` seconds.
:func:`render` turns it into screen lines for a given terminal size; the
curses side (:mod:`circus.stats.client`) only draws them, so the layout is
tested without a terminal.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

WAITING = "*** Waiting for data ***"
HIDDEN = ("circusd-stats", "circushttpd")  # shown in the circus block instead
COLUMNS = (3, 28, 48, 68)  # PID, CPU, MEMORY, AGE on an 80-column terminal
TOP_PIDS = 10


class TopState:
    """Latest figures per watcher: ``processes[watcher][pid]`` and ``aggregates[watcher]``."""

    def __init__(self, process_timeout: float = 3.0) -> None:
        self.process_timeout = process_timeout
        self.processes: Dict[str, Dict[str, Tuple[float, dict]]] = {}
        self.aggregates: Dict[str, Tuple[float, dict]] = {}

    def update(self, watcher: str, subtopic: Optional[str], stat: dict, now: float) -> None:
        if watcher in HIDDEN:
            return
        if subtopic is None:
            self.aggregates[watcher] = (now, stat)
        else:
            self.processes.setdefault(watcher, {})[subtopic] = (now, stat)

    def prune(self, now: float) -> None:
        """Forget processes and aggregates older than ``process_timeout``."""
        oldest = now - self.process_timeout
        for watcher, rows in list(self.processes.items()):
            for key in [k for k, (when, _) in rows.items() if when < oldest]:
                del rows[key]
            if not rows:
                del self.processes[watcher]
        for watcher in [w for w, (when, _) in self.aggregates.items() if when < oldest]:
            del self.aggregates[watcher]

    @property
    def empty(self) -> bool:
        return not self.processes and not self.aggregates


def _columns(width: int) -> Tuple[int, ...]:
    """Column positions, squeezed proportionally on terminals narrower than 80."""
    if width >= 80:
        return COLUMNS
    return tuple(max(index, position * width // 80) for index, position in enumerate(COLUMNS))


def _row(cells: List[Any], columns: Tuple[int, ...]) -> str:
    line = ""
    for cell, column in zip(cells, columns):
        if cell is None:
            continue
        line = line.ljust(column) if len(line) < column else line + " "
        line += str(cell)
    return line


def _cpu_key(stat: dict) -> float:
    cpu = stat.get("cpu")
    return -cpu if isinstance(cpu, (int, float)) else 1.0  # busiest first, N/A last


def _process_rows(watcher: str, rows: Dict[str, Tuple[float, dict]], columns) -> List[str]:
    stats = sorted((stat for _, stat in rows.values()), key=_cpu_key)[:TOP_PIDS]
    lines = []
    for stat in stats:
        pid = stat.get("pid", "N/A")
        if watcher == "circus" and stat.get("name"):
            pid = "%s (%s)" % (pid, stat["name"])
        lines.append(_row([pid, stat.get("cpu", "N/A"), stat.get("mem", "N/A"), stat.get("age", "N/A")], columns))
    return lines


def _watcher_block(state: TopState, watcher: str, columns) -> List[str]:
    lines = [watcher, _row(["PID", "CPU (%)", "MEMORY (%)", "AGE (s)"], columns)]
    lines += _process_rows(watcher, state.processes.get(watcher, {}), columns)
    if watcher in state.aggregates:
        agg = state.aggregates[watcher][1]
        lines.append(
            _row([None, "%s (avg)" % agg.get("cpu", "N/A"), "%s (sum)" % agg.get("mem", "N/A"),
                  "%s (older)" % agg.get("age", "N/A")], columns)
        )
    return lines + [""]


def _sockets_block(state: TopState, columns) -> List[str]:
    rows = state.processes.get("sockets", {})
    lines = ["sockets", _row(["ADDRESS", "HITS"], columns[:2])]
    for _, stat in sorted(rows.values(), key=lambda item: str(item[1].get("address"))):
        lines.append(_row([stat.get("address", "N/A"), stat.get("reads", "N/A")], columns[:2]))
    if "sockets" in state.aggregates:
        lines.append(_row([None, "%s (sum)" % state.aggregates["sockets"][1].get("reads", "N/A")], columns[:2]))
    return lines + [""]


def render(state: TopState, width: int, height: int) -> List[str]:
    """The screen as at most ``height`` lines of fewer than ``width`` characters."""
    if width < 2 or height < 1:
        return []
    if state.empty:
        lines = ["Circus Top", "-" * min(79, width - 1), "", WAITING]
    else:
        columns = _columns(width)
        lines = ["Circus Top", "-" * min(79, width - 1)]
        watchers = sorted(set(state.processes) | set(state.aggregates))
        for watcher in watchers:
            if watcher != "sockets":
                lines += _watcher_block(state, watcher, columns)
        if "sockets" in watchers:
            lines += _sockets_block(state, columns)
    return [line[: width - 1] for line in lines[:height]]
