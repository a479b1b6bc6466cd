"""Waiting against a deadline: ``until`` (blocking), ``until_async``, ``async_test``."""

import asyncio
import functools
import time


class Timeout(AssertionError, TimeoutError):
    """A wait that ran out of time: a failed assertion for a test, a TimeoutError for a benchmark."""


def _describe(predicate, what):
    if callable(what):  # computed at the timeout, e.g. to show a log as it is then
        return what()
    return what or getattr(predicate, "__name__", repr(predicate))


def until(predicate, timeout=10, interval=0.02, what=None):
    """Poll ``predicate()`` until it returns a truthy value, and return it.

    Raises ``Timeout`` naming ``what`` (a string, or a function giving one)
    or the predicate after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout("timed out after %ss waiting for %s" % (timeout, _describe(predicate, what)))
        time.sleep(interval)


async def until_async(predicate, timeout=10, interval=0.02, what=None):
    """Async ``until``: ``predicate`` may be a plain function or return an awaitable."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout("timed out after %ss waiting for %s" % (timeout, _describe(predicate, what)))
        await asyncio.sleep(interval)


def async_test(fn=None, *, timeout=60):
    """Run an ``async def`` test in a fresh event loop (``asyncio.run``) with a deadline."""
    if fn is None:
        return functools.partial(async_test, timeout=timeout)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def guarded():
            async with asyncio.timeout(timeout):
                return await fn(*args, **kwargs)

        return asyncio.run(guarded())

    return wrapper
