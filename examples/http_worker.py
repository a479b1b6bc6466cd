"""A pre-fork HTTP worker for circus demos (standard library only).

Usage: ``http_worker.py [--fd] N``, where N is a listening socket inherited
from circusd (``$(circus.sockets.NAME)`` in the watcher's cmd, with
``use_sockets = true``). Several workers accept on the same socket; each
answers ``GET /`` with its own pid, so repeated requests show the load
spread. SIGTERM (circus' stop signal) makes the worker finish the request
at hand and exit 0.
"""

import argparse
import http.server
import os
import selectors
import signal
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the pid of the worker that accepted it."""

    def do_GET(self):
        body = ("hello from pid %d\n" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("http_worker[%d] %s\n" % (os.getpid(), format % args))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fd_option", nargs="?", type=int, help="inherited socket fd")
    parser.add_argument("--fd", type=int, help="inherited socket fd")
    args = parser.parse_args(argv)
    fd = args.fd if args.fd is not None else args.fd_option
    if fd is None:
        parser.error("give the listening socket's fd: http_worker.py --fd N")
    return fd


def serve(listener, stop_fd):
    """Accept and answer connections until a byte arrives on ``stop_fd``."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(stop_fd, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj == stop_fd:
                return
            try:
                conn, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another worker took this connection
            conn.settimeout(10)
            try:
                Handler(conn, address, None)
            except OSError as exc:
                sys.stderr.write("http_worker[%d] %s\n" % (os.getpid(), exc))
            finally:
                conn.close()


def main(argv=None):
    fd = parse_args(sys.argv[1:] if argv is None else argv)
    listener = socket.socket(fileno=fd)
    # The listening socket is shared with the other workers: never block in
    # accept(), the connection may already be gone to a sibling.
    listener.setblocking(False)
    # A signal writes a byte to this pipe, waking select() at once.
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_w, False)
    signal.set_wakeup_fd(stop_w)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, lambda *_: None)
    print("http_worker[%d] serving on fd %d" % (os.getpid(), fd), flush=True)
    serve(listener, stop_r)
    print("http_worker[%d] stopping" % os.getpid(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
