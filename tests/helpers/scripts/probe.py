"""Spine probe: report what this process sees, record signals, maybe serve HTTP (see helpers.Probe)."""
import os, resource, signal, socket, sys, time

sys.dont_write_bytecode = True  # leave no __pycache__ beside the scripts
import reporting  # noqa: E402
from reporting import marker, opts, pid, write  # noqa: E402


got = []


def on_signal(signum, frame):
    got.append(signum)
    write("%s.%d.signals" % (marker, pid), got)
    if signum != signal.SIGHUP:
        os._exit(0)


for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(sig, on_signal)


def describe(fd):
    info = {"target": os.readlink("/proc/self/fd/%d" % fd), "blocking": os.get_blocking(fd)}
    if info["target"].startswith("socket:"):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            info["family"] = int(sock.family)
            info["device"] = sock.getsockopt(socket.SOL_SOCKET, 25, 16).rstrip(b"\0").decode()
            try:
                info["address"] = list(sock.getsockname())[:2]
            except OSError:
                pass
        finally:
            sock.close()
    return info


fds = {}
for name in os.listdir("/proc/self/fd"):
    try:
        fds[name] = describe(int(name))
    except OSError:
        pass  # the fd of the listing itself
with open("/proc/self/cmdline", "rb") as f:
    argv0 = f.read().split(b"\0")[0].decode()
limits = {name: list(resource.getrlimit(getattr(resource, "RLIMIT_" + name.upper())))
          for name in ("core", "fsize", "nofile")}
write("%s.%d.json" % (marker, pid), {
    "pid": pid, "argv0": argv0, "prefix": sys.prefix, "path": sys.path,
    "env": dict(os.environ), "uid": os.getuid(), "gid": os.getgid(),
    "groups": sorted(os.getgroups()), "limits": limits, "fds": fds,
    "monotonic": time.monotonic(),
})

if "serve" in opts:
    reporting.serve_http(int(opts["serve"]))
while True:
    time.sleep(60)
