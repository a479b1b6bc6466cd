"""logs: the latest output lines of the watchers, and following new ones."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from circus.commands import Flag, OptionalNameCommand, find_watcher, optional
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome

STREAMS = ("stdout", "stderr")


def format_line(line: Mapping[str, Any]) -> str:
    """``<watcher>[<pid>] <local time, ms> <stream>: <text>``."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(line["time"]))
    millis = int((line["time"] % 1) * 1000)
    return "%s[%s] %s.%03d %s: %s" % (line["watcher"], line["pid"], stamp, millis, line["stream"], line["line"])


def _ring_lines(watcher, count, stream):
    ring = watcher.log_ring
    return ring.lines(count, stream) if ring is not None else []


class Logs(OptionalNameCommand):
    """Get the latest output lines of the watchers

    Each watcher keeps the latest lines its processes wrote to stdout and
    stderr, whatever streams are configured: at most ``log_buffer_size``
    bytes (64 KiB by default). An output without a stream is read by
    circusd and written on, unchanged, to its own stdout or stderr. With
    ``log_buffer_size = 0`` nothing is kept, and an output without a stream
    is inherited from circusd (Circus 0.19), as is one closed by
    ``close_child_stdout`` / ``close_child_stderr`` at any size.

    ZMQ message
    -----------

    ::

        {"command": "logs",
         "properties": {"name": "<name>", "lines": <count>, "stream": "stdout"}}

    Every property is optional: ``name`` keeps one watcher's lines,
    ``stream`` (``stdout`` or ``stderr``) one stream's, ``lines`` the last
    ``count`` of them. The reply has ``lines``, oldest first:
    ``[{"watcher", "pid", "stream", "time", "line"}]``.

    New lines are published on the event channel as
    ``log.<watcher>.<stdout|stderr>`` events, one per chunk read:
    ``{"watcher", "pid", "stream", "time", "lines": [<text>, ...]}``.

    Command line
    ------------

    ::

        $ circusctl logs [<name>] [-n LINES] [-f] [--stream stdout|stderr] [--json]

    Prints one ``<watcher>[<pid>] <time> <stream>: <line>`` line per line
    (every watcher's without a name). ``-f`` then prints new lines as they
    come, until interrupted (``--json``: one JSON object per line).
    """

    name = "logs"
    options = (
        Flag("lines", "print only the last LINES lines", kind=int, metavar="LINES", short="n"),
        Flag("follow", "then print new lines as they come, until interrupted", short="f"),
        Flag("stream", "only this stream's lines", kind=str, choices=STREAMS),
    )

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) > 1:
            raise ArgumentError("Invalid number of arguments")
        if opts.get("lines") is not None and opts["lines"] < 0:
            raise ArgumentError("LINES must be 0 or more, got %d" % opts["lines"])
        return self.make_message(name=args[0] if args else None, lines=opts.get("lines"),
                                 stream=opts.get("stream"))

    def validate(self, props: dict) -> None:
        super().validate(props)
        lines = optional(props, "lines", int)
        if lines is not None and lines < 0:
            raise MessageError("message invalid: 'lines' must be 0 or more, got %d" % lines)
        if optional(props, "stream", str) not in (None, *STREAMS):
            raise MessageError("message invalid: 'stream' must be stdout or stderr, got %r" % props["stream"])

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        count, stream = props.get("lines"), props.get("stream")
        name = props.get("name")
        watchers = [find_watcher(arbiter, name)] if name else arbiter.iter_watchers()
        found = [line for w in watchers for line in _ring_lines(w, count, stream)]
        found.sort(key=lambda line: line["time"])  # stable: a watcher's own order is kept
        if count is not None:
            found = found[-count:] if count else []
        return {"lines": found}

    def console_msg(self, reply: dict) -> str:
        return "\n".join(format_line(line) for line in reply.get("lines", []))

    # -- circusctl logs -f ---------------------------------------------------------

    def follow(self, args: Iterable[str], flags: Mapping[str, Any], options: Mapping[str, Any],
               call: Callable[[dict], dict]) -> int:
        """Print the ring, then the ``log.*`` events as they come, until Ctrl-C; the exit status."""
        from circus.consumer import CircusConsumer

        msg = self.message(*args, **flags)
        name, stream = msg["properties"].get("name"), msg["properties"].get("stream")
        endpoint = _pubsub_endpoint(call)
        topic = "log." + ("%s." % name.lower().replace(" ", "_") if name else "")
        if name and stream:
            topic += stream
        show = _printer(options.get("json"))
        with CircusConsumer([topic], endpoint=endpoint, ssh_server=options.get("ssh"),
                            ssh_keyfile=options.get("ssh_keyfile")) as events:
            reply = call(msg)  # subscribed first: what comes after the reply is not missed
            if reply.get("status") == "error":
                print(self.console_error(reply), file=sys.stderr)
                return 3
            last = 0.0
            for line in reply["lines"]:
                show(line)
                last = line["time"]
            try:
                for _, body in events:
                    event = json.loads(body)
                    if event["time"] <= last or (name and event["watcher"].lower() != name.lower()):
                        continue  # already in the ring's lines, or another watcher with a dotted name
                    if stream and event["stream"] != stream:
                        continue
                    for text in event["lines"]:
                        show(dict(event, line=text))
            except KeyboardInterrupt:
                pass
        return 0


def _pubsub_endpoint(call):
    from circus.client import make_message

    reply = call(make_message("globaloptions"))
    if reply.get("status") != "ok":
        raise ArgumentError("cannot learn circusd's pubsub_endpoint: %s" % reply.get("reason"))
    return reply["options"]["pubsub_endpoint"]


def _printer(as_json):
    def show(line):
        if as_json:
            print(json.dumps({k: line[k] for k in ("watcher", "pid", "stream", "time", "line")}))
        else:
            print(format_line(line))
        sys.stdout.flush()

    return show
