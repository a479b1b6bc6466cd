"""Statsd plugins: circus events and process figures as statsd metrics over UDP.

Every metric is named under the prefix ``circus.<application_name>.watcher``.
``StatsdEmitter`` counts each event as ``<prefix>.<watcher>.<event>``;
``FullStats`` also sends, every ``loop_rate`` seconds, gauges
``<prefix>._stats.<watcher>.<figure>`` for watchers_num, cpu_max, cpu_sum,
mem_pct_max, mem_pct_sum, mem_max and mem_sum (bytes).
"""

import random
import re
import socket
from typing import Any, Sequence

from circus.convert import human2bytes
from circus.exc import CallError
from circus.plugins import CircusPlugin

# Characters with a meaning in the statsd line protocol (name:value|type|@rate).
_UNSAFE = re.compile(r"[:|@\s/]")


def metric_name(*parts: object) -> str:
    """Dotted statsd metric name; protocol characters in ``parts`` become ``_``."""
    return ".".join(_UNSAFE.sub("_", str(part)) for part in parts)


class StatsdClient:
    """Sends statsd lines (``name:value|type[|@rate]``) to ``host:port`` over UDP.

    ``sample_rate`` < 1 sends that fraction of the increments, marked with
    ``@rate`` so the server scales them back. Send errors are dropped: statsd
    is best effort, a missing server must not hurt.
    """

    def __init__(
        self, host: str = "localhost", port: int | str = 8125, prefix: str = "circus",
        sample_rate: float | str = 1.0,
    ) -> None:
        self.address = (host, int(port))
        self.prefix = prefix
        self.sample_rate = float(sample_rate)
        family = socket.getaddrinfo(host, int(port), 0, socket.SOCK_DGRAM)[0][0]
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        self.socket.setblocking(False)

    def send(self, name: str, value: float, kind: str, rate: float = 1.0) -> None:
        if rate < 1.0:
            if random.random() > rate:
                return
            line = "%s.%s:%s|%s|@%s" % (self.prefix, name, value, kind, rate)
        else:
            line = "%s.%s:%s|%s" % (self.prefix, name, value, kind)
        try:
            self.socket.sendto(line.encode("utf-8"), self.address)
        except OSError:
            pass

    def increment(self, name: str, count: int = 1) -> None:
        self.send(name, count, "c", self.sample_rate)

    def decrement(self, name: str, count: int = 1) -> None:
        self.send(name, -count, "c", self.sample_rate)

    def gauge(self, name: str, value: float) -> None:
        self.send(name, value, "g")

    def timed(self, name: str, milliseconds: float) -> None:
        self.send(name, milliseconds, "ms", self.sample_rate)

    def stop(self) -> None:
        self.socket.close()


class StatsdEmitter(CircusPlugin):
    """Count circus events in statsd: host, port, sample_rate, application_name."""

    name = "statsd"

    def configure(self, config: dict[str, Any]) -> None:
        self.app = config.get("application_name", "app")
        self.statsd = StatsdClient(
            host=config.get("host", "localhost"),
            port=int(config.get("port", 8125)),
            prefix=metric_name("circus", self.app, "watcher"),
            sample_rate=float(config.get("sample_rate", 1.0)),
        )

    def handle_recv(self, data: Sequence[bytes]) -> None:
        watcher, action, _ = self.split_data(data)
        self.statsd.increment(metric_name(watcher, action))

    def handle_stop(self) -> None:
        self.statsd.stop()


class FullStats(StatsdEmitter):
    """StatsdEmitter plus per-watcher process gauges every ``loop_rate`` (60) seconds."""

    name = "full_stats"

    def configure(self, config: dict[str, Any]) -> None:
        super().configure(config)
        self.loop_rate = float(config.get("loop_rate", 60))

    def handle_init(self) -> None:
        self.periodic(self.send_stats, self.loop_rate)

    async def send_stats(self) -> None:
        try:
            reply = await self.acall("stats")
        except CallError as exc:
            self.logger.warning("%s", exc)
            return
        for watcher, infos in (reply.get("infos") or {}).items():
            if watcher.startswith("plugin:"):
                continue
            for figure, value in watcher_figures(infos).items():
                self.statsd.gauge(metric_name("_stats", watcher, figure), value)


def watcher_figures(infos: dict[str, Any]) -> dict[str, float]:
    """Gauges of one watcher from its ``stats`` infos ``{pid: info}``; "N/A" values skipped."""
    cpus, mems, rss = [], [], []
    for info in infos.values():
        if not isinstance(info, dict):
            continue
        if isinstance(info.get("cpu"), (int, float)):
            cpus.append(info["cpu"])
        if isinstance(info.get("mem"), (int, float)):
            mems.append(info["mem"])
        rss_text = info.get("mem_info1")
        if isinstance(rss_text, str):
            try:
                rss.append(human2bytes(rss_text))
            except ValueError:
                pass
    return {
        "watchers_num": len(infos),
        "cpu_max": max(cpus, default=0),
        "cpu_sum": sum(cpus),
        "mem_pct_max": max(mems, default=0),
        "mem_pct_sum": sum(mems),
        "mem_max": max(rss, default=0),
        "mem_sum": sum(rss),
    }
