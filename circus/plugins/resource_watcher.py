"""ResourceWatcher: restart a watcher whose processes use too much (or too little).

Every ``loop_rate`` seconds the plugin reads ``stats`` of ``watcher`` and
checks its busiest (and idlest) process against ``max_cpu``/``min_cpu``
(percent) and ``max_mem``/``min_mem`` (percent of RAM, or a size such as
``512M``/``1G`` of resident memory), and the health figure
``(cpu% + mem%) / 2`` against ``health_threshold``. A limit broken on more
than ``max_count`` consecutive checks restarts the watcher. With
``process_children``, each child of a process is checked the same way on
its own and sent ``child_signal`` instead.
"""

import logging
from typing import Any, Sequence

from circus.convert import human2bytes, to_bool, to_signum
from circus.exc import CallError
from circus.plugins import CircusPlugin

logger = logging.getLogger("circus.plugins.resource_watcher")


def parse_mem(value: object) -> tuple[str, float] | None:
    """``'90'``/``'90%'`` -> ``('pct', 90.0)``; ``'1G'`` -> ``('bytes', 1073741824)``; None stays None."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return ("pct", float(text.rstrip("%")))
    except ValueError:
        return ("bytes", human2bytes(text))


def _optional_float(value):
    return None if value is None or str(value).strip() == "" else float(value)


def _rss(info):
    try:
        return human2bytes(info.get("mem_info1"))
    except ValueError:
        return None


def _number(value):
    return value if isinstance(value, (int, float)) else None


def broken_limits(infos: list[dict[str, Any]], limits: dict[str, Any]) -> list[str]:
    """Names of the limits broken by the processes ``infos`` (a list of info dicts)."""
    cpus = [c for c in (_number(i.get("cpu")) for i in infos) if c is not None]
    pcts = [m for m in (_number(i.get("mem")) for i in infos) if m is not None]
    rss = [r for r in (_rss(i) for i in infos) if r is not None]
    broken = []
    if cpus and limits["max_cpu"] is not None and max(cpus) > limits["max_cpu"]:
        broken.append("max_cpu")
    if cpus and limits["min_cpu"] is not None and min(cpus) < limits["min_cpu"]:
        broken.append("min_cpu")
    for key, pick in (("max_mem", max), ("min_mem", min)):
        limit = limits[key]
        if limit is None:
            continue
        kind, amount = limit
        values = pcts if kind == "pct" else rss
        if values and (pick(values) > amount if pick is max else pick(values) < amount):
            broken.append(key)
    if limits["health_threshold"] is not None and cpus and pcts:
        if max((c + m) / 2 for c, m in zip(cpus, pcts)) > limits["health_threshold"]:
            broken.append("health_threshold")
    return broken


class ResourceWatcher(CircusPlugin):
    """Options: watcher (or deprecated service), loop_rate, max_cpu, min_cpu,
    max_mem, min_mem, health_threshold, max_count, process_children, child_signal."""

    name = "resource_watcher"

    def configure(self, config: dict[str, Any]) -> None:
        self.watcher = config.get("watcher")
        if self.watcher is None and config.get("service") is not None:
            logger.warning("resource_watcher: 'service' is deprecated, use 'watcher = %s'", config["service"])
            self.watcher = config["service"]
        if not self.watcher:
            raise ValueError("resource_watcher: 'watcher' is required (the name of the watcher to check)")
        self.loop_rate = float(config.get("loop_rate", 60))
        self.max_count = int(config.get("max_count", 3))
        self.limits = {
            "max_cpu": _optional_float(config.get("max_cpu", 90)),
            "min_cpu": _optional_float(config.get("min_cpu")),
            "max_mem": parse_mem(config.get("max_mem", 90)),
            "min_mem": parse_mem(config.get("min_mem")),
            "health_threshold": _optional_float(config.get("health_threshold", 75)),
        }
        self.process_children = to_bool(config.get("process_children", False))
        self.child_signal = to_signum(config.get("child_signal", 15))
        self.counts: dict[str, int] = {}  # limit -> consecutive checks broken
        # (pid, child pid) -> {limit: consecutive checks broken}
        self.child_counts: dict[tuple[int, int], dict[str, int]] = {}

    def handle_init(self) -> None:
        self.periodic(self.look_after_watcher, self.loop_rate)

    def handle_recv(self, data: Sequence[bytes]) -> None:
        """Events are not used: the limits are checked every ``loop_rate``."""

    async def look_after_watcher(self) -> None:
        try:
            reply = await self.acall("stats", name=self.watcher)
        except CallError as exc:
            logger.warning("%s", exc)
            return
        if reply.get("status") != "ok":
            logger.warning("resource_watcher: stats of %r failed: %s", self.watcher, reply.get("reason"))
            return
        infos = {int(pid): info for pid, info in (reply.get("info") or {}).items() if isinstance(info, dict)}
        self._check_watcher(list(infos.values()))
        if self.process_children:
            self._check_children(infos)

    def _check_watcher(self, infos):
        broken = broken_limits(infos, self.limits) if infos else []
        self.counts = {limit: self.counts.get(limit, 0) + 1 for limit in broken}
        over = sorted(limit for limit, count in self.counts.items() if count > self.max_count)
        if over:
            logger.warning("%s: %s broken on %d checks in a row, restarting it",
                           self.watcher, ", ".join(over), self.max_count + 1)
            self.counts = {}
            self.cast("restart", name=self.watcher)

    def _check_children(self, infos):
        seen = {}
        for pid, info in infos.items():
            for child in info.get("children") or []:
                key = (pid, child.get("pid"))
                previous = self.child_counts.get(key, {})
                counts = {limit: previous.get(limit, 0) + 1 for limit in broken_limits([child], self.limits)}
                if any(count > self.max_count for count in counts.values()):
                    logger.warning("%s[%d]: child %s broke its limits, sending signal %d",
                                   self.watcher, pid, key[1], self.child_signal)
                    self.cast("signal", name=self.watcher, pid=pid, childpid=key[1], signum=self.child_signal)
                    counts = {}
                seen[key] = counts
        self.child_counts = seen
