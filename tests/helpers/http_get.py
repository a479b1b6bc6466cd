"""One HTTP GET, over TCP or a unix socket; the body returned."""

import http.client
import socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.unix_path))
        self.sock = sock


def _get(conn, url):
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        assert response.status == 200, response.status
        return response.read().decode()
    finally:
        conn.close()


def http_get_unix(path, url="/", timeout=10):
    """GET ``url`` over the unix socket at ``path``; return the body."""
    return _get(_UnixHTTPConnection(path, timeout), url)


def http_get_tcp(host, port, url="/", timeout=10):
    """GET ``url`` from ``host:port``; return the body."""
    return _get(http.client.HTTPConnection(host, port, timeout=timeout), url)
