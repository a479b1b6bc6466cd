"""Checks of the replies of the control socket; each returns the reply it checked."""


def ok(reply):
    """A reply whose status is ``ok``."""
    assert reply["status"] == "ok", reply
    return reply


def not_error(reply):
    """Any reply but an error one (the ``status`` command puts a watcher's status in ``status``)."""
    assert reply["status"] != "error", reply
    return reply


def error(reply, errno, reason=None):
    """An error reply with ``errno`` and, if given, exactly ``reason``."""
    assert reply["status"] == "error" and reply["errno"] == errno, reply
    if reason is not None:
        assert reply["reason"] == reason, reply
    return reply


def error_mentioning(reply, errno, words=None):
    """An error reply with ``errno`` whose reason, if ``words`` are given, contains them."""
    assert reply["status"] == "error" and reply["errno"] == errno, reply
    if words is not None:
        assert words in reply["reason"], reply
    return reply


def ok_call(client, command, **props):
    """Send ``command`` through a blocking ``client``; its reply, asserted ``ok``."""
    reply = client.send_message(command, **props)
    assert reply["status"] == "ok", (command, props, reply)
    return reply
