"""circus: a process and socket supervisor."""

import logging
import sys

version_info = (0, 19, 0)
__version__ = ".".join(str(part) for part in version_info)

# The oldest Python circus runs on (asyncio.timeout, PEP 604 unions at run
# time); setup.py reads it for python_requires.
python_requires = (3, 11)

if sys.version_info < python_requires:
    raise ImportError(
        "circus %s needs Python %s or later; this is Python %s"
        % (__version__, ".".join(map(str, python_requires)), sys.version.split()[0])
    )

logger = logging.getLogger("circus")


def get_arbiter(
    watchers,
    controller=None,
    pubsub_endpoint=None,
    statsd=False,
    stats_endpoint=None,
    statsd_close_outputs=False,
    multicast_endpoint=None,
    env=None,
    name=None,
    context=None,
    background=False,
    stream_backend="thread",
    httpd=False,
    plugins=None,
    debug=False,
    proc_name="circusd",
    loop=None,
    check_delay=1.0,
    **kw
):
    """Build an Arbiter (not started) from a list of watcher dicts.

    Each dict needs ``cmd``; ``name`` defaults to the basename of its first
    word. ``background=True`` gives a ThreadedArbiter whose ``start()``
    returns once the watchers run and whose ``stop()`` works from any thread.
    ``env`` and ``name`` are accepted for compatibility and ignored.
    """
    import os
    import shlex

    from circus.arbiter import Arbiter, ThreadedArbiter, build_watcher
    from circus.client_defaults import (
        DEFAULT_ENDPOINT_DEALER,
        DEFAULT_ENDPOINT_MULTICAST,
        DEFAULT_ENDPOINT_STATS,
        DEFAULT_ENDPOINT_SUB,
    )

    if stats_endpoint is not None and not statsd:
        statsd = True
    if statsd and stats_endpoint is None:
        stats_endpoint = DEFAULT_ENDPOINT_STATS
    built = []
    for watcher in watchers:
        if "name" not in watcher:
            watcher["name"] = os.path.basename(shlex.split(watcher["cmd"])[0])
        built.append(build_watcher(watcher))
    cls = ThreadedArbiter if background else Arbiter
    return cls(
        built,
        controller if controller is not None else DEFAULT_ENDPOINT_DEALER,
        pubsub_endpoint or DEFAULT_ENDPOINT_SUB,
        check_delay=check_delay,
        context=context,
        loop=loop,
        statsd=statsd,
        stats_endpoint=stats_endpoint,
        statsd_close_outputs=statsd_close_outputs,
        multicast_endpoint=multicast_endpoint or DEFAULT_ENDPOINT_MULTICAST,
        plugins=plugins,
        httpd=httpd,
        debug=debug,
        proc_name=proc_name,
        **kw
    )
