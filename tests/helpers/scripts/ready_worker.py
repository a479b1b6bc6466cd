"""Test worker of readiness: speaks systemd's notify protocol with its own socket code, serves HTTP.

Flags (see helpers.ReadyWorkers): ``--ready-after=S`` sends READY=1 S seconds
after the start (``--never-ready``: never); ``--watchdog-for=S`` sends
WATCHDOG=1 every 0.1 s for S seconds, then stops; ``--serve=FD`` serves HTTP
on the inherited listening socket FD; ``--listen=PORT`` binds 127.0.0.1:PORT
itself after ``--listen-after=S`` seconds; ``/health`` answers 503 until
``--healthy-after=S`` seconds, then 200; ``--mode-file=PATH`` holding
``broken`` makes it a worker that never gets ready and never serves;
``--extend=USEC`` sends EXTEND_TIMEOUT_USEC=USEC at once, ``--stopping-after=S``
STOPPING=1 after S seconds (it lives on), ``--trigger-after=S``
WATCHDOG=trigger; ``--ready-on=PATH`` sends READY=1 once PATH exists,
``--watchdog-while=PATH`` sends WATCHDOG=1 every 0.1 s while PATH exists. A
SIGTERM stops accepting, finishes the request in hand, then exits 0.
"""
import os, select, signal, socket, sys, threading, time

sys.dont_write_bytecode = True  # leave no __pycache__ beside the scripts
from reporting import marker, opts, pid, read_request, write  # noqa: E402

born = time.monotonic()
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())
signal.signal(signal.SIGINT, lambda *_: stopping.set())


def notify(message):
    name = os.environ["NOTIFY_SOCKET"]
    address = "\0" + name[1:] if name.startswith("@") else name
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


def answer(conn):
    with conn:
        data = read_request(conn)
        if b"\r\n\r\n" not in data:
            return
        if float(opts.get("latency", 0)):
            time.sleep(float(opts["latency"]))
        healthy = time.monotonic() - born >= float(opts.get("healthy-after", 0))
        status = b"200 OK" if healthy or not data.startswith(b"GET /health") else b"503 Starting"
        body = str(pid).encode()
        conn.sendall(b"HTTP/1.0 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (status, len(body), body))


def serve(listener):
    """Answer until SIGTERM; the connection in hand is always finished."""
    listener.setblocking(False)
    while not stopping.is_set():
        if not select.select([listener], [], [], 0.05)[0]:
            continue
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue  # another worker won the accept race
        conn.setblocking(True)
        answer(conn)


broken = "mode-file" in opts and open(opts["mode-file"]).read().strip() == "broken"
write("%s.%d.json" % (marker, pid), {"pid": pid, "argv": sys.argv[1:], "env": dict(os.environ), "broken": broken,
                                      "monotonic": time.monotonic()})
servers = []
if not broken and "serve" in opts:
    servers.append(threading.Thread(target=serve, args=(socket.socket(fileno=int(opts["serve"])),)))
if not broken and "listen" in opts:
    def listen_later():
        stopping.wait(float(opts.get("listen-after", 0)))
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(opts["listen"])))
        listener.listen(64)
        serve(listener)
    servers.append(threading.Thread(target=listen_later))
for thread in servers:
    thread.start()

ready_at = None if broken or "never-ready" in opts or "ready-on" in opts \
    else born + float(opts.get("ready-after", 0))
ready_on = None if broken else opts.get("ready-on")
watchdog_until = born + float(opts.get("watchdog-for", 0))
if "status" in opts:
    notify("STATUS=%s" % opts["status"])
if "extend" in opts:
    notify("EXTEND_TIMEOUT_USEC=%s" % opts["extend"])
stopping_at = born + float(opts["stopping-after"]) if "stopping-after" in opts else None
trigger_at = born + float(opts["trigger-after"]) if "trigger-after" in opts else None
while not stopping.is_set():
    now = time.monotonic()
    if ready_at is not None and now >= ready_at and "NOTIFY_SOCKET" in os.environ:
        notify("READY=1\nSTATUS=serving")
        ready_at = None
    if ready_on is not None and os.path.exists(ready_on):
        notify("READY=1\nSTATUS=serving")
        ready_on = None
    if now < watchdog_until or ("watchdog-while" in opts and os.path.exists(opts["watchdog-while"])):
        notify("WATCHDOG=1")
    if trigger_at is not None and now >= trigger_at:
        notify("WATCHDOG=trigger")
        trigger_at = None
    if stopping_at is not None and now >= stopping_at:
        notify("STOPPING=1")
        stopping_at = None
    stopping.wait(0.1)
for thread in servers:
    thread.join()
os._exit(0)
