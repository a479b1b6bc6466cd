"""Where an output without a stream goes when circusd reads it for the ring.

Circus 0.19 lets a worker inherit circusd's own stdout and stderr when no
stream is configured for them, so circusd never sees that output. With
``log_buffer_size`` above 0 (the default) circusd pipes it instead, so that
``logs`` has it, and writes the bytes on, unchanged, to its own stdout or
stderr: what lands on circusd's terminal or log file is what the worker
wrote (in daemon mode those are /dev/null, and the ring still gets it).

:class:`InheritedStream` is that pass-through; it is called from the
redirector's writer thread, so a slow terminal does not stall the loop.
"""

import logging
import os
import select

logger = logging.getLogger("circus.stream")

#: circusd's own file descriptor for each output name.
FDS = {"stdout": 1, "stderr": 2}


class InheritedStream:
    """Writes every chunk unchanged to circusd's file descriptor ``fd``."""

    def __init__(self, fd):
        self.fd = fd
        self._warned = False

    def __repr__(self):
        return "InheritedStream(fd=%d)" % self.fd

    def __call__(self, entry):
        view = memoryview(entry["data"])
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:  # circusd's fd was made non-blocking by someone else
                select.select([], [self.fd], [])
            except OSError as exc:
                self._warn(exc)
                return
        self._warned = False

    def _warn(self, exc):
        # Closed or gone (EBADF, EPIPE): the output is dropped, as a worker
        # inheriting that fd would have lost it; said once per outage.
        if not self._warned:
            self._warned = True
            logger.warning("cannot write output on to circusd's fd %d: %s", self.fd, exc)


def pass_through():
    """``{name: InheritedStream}`` for ``stdout`` and ``stderr``."""
    return {name: InheritedStream(fd) for name, fd in FDS.items()}
