"""CurveZMQ for circus' channels: key files, the server side and the ZAP gate.

A key pair is two files written by pyzmq's helpers: ``NAME.key`` (public)
and ``NAME.key_secret`` (public and secret, mode 0600). circusd's
``curve_secret_key`` makes its control ROUTER, its event PUB and the stats
PUB CurveZMQ servers; a client gets in only when its public key is one of
the ``*.key`` files of ``curve_authorized_keys`` (full access) or of
``curve_readonly_keys`` (read commands only). The gate is pyzmq's ZAP
authenticator running on the asyncio loop of the process that binds; it
names each client by its key file's stem, which ZeroMQ hands to circusd as
the ``User-Id`` of every message the client sends.

circusd's own key pair is always let in, with full access, as ``circusd``:
the helpers circusd runs (circusd-stats, the web console, the plugins) use
it, given ``--curve-key`` and ``--server-key`` on their command lines.
"""

from __future__ import annotations

import asyncio

import logging
import os
from typing import Any

import zmq

logger = logging.getLogger("circus.curve")

ZAP_DOMAIN = "circus"
SELF_NAME = "circusd"  # the User-Id of circusd's own key pair


class KeyError_(ValueError):
    """A key file or directory that cannot be used; the message says why."""


def keygen(directory: str, name: str = "client") -> tuple[str, str]:
    """Write ``NAME.key`` and ``NAME.key_secret`` (mode 0600) in ``directory``.

    The directory is made (mode 0700) when missing. Returns both paths.
    """
    import zmq.auth

    if not name or os.sep in name or name.startswith("."):
        raise KeyError_("invalid key name %r: use a plain file name" % name)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    old = os.umask(0o077)  # the secret file is never readable by others, not even briefly
    try:
        public, secret = zmq.auth.create_certificates(directory, name)
    finally:
        os.umask(old)
    os.chmod(secret, 0o600)
    os.chmod(public, 0o644)
    return public, secret


def _read(path: str, what: str) -> dict[str, Any]:
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise KeyError_("cannot read the %s %s: %s" % (what, path, reason)) from None
    return {"public": public, "secret": secret}


def load_secret(path: str, what: str = "CurveZMQ secret key") -> tuple[bytes, bytes]:
    """``(public, secret)`` z85 keys of a ``.key_secret`` file; KeyError_ naming it otherwise."""
    keys = _read(path, what)
    if not keys["secret"]:
        raise KeyError_("cannot read the %s %s: it holds no secret key (give the .key_secret file)" % (what, path))
    return keys["public"], keys["secret"]


def load_public(path: str, what: str = "CurveZMQ server key") -> bytes:
    """The z85 public key of a ``.key`` (or ``.key_secret``) file."""
    public = _read(path, what)["public"]
    if not public:
        raise KeyError_("cannot read the %s %s: no public key in it" % (what, path))
    return public


def load_key_dir(directory: str, what: str) -> dict[bytes, str]:
    """``{z85 public key: name}`` of the ``*.key`` files of ``directory``."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as error:
        raise KeyError_("cannot read %s %s: %s" % (what, directory, error.strerror)) from None
    keys = {}
    for filename in names:
        if filename.endswith(".key"):
            keys[load_public(os.path.join(directory, filename), "public key")] = filename[: -len(".key")]
    return keys


def exposed(endpoint: str) -> bool:
    """True for a ``tcp://`` endpoint on an address other hosts may reach."""
    import ipaddress

    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rpartition(":")[0].strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # "*", an interface or a host name: take it as reachable


# -- the client side ----------------------------------------------------------------


def client_keys(curve_key: str | None, server_key: str | None) -> tuple[bytes, bytes, bytes] | None:
    """``(public, secret, server public)`` for a client, None without keys.

    Both paths or neither: one alone is a KeyError_ saying which is missing.
    """
    if not curve_key and not server_key:
        return None
    if not curve_key or not server_key:
        missing = "--curve-key" if not curve_key else "--server-key"
        raise KeyError_("CurveZMQ needs both --curve-key and --server-key; %s is missing" % missing)
    public, secret = load_secret(curve_key, "CurveZMQ client key")
    return public, secret, load_public(server_key)


def secure_client(socket: zmq.Socket, keys: tuple[bytes, bytes, bytes] | None) -> None:
    """Make ``socket`` (not yet connected) a CurveZMQ client with ``keys``."""
    if keys is None:
        return
    public, secret, server = keys
    socket.curve_publickey = public
    socket.curve_secretkey = secret
    socket.curve_serverkey = server


def client_args(curve_key: str | None, server_key: str | None) -> list[str]:
    """The command-line options that hand a key pair to a client."""
    if not curve_key:
        return []
    return ["--curve-key", curve_key, "--server-key", server_key or curve_key]


def add_client_options(parser: Any) -> None:
    """``--curve-key`` and ``--server-key`` on an argparse parser of a client program."""
    parser.add_argument("--curve-key", dest="curve_key", default=None,
                        help="CurveZMQ: this client's .key_secret file (see circusctl keygen)")
    parser.add_argument("--server-key", dest="server_key", default=None,
                        help="CurveZMQ: the public .key file of circusd's curve_secret_key")


def add_server_options(parser: Any) -> None:
    """The options of a program that binds a channel of circusd's (circusd-stats)."""
    parser.add_argument("--curve-authorized-keys", dest="curve_authorized_keys", default=None,
                        help="CurveZMQ: directory of the public keys let in (with --curve-key)")
    parser.add_argument("--curve-readonly-keys", dest="curve_readonly_keys", default=None,
                        help="CurveZMQ: directory of the read-only public keys let in (with --curve-key)")


# -- the server side ----------------------------------------------------------------


class CurveServer:
    """circusd's keys and the keys it lets in; ``None`` from :meth:`of` when Curve is off.

    Every key file and directory is read at construction: a missing or
    unreadable one is a KeyError_ (a ValueError) whose message names it.
    """

    def __init__(self, secret_key: str, authorized_keys: str | None = None,
                 readonly_keys: str | None = None) -> None:
        self.secret_key_path = secret_key
        self.authorized_keys_path = authorized_keys
        self.readonly_keys_path = readonly_keys
        self.public, self.secret = load_secret(secret_key, "curve_secret_key file")
        full = load_key_dir(authorized_keys, "curve_authorized_keys") if authorized_keys else {}
        readonly = load_key_dir(readonly_keys, "curve_readonly_keys") if readonly_keys else {}
        both = set(full.values()) & set(readonly.values())
        if both:
            raise KeyError_("key name %s is both in curve_authorized_keys and curve_readonly_keys"
                            % ", ".join(sorted(both)))
        self.clients: dict[bytes, str] = {**full, **readonly, self.public: SELF_NAME}
        self.readonly_names = frozenset(readonly.values()) - {SELF_NAME}
        self._gate: Any = None  # circus.zap.Gate, from start()
        self._handler: Any = None  # the task of a stopped gate, until stopped()
        self._watches: list[Any] = []  # circus.zap.HandshakeWatch of each secured socket

    @classmethod
    def of(cls, settings: Any) -> CurveServer | None:
        """From an object with the ``curve_*`` attributes (an Arbiter), None when off."""
        path = getattr(settings, "curve_secret_key", None)
        dirs = [key for key in ("curve_authorized_keys", "curve_readonly_keys") if getattr(settings, key, None)]
        if not path and dirs:
            # Key directories without a server key would leave every channel open.
            raise KeyError_("%s needs curve_secret_key (circusd's key pair)" % dirs[0])
        if not path:
            return None
        return cls(path, getattr(settings, "curve_authorized_keys", None),
                   getattr(settings, "curve_readonly_keys", None))

    def secure(self, socket: zmq.Socket, what: str = "channel") -> None:
        """Make ``socket`` (before its bind) a CurveZMQ server checked by the gate.

        On a running loop, the clients refused before the gate (no key, the
        wrong server key) are logged too, naming ``what``.
        """
        socket.curve_server = True
        socket.curve_publickey = self.public
        socket.curve_secretkey = self.secret
        socket.zap_domain = ZAP_DOMAIN.encode()
        if self._gate is not None:
            from circus.zap import HandshakeWatch

            self._watches.append(HandshakeWatch(socket, what))

    def is_readonly(self, user_id: str | None) -> bool:
        return user_id in self.readonly_names

    def start(self, context: zmq.Context) -> None:
        """Start the ZAP gate on ``context`` and the running asyncio loop (once)."""
        if self._gate is None:
            import zmq.asyncio

            from circus.zap import Gate

            self._gate = Gate(zmq.asyncio.Context.shadow(context.underlying), self.clients)
            self._gate.start()

    def stop(self) -> None:
        for watch in self._watches:
            watch.close()
        self._watches = []
        if self._gate is not None:
            # The gate's reader task ends on the loop's next turns; see stopped().
            self._handler = getattr(self._gate, "_AsyncioAuthenticator__task", None)
            self._gate.stop()
            self._gate = None

    async def stopped(self) -> None:
        """Wait until the stopped gate's task has let go of its socket's fd.

        Its poller removes its reader only once the cancellation is run: a
        gate (or any socket) started before would get the same fd number and
        lose its reader to that late removal.
        """
        handler, self._handler = self._handler, None
        if handler is not None:
            await asyncio.gather(handler, return_exceptions=True)
            await asyncio.sleep(0)  # the done callbacks of the poll's future

    def helper_args(self, server: bool = False) -> list[str]:
        """What circusd hands its helpers: its own key pair, as client and server key.

        ``server``: also the key directories, for a helper binding a channel
        of its own that the same clients may use (circusd-stats).
        """
        args = client_args(self.secret_key_path, self.secret_key_path)
        if server:
            for option, path in (("--curve-authorized-keys", self.authorized_keys_path),
                                 ("--curve-readonly-keys", self.readonly_keys_path)):
                if path:
                    args += [option, path]
        return args
