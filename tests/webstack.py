"""The web stack the reload tests and benchmarks/bench_reload.py run under circusd.

Each server answers every request after 20 ms of work; ``SERVERS`` maps its
name to ``(arguments after the interpreter, app module source)``: the app is
written to ``app.py`` in the watcher's working directory.
"""

ASGI_APP = '''
import asyncio

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.02)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
'''

# ASGI_APP, telling circusd READY=1 from its lifespan startup (which uvicorn
# runs before it serves) -- unless the file ``mode`` beside it says
# ``broken`` (it serves, never ready), or says ``starts YYN...``: then the
# k-th start from now (counted in the file ``starts``) is ready when the
# k-th letter is Y or past the end; on an N its startup fails (uvicorn exits).
NOTIFY_ASGI_APP = ASGI_APP + '''
import fcntl, os, socket

_HERE = os.path.dirname(__file__)

def _ready():
    with open(os.path.join(_HERE, "mode")) as mode:
        words = mode.read().split()
    if words[0] != "starts":
        return words[0] != "broken"
    with open(os.path.join(_HERE, "starts"), "a+") as starts:
        fcntl.flock(starts, fcntl.LOCK_EX)
        starts.write("%d\\n" % os.getpid())
        starts.seek(0)
        k = len(starts.read().split())
    return True if k > len(words[1]) or words[1][k - 1] == "Y" else None

_http = app

def _notify(message):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)

async def app(scope, receive, send):
    if scope["type"] != "lifespan":
        return await _http(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            ready = _ready()
            if ready is None:
                await send({"type": "lifespan.startup.failed", "message": "told to fail"})
                return
            if ready:
                _notify("READY=1")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
'''

WSGI_APP = '''
import time

def app(environ, start_response):
    time.sleep(0.02)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
'''

SERVERS = {
    # uvicorn serves on the inherited fd; --lifespan off: the app has no startup.
    "uvicorn": ("-m uvicorn --fd $(circus.sockets.web) --lifespan off --log-level warning app:app",
                ASGI_APP),
    # gunicorn master + one gthread worker per circus process.
    "gunicorn": ("-m gunicorn --bind fd://$(circus.sockets.web) --workers 1 --threads 8 "
                 "--graceful-timeout 10 --log-level warning app:app", WSGI_APP),
}

# uvicorn with lifespan on, telling READY=1 itself: for ``ready = notify``.
UVICORN_NOTIFY = ("-m uvicorn --fd $(circus.sockets.web) --lifespan on --log-level warning app:app",
                  NOTIFY_ASGI_APP)
