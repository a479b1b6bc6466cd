"""Test worker: report what we see, then behave as asked (see argv flags)."""
import json, os, resource, select, signal, socket, sys, time

opts = {}
for arg in sys.argv[1:]:
    key, _, value = arg.lstrip("-").partition("=")
    opts[key] = value
marker, outdir = opts["marker"], opts["dir"]
pid = os.getpid()


def write(name, payload):
    tmp = os.path.join(outdir, ".%s.tmp" % name)
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.rename(tmp, os.path.join(outdir, name))


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
    # The listening socket is shared with circusd and the other workers and
    # is non-blocking: wait for readability, lose the accept race quietly.
    listener = socket.socket(fileno=int(opts["http"]))
    while True:
        select.select([listener], [], [])
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(4096)
                if not more:
                    break
                data += more
            body = str(pid).encode()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))

while True:
    time.sleep(60)
