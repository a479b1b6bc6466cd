"""circus-top and :class:`StatsClient`, the subscriber side of the stats channel.

``StatsClient`` subscribes to ``stat.`` on circusd-stats' PUB socket and
gives ``(watcher, subtopic or None, stat_dict)`` per message. ``main()`` is
the ``circus-top`` entry point (spec/cli.md §4): a curses screen redrawn
every second from :func:`circus.stats.top.render`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Iterator, Optional, Sequence, Tuple

import zmq

from circus.client_defaults import DEFAULT_ENDPOINT_STATS
from circus.exc import CallError

Stat = Tuple[str, Optional[str], dict]
REFRESH = 1.0


def parse_topic(topic: str) -> Tuple[str, Optional[str]]:
    """``stat.web.1234`` -> ``('web', '1234')``; ``stat.web`` -> ``('web', None)``.

    The subtopic (a pid or an fd) is the last part when it is a number, so a
    watcher name holding dots survives.
    """
    parts = topic.split(".")[1:]
    if len(parts) > 1 and parts[-1].isdigit():
        return ".".join(parts[:-1]), parts[-1]
    return ".".join(parts), None


class StatsClient:
    """A SUB socket on circusd-stats' ``stat.`` topics.

    Iterating blocks and yields ``(watcher, subtopic, stat)``;
    :meth:`receive` waits at most ``timeout`` seconds for one.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT_STATS, ssh_server: Optional[str] = None,
                 context: Optional[zmq.Context] = None, curve_key: Optional[str] = None,
                 server_key: Optional[str] = None) -> None:
        from circus.client import connect

        self.context = context or zmq.Context.instance()
        self.endpoint = endpoint
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"stat.")
        try:
            connect(self.socket, endpoint, ssh_server, curve_key=curve_key, server_key=server_key)
        except BaseException:
            self.socket.close()
            raise

    def receive(self, timeout: Optional[float] = None) -> Optional[Stat]:
        """The next stat, or None if none came within ``timeout`` seconds (None: wait)."""
        while True:
            wait = -1 if timeout is None else max(0, int(timeout * 1000))
            if not self.socket.poll(wait, zmq.POLLIN):
                return None
            frames = self.socket.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                stat = json.loads(frames[1])
            except ValueError:
                continue
            if isinstance(stat, dict):
                watcher, subtopic = parse_topic(frames[0].decode("utf-8", "replace"))
                return watcher, subtopic, stat

    def __iter__(self) -> Iterator[Stat]:
        while True:
            got = self.receive()
            if got is not None:  # always, as receive() waits without a timeout
                yield got

    def stop(self) -> None:
        self.socket.close(linger=0)


# -- circus-top -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Runs Circus Top")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT_STATS, help="circusd-stats' endpoint")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--ssh", default=None, help="ssh server to tunnel through (user@host:port)")
    parser.add_argument("--process-timeout", type=float, default=3.0,
                        help="seconds without news after which a process is dropped (default 3)")
    from circus.curve import add_client_options

    add_client_options(parser)
    return parser


def _draw(screen, state) -> None:
    import curses

    from circus.stats.top import render

    height, width = screen.getmaxyx()
    # erase + noutrefresh/doupdate repaints only what changed: no flicker.
    screen.erase()
    for y, line in enumerate(render(state, width, height)):
        try:
            screen.addstr(y, 0, line)
        except curses.error:
            pass  # the terminal shrank under us; the next resize redraws
    screen.noutrefresh()
    curses.doupdate()


def _top(screen, client: StatsClient, process_timeout: float) -> None:
    import curses

    from circus.stats.top import TopState

    try:
        curses.curs_set(0)
    except curses.error:
        pass  # terminals without cursor visibility control
    screen.nodelay(True)
    state = TopState(process_timeout)
    drawn = 0.0
    while True:
        got = client.receive(timeout=0.1)
        while got is not None:
            state.update(*got, now=time.monotonic())
            got = client.receive(timeout=0)
        key = screen.getch()
        if key in (ord("q"), ord("Q")):
            return
        now = time.monotonic()
        if key == curses.KEY_RESIZE or now - drawn >= REFRESH:
            state.prune(now)
            _draw(screen, state)
            drawn = now


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run circus-top until ``q`` or Ctrl-C; exit 0 with the terminal restored."""
    args = build_parser().parse_args(argv)
    if args.version:
        from circus import __version__

        print(__version__)
        sys.exit(0)
    import curses

    try:
        client = StatsClient(args.endpoint, ssh_server=args.ssh, curve_key=args.curve_key,
                             server_key=args.server_key)
    except CallError as error:
        print("circus-top: %s" % error, file=sys.stderr)
        sys.exit(1)
    # curses would prefer LINES/COLUMNS to the terminal's real size, and they
    # go stale when the window is resized.
    os.environ.pop("LINES", None)
    os.environ.pop("COLUMNS", None)
    # curses learns of a resize through SIGWINCH, but only installs its
    # handler when the signal is at its default: undo an inherited SIG_IGN.
    signal.signal(signal.SIGWINCH, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        curses.wrapper(_top, client, args.process_timeout)
    except KeyboardInterrupt:
        pass
    finally:
        client.stop()
    sys.exit(0)
