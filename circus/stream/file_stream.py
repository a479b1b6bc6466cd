"""Streams that write a watcher's output to a file.

``FileStream`` rotates by size, ``WatchedFileStream`` follows an external
rotation (logrotate), ``TimedRotatingFileStream`` rotates by time.  They run on
circusd's event loop, so each chunk costs one ``write`` (plus one ``stat`` where
the class needs it): no buffering to flush, no per-line system call, no fsync.
A write error never reaches the caller: it is logged once per kind, the chunk
is dropped and the file is opened again at the next write.
"""

import calendar
import datetime
import logging
import os
import re
import tempfile
import time

from circus.convert import human2bytes, to_bool, to_int

logger = logging.getLogger("circus.stream")

__all__ = ["FileStream", "WatchedFileStream", "TimedRotatingFileStream"]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def warn_ignored(cls_name, ignored):
    """Log the options a stream class does not know (a typo is a silent no-op otherwise)."""
    if ignored:
        logger.warning("%s ignores unknown option(s): %s", cls_name, ", ".join(sorted(ignored)))


def _option(cls_name, name, value, convert, minimum):
    try:
        number = convert(value)
    except ValueError as exc:
        raise ValueError("%s %s: %s" % (cls_name, name, exc)) from None
    if number < minimum:
        raise ValueError("%s %s: must be at least %d, got %d" % (cls_name, name, minimum, number))
    return number


def _to_size(value):
    """An int, or a size string: ``'1048576'``, ``'10M'``, ``'1.5G'``."""
    if isinstance(value, str):
        return human2bytes(value)
    return to_int(value)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class LineStamper:
    """Prefixes each line with ``"<time> [<pid>] | "`` across chunk boundaries.

    A chunk may end in the middle of a line: the prefix is written only where a
    line starts.  When a chunk from another pid arrives while a line is still
    open, that line is ended with a newline first, so every line in the file
    carries the pid that wrote it and no byte is dropped.
    """

    def __init__(self, time_format, utc=False):
        self.time_format = time_format
        self.utc = utc
        self._open_pid = None  # pid whose line is unterminated in the output

    def stamp(self, data, pid, now):
        """Return ``data`` with prefixes inserted; ``now`` is a Unix time."""
        if self.utc:
            moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        else:
            moment = datetime.datetime.fromtimestamp(now)
        prefix = ("%s [%s] | " % (moment.strftime(self.time_format), pid)).encode("utf-8", "replace")
        pieces = data.split(b"\n")
        ends_line = pieces[-1] == b""
        if ends_line:
            pieces.pop()
        body = (b"\n" + prefix).join(pieces)
        if ends_line:
            body += b"\n"
        if self._open_pid is None:
            head = prefix
        elif self._open_pid == pid:
            head = b""
        else:
            head = b"\n" + prefix
        self._open_pid = None if ends_line else pid
        return head + body


class _FileOutput:
    """What the three file streams share: the file, the prefixes, the errors.

    Subclasses decide in ``_before_write(size)`` whether to rotate or reopen;
    FileStream, which may rotate in the middle of a chunk, overrides ``_write``.
    """

    #: The time source of prefixes and time rotation; tests replace it.
    clock = staticmethod(time.time)

    def __init__(self, filename, time_format, utc=False):
        if not filename:
            fd, filename = tempfile.mkstemp(prefix="circus-", suffix=".log")
            os.close(fd)
            logger.info("%s without a filename writes to %s", type(self).__name__, filename)
        self.filename = os.fspath(filename)
        self.time_format = time_format or None
        self._stamper = LineStamper(self.time_format, utc) if self.time_format else None
        self._fd: int | None = None  # None until opened, and after a close or a failure
        self._failing: set[int | None] = set()  # errnos already logged

    def open(self):
        """Open the file now (it is otherwise opened at the first write).

        Never raises: a failure is logged and opening is tried again at the
        next write.
        """
        if self._fd is None:
            self._guard("open", self._open)

    def close(self):
        """Close the file; a later write opens it again."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self._guard("close", os.close, fd)

    def __call__(self, entry):
        """Append ``entry['data']`` (bytes) to the file, prefixed if time_format is set."""
        data = entry["data"]
        if not data:
            return
        if self._stamper is not None:
            data = self._stamper.stamp(data, entry.get("pid"), self.clock())
        self._guard("write to", self._write, data)

    def _write(self, data):
        self._fileno()  # opens it
        self._before_write(len(data))  # may rotate: another fd
        _write_all(self._fileno(), data)

    def _fileno(self) -> int:
        """The fd of the open file, opened first when it is not."""
        return self._fd if self._fd is not None else self._open()

    def _before_write(self, size):
        """Rotate or reopen the file before ``size`` more bytes are written."""

    def _open(self, truncate=False) -> int:
        flags = _OPEN_FLAGS | os.O_TRUNC if truncate else _OPEN_FLAGS
        fd = self._fd = self._open_fd(flags)
        stat = os.fstat(fd)
        self._identity = (stat.st_dev, stat.st_ino)
        self._opened(stat)
        return fd

    def _open_fd(self, flags):
        return os.open(self.filename, flags, 0o666)

    def _opened(self, stat):
        """Called after each open with the file's ``os.stat_result``."""

    def _reopen(self, truncate=False):
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        # The stamper keeps its state: the chunk being written was stamped as
        # a whole, and the output goes on in the new file.
        self._open(truncate)

    def _replaced(self):
        """True when ``filename`` no longer names the file we hold open."""
        try:
            stat = os.stat(self.filename)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._identity

    def _guard(self, action, func, *args):
        """Run ``func``; an OSError is logged once per kind and swallowed."""
        try:
            func(*args)
        except OSError as exc:
            self._failed(action, exc)
        else:
            if self._failing and action == "write to":
                self._failing.clear()
                logger.info("%s: writing to %s again", type(self).__name__, self.filename)

    def _failed(self, action, exc):
        if self._fd is not None and action == "write to":
            # Start afresh at the next write: the fd may be stale (NFS, revoked).
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass
        kind = exc.errno
        if kind not in self._failing:
            self._failing.add(kind)
            logger.error(
                "%s: cannot %s %s: %s; output is dropped until it works again "
                "(this error is not logged again)",
                type(self).__name__, action, self.filename, exc.strerror or exc,
            )

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.filename)


class FileStream(_FileOutput):
    """Appends to ``filename``; rotates by size when ``max_bytes`` is set.

    A file is rotated at a line boundary, before the line that would make it
    reach ``max_bytes``: a chunk read from the pipe is split there, its first
    lines ending the old file and the rest starting the new one.  Rotating
    means ``name.N-1`` becomes ``name.N`` ... ``name`` becomes ``name.1``, the
    oldest beyond ``backup_count`` is removed; with ``backup_count = 0`` the
    file is emptied instead (like logrotate's ``rotate 0``).

    So a file stays under ``max_bytes``, except in two cases: a line that
    alone reaches ``max_bytes`` is written whole to a file of its own, and a
    line already begun in a file is ended there (a line is cut only once its
    file is full, so output without newlines still rotates).  The size is read
    from the open file, so two streams sharing one file (stdout and stderr of
    a watcher) rotate it once between them.
    """

    def __init__(self, filename=None, max_bytes=0, backup_count=0, time_format=None, **ignored):
        warn_ignored("FileStream", ignored)
        self.max_bytes = _option("FileStream", "max_bytes", max_bytes or 0, _to_size, 0)
        self.backup_count = _option("FileStream", "backup_count", backup_count or 0, to_int, 0)
        super().__init__(filename, time_format)

    def _write(self, data):
        fd = self._fileno()
        if not self.max_bytes:
            _write_all(fd, data)
            return
        size = self._size(len(data))
        start = 0
        while start < len(data):
            end = self._fitting_end(data, start, size)
            if end == start:
                self._rollover()
                size = 0
                continue
            _write_all(self._fileno(), memoryview(data)[start:end])
            size += end - start
            start = end

    def _size(self, coming):
        """The size of the file, following a rotation made by another stream on it."""
        size = os.fstat(self._fileno()).st_size
        if size and size + coming >= self.max_bytes and self._replaced():
            # The other stream on this file rotated it: follow, don't rotate again.
            self._reopen()
            size = os.fstat(self._fileno()).st_size
        return size

    def _fitting_end(self, data, start, size):
        """Where the part of ``data[start:]`` that goes to the current file ends.

        ``start`` when the file must be rotated first.
        """
        room = self.max_bytes - size - 1  # bytes that keep the file under max_bytes
        if len(data) - start <= room:
            return len(data)
        if size and self._line_open(size):
            if size >= self.max_bytes:
                return start  # full: cut the line rather than grow without bound
            return self._line_end(data, start)
        if room > 0:
            newline = data.rfind(b"\n", start, start + room)
            if newline >= 0:
                return newline + 1
        return self._line_end(data, start) if not size else start

    def _open_fd(self, flags):
        # Read access tells a rotation whether the file ends with a newline.
        try:
            return os.open(self.filename, (flags & ~os.O_WRONLY) | os.O_RDWR, 0o666)
        except PermissionError:
            return os.open(self.filename, flags, 0o666)

    def _line_open(self, size):
        """True when the file does not end with a newline (False when it cannot be read)."""
        try:
            return os.pread(self._fileno(), 1, size - 1) != b"\n"
        except OSError:
            return False

    @staticmethod
    def _line_end(data, start):
        newline = data.find(b"\n", start)
        return len(data) if newline < 0 else newline + 1

    def _rollover(self):
        if self.backup_count == 0:
            self._reopen(truncate=True)
            return
        for index in range(self.backup_count - 1, 0, -1):
            source = "%s.%d" % (self.filename, index)
            if os.path.exists(source):
                os.replace(source, "%s.%d" % (self.filename, index + 1))
        try:
            os.replace(self.filename, self.filename + ".1")
        except FileNotFoundError:
            pass  # removed behind our back: start a new file all the same
        self._reopen()


class WatchedFileStream(_FileOutput):
    """Appends to ``filename`` and follows an external rotation.

    Before each write the path is ``stat``-ed; when it is gone or names
    another file (logrotate moved it, someone deleted it), the file is opened
    again under its name.  Use it with logrotate's ``create`` mode, not
    ``copytruncate``.
    """

    def __init__(self, filename=None, time_format=None, **ignored):
        warn_ignored("WatchedFileStream", ignored)
        super().__init__(filename, time_format)

    def _before_write(self, size):
        if self._replaced():
            self._reopen()


_UNIT_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86400}
_SUFFIX_FORMATS = {
    "S": "%Y%m%d%H%M%S",
    "M": "%Y%m%d%H%M",
    "H": "%Y%m%d%H",
    "D": "%Y%m%d",
    "MIDNIGHT": "%Y%m%d",
    "W": "%Y%m%d",
}
_WEEKDAY = re.compile(r"^W([0-6])$")


def _parse_when(value):
    """``('H', None)``, ``('MIDNIGHT', None)``, ``('W', 0)`` from a case-insensitive word."""
    word = value.strip().upper() if isinstance(value, str) else ""
    if word in _UNIT_SECONDS or word == "MIDNIGHT":
        return word, None
    match = _WEEKDAY.match(word)
    if match:
        return "W", int(match.group(1))
    raise ValueError(
        "TimedRotatingFileStream rotate_when: %r is not one of S, M, H, D, midnight, "
        "W0 (Monday) ... W6 (Sunday)" % (value,)
    )


class TimedRotatingFileStream(_FileOutput):
    """Appends to ``filename`` and rotates it every ``rotate_interval`` units.

    ``rotate_when`` (any case): ``S`` seconds, ``M`` minutes, ``H`` hours,
    ``D`` days (counted from the file's start), ``midnight`` (every
    ``rotate_interval`` midnights), ``W0``..``W6`` (at the midnight starting
    that weekday, Monday = 0, every ``rotate_interval`` weeks).  The rotated
    file is named ``filename.<start of its period>`` with
    ``%Y%m%d[%H[%M[%S]]]`` (``.1``, ``.2`` appended if that name is taken);
    the oldest are removed beyond ``backup_count`` (0 keeps them all).  Times
    are local unless ``utc`` is true.  An existing file's first period counts
    from its last modification, so restarting circusd does not postpone the
    rotation.
    """

    def __init__(
        self,
        filename=None,
        backup_count=0,
        time_format=None,
        rotate_when=None,
        rotate_interval=1,
        utc=False,
        **ignored
    ):
        warn_ignored("TimedRotatingFileStream", ignored)
        name = "TimedRotatingFileStream"
        self.backup_count = _option(name, "backup_count", backup_count or 0, to_int, 0)
        self.rotate_when = rotate_when
        self._when, self._weekday = _parse_when(rotate_when)
        self.rotate_interval = _option(name, "rotate_interval", rotate_interval, to_int, 1)
        try:
            self.utc = to_bool(utc)
        except ValueError as exc:
            raise ValueError("%s utc: %s" % (name, exc)) from None
        self.rollover_at: float | None = None  # Unix time of the next rotation, known once opened
        super().__init__(filename, time_format, self.utc)

    def _opened(self, stat):
        if self.rollover_at is None:
            start = stat.st_mtime if stat.st_size else self.clock()
            self.rollover_at = self._next_rollover(start)

    def _before_write(self, size):
        now = self.clock()
        if self.rollover_at is not None and now >= self.rollover_at:
            self._rollover(now)

    def _rollover(self, now):
        target = self._free_name(self.filename + "." + self._suffix(self.rollover_at))
        try:
            os.replace(self.filename, target)
        except FileNotFoundError:
            pass  # removed behind our back: nothing to keep
        self.rollover_at = self._next_rollover(now)
        self._reopen()
        self._prune()

    def _time_tuple(self, when):
        return time.gmtime(when) if self.utc else time.localtime(when)

    def _midnight(self, day):
        fields = (day.year, day.month, day.day, 0, 0, 0, 0, 0, -1)
        return calendar.timegm(fields) if self.utc else time.mktime(fields)

    def _next_rollover(self, now):
        """The Unix time of the first rotation after ``now``."""
        if self._when in _UNIT_SECONDS:
            return now + _UNIT_SECONDS[self._when] * self.rotate_interval
        today = datetime.date(*self._time_tuple(now)[:3])
        if self._when == "MIDNIGHT":
            days = self.rotate_interval
        else:
            days = (self._weekday - today.weekday()) % 7 or 7
            days += 7 * (self.rotate_interval - 1)
        return self._midnight(today + datetime.timedelta(days=days))

    def _suffix(self, rollover_at):
        """``%Y%m%d[%H[%M[%S]]]`` of the start of the period ending at ``rollover_at``."""
        pattern = _SUFFIX_FORMATS[self._when]
        if self._when in _UNIT_SECONDS:
            start = rollover_at - _UNIT_SECONDS[self._when] * self.rotate_interval
            return time.strftime(pattern, self._time_tuple(start))
        days = self.rotate_interval * (1 if self._when == "MIDNIGHT" else 7)
        last_day = datetime.date(*self._time_tuple(rollover_at - 1)[:3])
        return (last_day - datetime.timedelta(days=days - 1)).strftime(pattern)

    @staticmethod
    def _free_name(name):
        if not os.path.exists(name):
            return name
        index = 1
        while os.path.exists("%s.%d" % (name, index)):
            index += 1
        return "%s.%d" % (name, index)

    def _backups(self):
        """Rotated files of this stream, oldest first."""
        directory = os.path.dirname(self.filename) or "."
        digits = len(time.strftime(_SUFFIX_FORMATS[self._when], time.gmtime(0)))
        pattern = re.compile(
            re.escape(os.path.basename(self.filename)) + r"\.(\d{%d})(?:\.(\d+))?$" % digits
        )
        found = []
        for entry in os.listdir(directory):
            match = pattern.match(entry)
            if match:
                key = (match.group(1), int(match.group(2) or 0))
                found.append((key, os.path.join(directory, entry)))
        return [path for _, path in sorted(found)]

    def _prune(self):
        if not self.backup_count:
            return
        for path in self._backups()[: -self.backup_count]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
