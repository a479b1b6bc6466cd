"""circusd-stats: publishes CPU, memory and socket figures of a circusd.

``main()`` is the ``circusd-stats`` entry point (spec/cli.md §3); the work
is done by :class:`circus.stats.streamer.StatsStreamer`. circusd runs it as
the ``circusd-stats`` watcher when ``[circus] statsd = true``.
"""

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Optional, Sequence

from circus import __version__, logger
from circus.curve import add_client_options, add_server_options
from circus.client_defaults import DEFAULT_ENDPOINT_DEALER, DEFAULT_ENDPOINT_STATS, DEFAULT_ENDPOINT_SUB

STOP_SIGNALS = (signal.SIGHUP, signal.SIGQUIT, signal.SIGINT, signal.SIGTERM, signal.SIGWINCH)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Runs the stats aggregator for Circus")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT_DEALER, help="circusd's control endpoint")
    parser.add_argument("--pubsub", default=DEFAULT_ENDPOINT_SUB, help="circusd's event endpoint")
    parser.add_argument("--statspoint", default=DEFAULT_ENDPOINT_STATS, help="endpoint to publish the stats on")
    parser.add_argument("--log-level", dest="loglevel", default="info", help="log level")
    parser.add_argument("--log-output", dest="logoutput", default="-", help="'-', a file, or syslog://...")
    parser.add_argument("--metrics", default=None, metavar="HOST:PORT",
                        help="serve circusd's /metrics, /healthz and /readyz over HTTP there")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--ssh", default=None, help="ssh server to tunnel through (user@host:port)")
    add_client_options(parser)
    add_server_options(parser)
    return parser


async def _serve(args) -> None:
    from circus.stats.streamer import StatsStreamer

    streamer = StatsStreamer(args.endpoint, args.pubsub, args.statspoint, ssh_server=args.ssh,
                             curve_key=args.curve_key, server_key=args.server_key, curve=_curve_server(args))
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, streamer.stop)
    with _metrics_server(args):
        await streamer.run()


def _curve_server(args):
    """The stats channel's CurveZMQ server (circusd's key pair and key dirs), None without keys."""
    if not args.curve_key:
        return None
    from circus.curve import CurveServer

    return CurveServer(args.curve_key, args.curve_authorized_keys, args.curve_readonly_keys)


@contextlib.contextmanager
def _metrics_server(args):
    """With ``--metrics``: circusd's figures (the ``metrics`` command) served over HTTP meanwhile."""
    if not args.metrics:
        yield
        return
    from circus.client import AsyncCircusClient
    from circus.observability import ClientSource, ObservabilityServer

    client = AsyncCircusClient(endpoint=args.endpoint, timeout=5.0, ssh_server=args.ssh,
                               curve_key=args.curve_key, server_key=args.server_key)
    server = ObservabilityServer(ClientSource(client), args.metrics)
    try:
        server.start()
        yield
    finally:
        server.stop()
        client.stop()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run circusd-stats until one of HUP, QUIT, INT, TERM, WINCH, then exit 0.

    Exits (SystemExit) with 1 when the endpoint cannot be bound or the log
    options are wrong: circusd runs us with ``-c``, which ignores a return value.
    """
    sys.exit(_run(build_parser().parse_args(argv)))


def _raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: we keep one /proc file open per process."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # e.g. RLIM_INFINITY refused: the sampler falls back to open/close


def _run(args) -> int:
    if args.version:
        print(__version__)
        return 0
    from circus.logsetup import configure_logger

    try:
        configure_logger(logger, level=args.loglevel, output=args.logoutput, name="circusd-stats")
    except ValueError as exc:
        print("circusd-stats: error: %s" % exc, file=sys.stderr)
        return 1
    if args.metrics:
        from circus.convert import to_listen_address

        try:
            to_listen_address(args.metrics)
        except ValueError as exc:
            print("circusd-stats: error: --metrics: %s" % exc, file=sys.stderr)
            return 1
    import zmq

    from circus.exc import CallError

    _raise_fd_limit()
    try:
        asyncio.run(_serve(args))
    except (OSError, ValueError, CallError, zmq.ZMQError) as exc:
        logger.error("circusd-stats cannot run: %s", exc)
        return 1
    logger.info("circusd-stats stopped")
    return 0
