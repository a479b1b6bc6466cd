"""Exception classes of circus.

Every error a command can report carries the errno of its error reply
(``circus.commands.errors``), so the controller maps exceptions to replies in
one place.
"""

from circus.commands.errors import (
    COMMAND_ERROR,
    MESSAGE_ERROR,
    NOT_SPECIFIED,
    OS_ERROR,
)


class CircusError(Exception):
    """Base class: a message for humans and the errno of the error reply."""

    errno = NOT_SPECIFIED


class MessageError(CircusError):
    """The request is invalid: a missing or mistyped property, an unknown name."""

    errno = MESSAGE_ERROR


class AlreadyExist(MessageError):
    """A watcher of that name already exists."""

    errno = COMMAND_ERROR


class ConflictError(CircusError):
    """An exclusive operation could not get its turn in time."""

    errno = COMMAND_ERROR


class UpgradeRefused(CircusError):
    """``upgrade`` cannot go ahead; circusd carries on as it was."""

    errno = COMMAND_ERROR


class CallError(CircusError):
    """A client could not reach circusd or got no reply in time."""

    errno = OS_ERROR


class ArgumentError(CircusError):
    """Bad command-line arguments."""

    errno = MESSAGE_ERROR


class ConfigError(CircusError):
    """A configuration file, section or key is invalid.

    ``str()`` names where: ``circus.ini [watcher:web] numprocesses: not an integer: 'x'``.
    """

    errno = MESSAGE_ERROR

    def __init__(self, message, filename=None, section=None, key=None):
        self.message = message
        self.filename = filename
        self.section = section
        self.key = key
        super().__init__(str(self))

    def __str__(self):
        where = []
        if self.filename:
            where.append(str(self.filename))
        if self.section:
            where.append("[%s]" % self.section)
        if self.key:
            where.append("%s:" % self.key)
        if not where:
            return self.message
        if not self.key:
            where[-1] += ":"
        return "%s %s" % (" ".join(where), self.message)
