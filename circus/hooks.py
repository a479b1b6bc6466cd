"""The hooks of a watcher: user callables run at moments of its life.

A hook is called as ``hook(watcher=..., arbiter=..., hook_name=..., **extra)``
(spec/python-api.md §6); the moments are ``circus.options.HOOK_NAMES``. Its
return value is used as is (None counts as failure); one that raises or
overruns ``hook_timeout`` fails, unless its failures are ignored (the flag
given with it, or ``circus.options.HOOKS_IGNORING_FAILURE``).
"""

import logging
import signal
import threading
import time

from circus.convert import to_bool
from circus.naming import resolve_name
from circus.options import HOOKS_IGNORING_FAILURE

logger = logging.getLogger("circus.watcher")


class HookTimeout(Exception):
    """A hook did not return within its watcher's hook_timeout."""


def run_bounded(func, kwargs, timeout):
    """``func(**kwargs)``, interrupted by HookTimeout after ``timeout`` seconds (0: never).

    In the main thread a SIGALRM timer interrupts the hook where it is, so it
    runs on circusd's own thread as in Circus and is really stopped. Elsewhere
    (an arbiter in a background thread) the call runs in a helper thread that
    is abandoned, not killed, when it overruns.
    """
    if not timeout:
        return func(**kwargs)
    if threading.current_thread() is not threading.main_thread():
        return _run_in_thread(func, kwargs, timeout)
    running = [True]

    def on_alarm(signum, frame):
        if running[0]:
            raise HookTimeout("did not return within %ss" % timeout)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return func(**kwargs)
    finally:
        running[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_in_thread(func, kwargs, timeout):
    outcome = {}

    def target():
        try:
            outcome["result"] = func(**kwargs)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="circus-hook", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise HookTimeout("did not return within %ss" % timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


class HookTable:
    """The hooks of one watcher.

    ``functions`` is ``{hook name: callable}`` (the watcher's ``hooks``
    attribute); ``ignoring`` the names whose failures are ignored.
    """

    def __init__(self, owner):
        self.owner = owner  # the watcher's name, for messages
        self.functions = {}
        self.ignoring = set(HOOKS_IGNORING_FAILURE)
        self._paths = {}  # hook name -> (dotted path or repr, ignore flag)

    def set(self, hook_name, spec):
        """``spec``: a callable, a dotted name, ``"name,flag"`` or ``(name, flag)``."""
        self.store(hook_name, *self.resolve(hook_name, spec))

    def resolve(self, hook_name, spec):
        """``(function, path, ignore_failure)`` of a hook spec; ValueError if it does not import."""
        ignore = False
        if isinstance(spec, str):
            path, _, flag = spec.partition(",")
            spec = (path.strip(), flag.strip() or False)
        if isinstance(spec, (tuple, list)):
            target, ignore = spec
        else:
            target = spec
        if isinstance(ignore, str):
            ignore = to_bool(ignore)
        try:
            func = resolve_name(target) if isinstance(target, str) else target
        except ImportError as exc:
            raise ValueError("watcher %r: hooks.%s: %s" % (self.owner, hook_name, exc)) from None
        return func, (target if isinstance(target, str) else repr(target)), ignore

    def store(self, hook_name, func, path, ignore):
        """Put a resolved hook in place (see :meth:`resolve`)."""
        self.functions[hook_name] = func
        self._paths[hook_name] = (path, ignore)
        if ignore:
            self.ignoring.add(hook_name)

    def options(self):
        """``{'hooks.NAME': 'dotted.path[,true]'}`` of every hook set."""
        return {
            "hooks." + name: "%s,%s" % (path, str(ignore).lower()) if ignore else path
            for name, (path, ignore) in self._paths.items()
        }

    def call(self, hook_name, kwargs, timeout, notify):
        """Run hook ``hook_name`` with ``kwargs``; True when there is none.

        ``notify(topic, payload)`` publishes ``hook_success`` or
        ``hook_failure``. A failure is logged and counts as False unless the
        hook's failures are ignored.
        """
        hook = self.functions.get(hook_name)
        if hook is None:
            return True
        try:
            result = run_bounded(hook, kwargs, timeout)
        except HookTimeout as exc:
            logger.error("%s: hook %s %s", self.owner, hook_name, exc)
            error = str(exc)
        except Exception as exc:
            logger.exception("%s: hook %s failed", self.owner, hook_name)
            error = str(exc)
        else:
            notify("hook_success", {"name": hook_name, "time": time.time()})
            return result
        notify("hook_failure", {"name": hook_name, "time": time.time(), "error": error})
        return hook_name in self.ignoring
