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
