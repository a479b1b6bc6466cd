"""Streams that write a watcher's output to circusd's own stdout."""

import codecs
import datetime
import random
import sys
import time

from circus.stream.file_stream import warn_ignored

__all__ = ["StdoutStream", "FancyStdoutStream"]

#: ANSI foreground color numbers (``ESC[0;3<n>;40m``).
COLORS = {"red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7}


class _Decoder:
    """Decodes UTF-8 per pid, so a character split between two chunks survives.

    Undecodable bytes become U+FFFD; a pid is forgotten as soon as it has no
    pending bytes, so dead processes cost nothing.
    """

    def __init__(self):
        self._pending = {}

    def decode(self, data, pid):
        decoder = self._pending.pop(pid, None)
        if decoder is None:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data)
        if decoder.getstate()[0]:
            self._pending[pid] = decoder
        return text


def _write_stdout(text):
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # circusd's stdout is closed or gone: nowhere to say so either


class StdoutStream:
    """Writes the output, decoded as UTF-8, to circusd's stdout and flushes."""

    def __init__(self, **ignored):
        warn_ignored("StdoutStream", ignored)
        self._decoder = _Decoder()

    def __call__(self, entry):
        text = self._decoder.decode(entry["data"], entry.get("pid"))
        if text:
            _write_stdout(text)


class FancyStdoutStream:
    """Writes each line to circusd's stdout, colored, as
    ``ESC[0;3<n>;40m<time> [<pid>] | <line>ESC[0m``.

    ``color`` is one of red, green, yellow, blue, magenta, cyan, white (random
    when unset); ``time_format`` is a strftime format.  Empty lines are
    skipped.  A line split between chunks of one pid is printed as one line;
    when another pid's output arrives first, the open line is ended.
    """

    clock = staticmethod(time.time)

    def __init__(self, color=None, time_format=None, **ignored):
        warn_ignored("FancyStdoutStream", ignored)
        if color is None or color == "":
            color = random.choice(sorted(COLORS))
        if color not in COLORS:
            raise ValueError(
                "FancyStdoutStream color: %r is not one of %s" % (color, ", ".join(COLORS))
            )
        self.color = color
        self.time_format = time_format or "%Y-%m-%d %H:%M:%S"
        self._start = "\033[0;3%d;40m" % COLORS[color]
        self._decoder = _Decoder()
        self._open_pid = None  # pid whose line is printed without its newline yet

    def __call__(self, entry):
        pid = entry.get("pid")
        text = self._decoder.decode(entry["data"], pid)
        if not text:
            return
        out = self.render(text, pid)
        if out:
            _write_stdout(out)

    def render(self, text, pid):
        """The colored lines for ``text`` from ``pid`` (updates the open-line state)."""
        moment = datetime.datetime.fromtimestamp(self.clock()).strftime(self.time_format)
        prefix = "%s%s [%s] | " % (self._start, moment, pid)
        lines = text.split("\n")
        ends_line = lines[-1] == ""
        if ends_line:
            lines.pop()
        out = []
        continuing = self._open_pid == pid
        if self._open_pid is not None and not continuing:
            out.append("\n")
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            newline = "\n" if ends_line or not last else ""
            if index == 0 and continuing:
                out.append((self._start + line + "\033[0m" if line else "") + newline)
            elif line:
                out.append(prefix + line + "\033[0m" + newline)
        self._open_pid = None if ends_line else pid
        return "".join(out)
