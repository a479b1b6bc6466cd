"""circushttpd: the web console of circus, a tornado application.

``main()`` is the ``circushttpd`` entry point. It serves on ``--host`` /
``--port`` (localhost:8080), or on a listening socket inherited as ``--fd``
(how circusd runs it with ``[circus] httpd = true``). With ``--endpoint``
the console starts connected to that circusd.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from typing import List, Optional, Sequence

import tornado.httpserver
import tornado.netutil
import tornado.web

from circus import __version__
from circus.client_defaults import DEFAULT_ENDPOINT_DEALER
from circus.curve import add_client_options
from circus.web import views
from circus.web.auth import DEFAULT_SESSION_TIMEOUT, Auth, LoginHandler, LogoutHandler
from circus.web.controller import Controller
from circus.web.daemons import DaemonsHandler
from circus.web.live import LiveFeed

logger = logging.getLogger("circus.web")

HERE = os.path.dirname(os.path.abspath(__file__))
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)


def make_app(controller: Controller, feed: LiveFeed,
             default_endpoint: str = DEFAULT_ENDPOINT_DEALER,
             in_flight: Optional[views.InFlight] = None,
             endpoints: Sequence[str] = (), auth: Optional[Auth] = None) -> tornado.web.Application:
    """The tornado application of the console (routes, templates, static files, XSRF).

    ``in_flight`` counts the page requests being served (a new one if not given);
    ``endpoints`` are the daemons ``/daemons`` shows side by side; with
    ``auth`` every page but ``/login`` needs a session.
    """
    name = r"([^/]+)"
    logins = [(r"/login", LoginHandler), (r"/logout", LogoutHandler)] if auth is not None else []
    return tornado.web.Application(
        logins + [
            (r"/", views.IndexHandler),
            (r"/connect", views.ConnectHandler),
            (r"/disconnect", views.DisconnectHandler),
            (r"/add", views.AddWatcherHandler),
            (r"/socket", views.LiveSocket),
            (r"/daemons", DaemonsHandler),
            (r"/watchers/%s" % name, views.WatcherHandler),
            (r"/watchers/%s/(toggle|incr|decr|kill)" % name, views.WatcherActionHandler),
        ],
        template_path=os.path.join(HERE, "templates"),
        static_path=os.path.join(HERE, "static"),
        xsrf_cookies=True,
        # Signs the one-shot message cookie only; a restart just loses messages.
        cookie_secret=os.urandom(32).hex(),
        log_function=_log_request,
        controller=controller,
        feed=feed,
        default_endpoint=default_endpoint,
        endpoints=list(endpoints),
        in_flight=in_flight or views.InFlight(),
        auth=auth,
        version=__version__,
    )


def _log_request(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.WARNING
    logger.log(level, "%d %s %.1fms", status, handler._request_summary(),
               1000.0 * handler.request.request_time())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Runs the Circus web console")
    parser.add_argument("--host", default="localhost", help="address to listen on (localhost)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    parser.add_argument("--fd", type=int, default=None,
                        help="serve on this inherited listening socket instead of --host/--port")
    parser.add_argument("--endpoint", action="append", default=None,
                        help="circusd endpoint to connect to at start (else chosen in the page); "
                             "repeat it to see several daemons side by side at /daemons")
    parser.add_argument("--log-level", dest="loglevel", default="info", help="log level")
    parser.add_argument("--log-output", dest="logoutput", default="-", help="'-', a file, or syslog://...")
    parser.add_argument("--ssh", default=None, help="ssh server to tunnel through (user@host:port)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    add_client_options(parser)
    parser.add_argument("--auth", default=None, metavar="PATH",
                        help="password file of user:hash lines: pages need a login (see --hash-password)")
    parser.add_argument("--session-timeout", type=float, default=DEFAULT_SESSION_TIMEOUT, metavar="SECONDS",
                        help="how long a login lasts (default 8 hours)")
    parser.add_argument("--certfile", default=None, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", default=None, help="the private key of --certfile (PEM)")
    parser.add_argument("--hash-password", action="store_true",
                        help="read a password on stdin, print its hash for the --auth file, exit")
    return parser


def _ssl_context(args):
    """The TLS context of --certfile/--keyfile, None without them (ValueError/OSError if unusable)."""
    if not args.certfile and not args.keyfile:
        return None
    if not args.certfile or not args.keyfile:
        raise ValueError("TLS needs both --certfile and --keyfile")
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.certfile, args.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError("cannot load the certificate %s / key %s: %s" % (args.certfile, args.keyfile, exc)) from None
    return context


def _hash_password() -> int:
    """``--hash-password``: a hash of the password read from the terminal (twice) or stdin."""
    from circus.web.auth import hash_password

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("circushttpd: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("circushttpd: an empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def _listen(server: tornado.httpserver.HTTPServer, args) -> List[socket.socket]:
    """Bind (or adopt ``--fd``) and return the listening sockets."""
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
        sock.setblocking(False)
        sockets = [sock]
    else:
        sockets = tornado.netutil.bind_sockets(args.port, address=args.host)
    server.add_sockets(sockets)
    return sockets


def _address(sock: socket.socket, scheme: str = "http") -> str:
    name = sock.getsockname()
    if isinstance(name, tuple):
        host = name[0] if ":" not in name[0] else "[%s]" % name[0]
        return "%s://%s:%d/" % (scheme, host, name[1])
    return "unix:%s" % (name.decode() if isinstance(name, bytes) else name)


async def serve(args: argparse.Namespace) -> None:
    """Run the console until one of INT, TERM, QUIT."""
    endpoints = args.endpoint or []
    tls = _ssl_context(args)
    auth = None
    if args.auth:
        from circus.web.auth import load_users

        auth = Auth(load_users(args.auth), args.session_timeout, secure=tls is not None)
    controller = Controller(ssh_server=args.ssh, curve_key=args.curve_key, server_key=args.server_key)
    if endpoints:
        controller.select(endpoints[0])
    feed = LiveFeed(controller)
    in_flight = views.InFlight()
    app = make_app(controller, feed, default_endpoint=endpoints[0] if endpoints else DEFAULT_ENDPOINT_DEALER,
                   in_flight=in_flight, endpoints=endpoints, auth=auth)
    server = tornado.httpserver.HTTPServer(app, xheaders=True, ssl_options=tls)
    sockets = _listen(server, args)
    logger.info("circushttpd %s listening on %s", __version__, ", ".join(_address(s, "https" if tls else "http") for s in sockets))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    feed.start()
    try:
        await stop.wait()
    finally:
        server.stop()
        await feed.stop()
        # Closing the circusd socket first would cut the answers of the
        # pages being served; each waits for circusd at most its timeout.
        if in_flight.count:
            logger.info("circushttpd stopping: finishing %d requests first", in_flight.count)
        if not await in_flight.wait_idle(controller.timeout + 1.0):
            logger.warning("circushttpd stops with %d requests unanswered", in_flight.count)
        controller.disconnect()
        await server.close_all_connections()


def main(argv: Optional[List[str]] = None) -> None:
    """Run circushttpd; exits 0 on INT/TERM/QUIT, 1 if it cannot listen or log."""
    sys.exit(_run(build_parser().parse_args(argv)))


def _run(args) -> int:
    if args.version:
        print(__version__)
        return 0
    if args.hash_password:
        return _hash_password()
    from circus.logsetup import configure_logger

    try:
        configure_logger(logging.getLogger("circus"), level=args.loglevel, output=args.logoutput,
                         name="circushttpd")
    except ValueError as exc:
        print("circushttpd: error: %s" % exc, file=sys.stderr)
        return 1
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        logger.error("circushttpd cannot listen: %s", exc)
        return 1
    except ValueError as exc:  # a bad --auth file, certificate or key
        logger.error("circushttpd cannot start: %s", exc)
        return 1
    logger.info("circushttpd stopped")
    return 0
