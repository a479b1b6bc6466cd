"""circusd: run an arbiter from an ini file."""

import argparse
import os
import resource
import sys
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from circus import __version__, activation, logger, pid1
from circus.exc import ConfigError
from circus.pidfile import Pidfile, PidfileInUse
from circus.sdnotify import Supervisor

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run circus.")
    parser.add_argument("config", nargs="?", help="configuration file")
    parser.add_argument(
        "--log-level",
        dest="loglevel",
        type=str.lower,
        choices=LOG_LEVELS,
        help="log level (beats [circus] loglevel; default info)",
    )
    parser.add_argument(
        "--log-output",
        dest="logoutput",
        help="'-' for stdout, a file path, or syslog://host[:port]?facility",
    )
    parser.add_argument(
        "--logger-config", dest="loggerconfig", help="a logging config file (.ini, .json, .yaml)"
    )
    parser.add_argument("--daemon", action="store_true", help="run in the background")
    parser.add_argument("--pidfile", help="file holding circusd's pid")
    parser.add_argument("--init", action="store_true",
                        help="act as a container's init (automatic when circusd is pid 1)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--check-config", action="store_true",
                        help="read the configuration file, build its watchers and sockets (nothing is "
                             "bound or started), then exit; what an upgrade checks first")
    # Given by circusd to itself when it re-executes (circus.upgrade).
    parser.add_argument("--adopt-state", help=argparse.SUPPRESS)
    return parser


def fail(message: str, notify: "DaemonNotifier | None" = None) -> NoReturn:
    """One line on stderr (or to the waiting parent of a daemon), exit 1."""
    if notify is not None:
        notify.error(message)
    print("circusd: error: %s" % message, file=sys.stderr)
    sys.exit(1)


class DaemonNotifier:
    """Tells the foreground parent of ``--daemon`` whether the start worked."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def _send(self, text):
        if self.fd is None:
            return
        try:
            os.write(self.fd, text.encode("utf-8", "replace"))
        finally:
            os.close(self.fd)
            self.fd = None

    def ready(self, arbiter: "Arbiter | None" = None) -> None:
        self._send("ok")

    def error(self, message: str) -> None:
        self._send("error: %s" % message)


def daemonize() -> DaemonNotifier:
    """Detach (double fork, setsid); the parent exits with the daemon's start status."""
    read_fd, write_fd = os.pipe()
    if os.fork() > 0:
        os.close(write_fd)
        chunks = []
        while True:
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        status = b"".join(chunks).decode("utf-8", "replace")
        if status == "ok":
            os._exit(0)
        print("circusd: %s" % (status or "error: the daemon died while starting"), file=sys.stderr)
        os._exit(1)
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    return DaemonNotifier(write_fd)


def raise_fd_limit() -> None:
    """Supervising many workers takes many fds: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def configure_logging(args: argparse.Namespace, circus_cfg: dict[str, Any]) -> None:
    from circus.logsetup import configure_logger

    configure_logger(
        logger,
        level=args.loglevel or circus_cfg["loglevel"],
        output=args.logoutput or circus_cfg["logoutput"],
        loggerconfig=args.loggerconfig or circus_cfg["loggerconfig"],
    )


def load(config_file: str) -> dict:
    from circus.config import get_config

    return get_config(config_file)


def build(cfg: dict, notify: DaemonNotifier | None = None) -> "Arbiter":
    """The arbiter of ``cfg``, not started; exits with the reason if it cannot be built."""
    from circus.arbiter import Arbiter

    try:
        return Arbiter.from_config(cfg)
    except (ValueError, KeyError, ImportError, OSError) as exc:
        fail(str(exc), notify)


def check(cfg: dict) -> int:
    """``--check-config``: build everything the configuration describes, bind nothing."""
    arbiter = build(cfg)
    arbiter.sockets.close_all()
    print("circusd: %s: ok (%d watchers, %d sockets)" % (cfg.get("config_file"), len(arbiter.watchers),
                                                        len(arbiter.sockets)))
    return 0


def run(args: argparse.Namespace, cfg: dict, notify: DaemonNotifier | None,
        supervisor: Supervisor | None = None, adopted: dict | None = None) -> None:
    """Build the arbiter of ``cfg`` and run it until it stops (telling ``supervisor``);
    with ``adopted`` (an upgrade's state) it takes over the processes of the image before."""
    arbiter = build(cfg, notify)
    if adopted is not None:
        from circus import upgrade

        upgrade.prepare(arbiter, adopted)
    if args.pidfile:
        arbiter.pidfile = args.pidfile
    arbiter.proc_name = "circusd"
    if supervisor is not None:
        arbiter.supervisor = supervisor
    arbiter.init_mode = pid1.wanted(args.init)
    if arbiter.init_mode:
        logger.info("init mode: circusd reaps and, at exit, stops every process it adopts")
    try:
        arbiter.start(cb=notify.ready if notify else None)
    except (OSError, PidfileInUse) as exc:
        fail(str(exc), notify)


def main(argv: Sequence[str] | None = None) -> int:
    # Sockets passed by a supervisor are fds 3, 4, ...: take them before
    # anything else opens a file.
    activation.claim()
    # Likewise NOTIFY_SOCKET and WATCHDOG_*: they are circusd's, not its workers'.
    supervisor = Supervisor()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(__version__)
        return 0
    if args.config is None:
        parser.print_usage()
        return 0
    if args.adopt_state:
        return adopt(args, supervisor)
    try:
        cfg = load(args.config)
        if args.check_config:
            return check(cfg)
        pidfile = args.pidfile or cfg["circus"]["pidfile"]
        if pidfile:
            Pidfile(pidfile).check()
            args.pidfile = pidfile
        configure_logging(args, cfg["circus"])
    except (ConfigError, PidfileInUse, ValueError) as exc:
        fail(str(exc))
    notify = daemonize() if args.daemon else None
    raise_fd_limit()
    set_title()
    run(args, cfg, notify, supervisor)
    return 0


def set_title() -> None:
    try:
        from setproctitle import setproctitle

        setproctitle("circusd")
    except ImportError:
        pass


def adopt(args: argparse.Namespace, supervisor: Supervisor) -> int:
    """circusd re-executed by an upgrade: take over from the image before (circus.upgrade).

    Whatever fails here, no process of the image before is left running
    unsupervised: those not taken over are stopped before circusd exits.
    """
    from circus import upgrade

    try:
        state = upgrade.claim(args.adopt_state)
    except ValueError as exc:
        fail(str(exc))
    try:
        cfg = upgrade.config_of(state, lambda: load(args.config))
        if args.pidfile or cfg["circus"]["pidfile"]:
            args.pidfile = args.pidfile or cfg["circus"]["pidfile"]
        configure_logging(args, cfg["circus"])
        logger.info("upgrade: circusd %s takes over (pid %d)", __version__, os.getpid())
        set_title()
        run(args, cfg, None, supervisor, adopted=state)
    except BaseException as exc:
        if not isinstance(exc, SystemExit) or exc.code:
            logger.error("upgrade: the new circusd cannot run: %s", exc)
            upgrade.abandon(state)
        if isinstance(exc, (ConfigError, ValueError)):
            fail(str(exc))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
