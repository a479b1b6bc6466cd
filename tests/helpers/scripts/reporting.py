"""What the test scripts share: their options, their report files, a tiny HTTP server.

``opts``: the ``--key=value`` and ``--flag`` arguments (a flag's value is
""); every script gets ``--marker`` (its reports' prefix) and ``--dir``
(where they go).
"""

import json
import os
import select
import socket
import sys

opts = dict(arg.lstrip("-").partition("=")[::2] for arg in sys.argv[1:])
marker, outdir = opts["marker"], opts["dir"]
pid = os.getpid()


def write(name, payload):
    """Write ``payload`` as JSON to ``<dir>/name`` at once (through a rename)."""
    tmp = os.path.join(outdir, ".%s.tmp" % name)
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.rename(tmp, os.path.join(outdir, name))


def read_request(conn):
    """The head of one HTTP request on ``conn`` (what came before the peer closed, at worst)."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(4096)
        if not more:
            break
        data += more
    return data


def serve_http(fd):
    """Answer every GET on the listening socket ``fd`` with this process's pid; never returns.

    The listening socket is shared with circusd and the other workers and
    is non-blocking: wait for readability, lose the accept race quietly.
    """
    listener = socket.socket(fileno=fd)
    body = str(os.getpid()).encode()
    while True:
        select.select([listener], [], [])
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        with conn:
            read_request(conn)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))
