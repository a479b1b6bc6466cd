"""The errno values of error replies (public names, as in Circus)."""

NOT_SPECIFIED = 0
INVALID_JSON = 1
UNKNOWN_COMMAND = 2
MESSAGE_ERROR = 3
OS_ERROR = 4
COMMAND_ERROR = 5
BAD_MSG_DATA_ERROR = 6
FORBIDDEN = 7  # a read-only CurveZMQ key sent a command that changes something
