"""Test worker: report what we see, then behave as asked (see argv flags, helpers.Workers)."""
import os, resource, signal, sys, time

sys.dont_write_bytecode = True  # leave no __pycache__ beside the scripts
import reporting  # noqa: E402
from reporting import marker, opts, pid, write  # noqa: E402


def open_fds():
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass  # the fd of the listing itself, closed by now
    return {fd: t for fd, t in fds.items() if not t.startswith("/proc/")}


def on_term(signum, frame):
    if "record-stop" in opts:
        write("%s.%d.stopped" % (marker, pid), {"pid": pid, "time": time.time(),
              "monotonic": time.monotonic(), "signal": signum})
    if "ignore-term" in opts:
        return
    os._exit(0)


fds = open_fds()
umask = os.umask(0)
os.umask(umask)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

grandchild = None
if "fork-child" in opts:
    grandchild = os.fork()
    if grandchild == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            time.sleep(60)

if "spew" in opts:
    chunk = b"x" * 65535 + b"\n"
    left = int(opts["spew"])
    while left > 0:
        left -= os.write(1, chunk[:left])

report = {
    "pid": pid, "ppid": os.getppid(), "argv": sys.argv[1:], "wid": opts.get("wid"),
    "env": dict(os.environ), "cwd": os.getcwd(), "umask": umask, "fds": fds,
    "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    "uid": os.getuid(), "gid": os.getgid(), "time": time.time(),
    "monotonic": time.monotonic(), "grandchild": grandchild,
    "pgid": os.getpgid(0), "sid": os.getsid(0),
}
write("%s.%d.json" % (marker, pid), report)

if "exit" in opts:
    os._exit(int(opts["exit"]))

if "http" in opts:
    reporting.serve_http(int(opts["http"]))

while True:
    time.sleep(60)
