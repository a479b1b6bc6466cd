"""The commands of the control protocol: one module per command.

A command is a subclass of :class:`Command` that sets ``name``; defining it
registers it (``__init_subclass__``). The class holds both halves:

* client half (circusctl): ``message(*args, **opts)`` turns command-line
  words and flags into a request dict, ``console_msg(reply)`` turns an ok
  reply into the text circusctl prints;
* daemon half (circusd): ``validate(props)`` checks the request's shape,
  ``prepare(arbiter, props)`` refuses what cannot run and returns the reply
  keys or, for a long-running command, an awaitable of them;
  ``async execute(arbiter, props)`` does both and awaits the result (for
  callers inside circusd, such as its signal handlers).

A command written for Circus, as the manual's "Adding new commands" shows,
overrides ``execute(arbiter, props)`` instead of ``prepare`` (plain or
async, returning the reply keys) and may give ``options`` as
``('', 'name', default, 'help')`` tuples; ``circus.commands.base.Command``
is this class.

The docstring is the help text (``circusctl help CMD``, docs/commands.rst).

This package imports nothing heavy at load time: ``circusctl`` loads every
command module, and must start fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar, Dict, NamedTuple, Optional, Tuple, Union

from circus import exc  # a module reference: circus.exc imports our errors module

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

#: What ``Command.prepare`` returns: the reply keys, or an awaitable of them
#: (None: no keys).
Outcome = Union[Optional[dict], Awaitable[Optional[dict]]]

_REGISTRY: Dict[str, "Command"] = {}
_LOADED = False

# Modules of this package that are not commands.
_NOT_COMMANDS = {"base", "errors"}


def get_commands() -> Dict[str, "Command"]:
    """``{name: Command instance}`` of every command, importing them on first use."""
    global _LOADED
    if not _LOADED:
        for module in pkgutil.iter_modules(__path__):
            if module.name not in _NOT_COMMANDS:
                importlib.import_module("%s.%s" % (__name__, module.name))
        _LOADED = True
    return _REGISTRY


class Flag(NamedTuple):
    """A circusctl option of one command (``--waiting``, ``--match glob``).

    ``kind`` bool gives a switch; any other kind takes a value converted by
    it. The parsed value reaches ``Command.message`` as ``opts[name]``.
    """

    name: str
    help: str
    kind: type = bool
    default: Any = None
    choices: Optional[Tuple[str, ...]] = None
    metavar: Optional[str] = None
    short: Optional[str] = None  # a one-letter alias: ``-n`` for ``--lines``


def _is_builtin(cls) -> bool:
    return cls.__module__.startswith(__name__ + ".")


def _shadowed(cls) -> bool:
    """True for a built-in command that a command defined elsewhere replaced.

    Built-ins are imported lazily, so one may be defined after the program's
    own command of the same name: the program's command still wins.
    """
    existing = _REGISTRY.get(cls.name)
    return _is_builtin(cls) and existing is not None and not _is_builtin(type(existing))


def _as_flag(option: Flag | tuple) -> Flag:
    """A Flag, also from Circus' ``('short', 'name', default, 'help')`` tuples.

    A boolean (or None) default makes a switch; any other default takes a
    value of its type.
    """
    if isinstance(option, Flag):
        return option
    _short, name, default, help_text = option
    if default is None or isinstance(default, bool):
        return Flag(name, help_text)
    return Flag(name, help_text, kind=type(default), default=default)


WAITING = Flag("waiting", "wait for the end of the operation and print its result")
MATCH = Flag(
    "match",
    "how NAME selects watchers (default: glob)",
    kind=str,
    default="glob",
    choices=("simple", "glob", "regex"),
)


class Command:
    """Base class: see the module docstring."""

    name: ClassVar[str] = ""
    properties: ClassVar[Tuple[str, ...]] = ()  # required properties
    options: ClassVar[Tuple[Flag, ...]] = ()  # circusctl flags
    waiting: ClassVar[bool] = False  # long-running: honours properties.waiting
    usage: ClassVar[str] = ""  # positional arguments, for circusctl's help
    # Changes nothing: a read-only CurveZMQ key may run it (circus.controller).
    readonly: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.options = tuple(_as_flag(option) for option in cls.options)
        if cls.__dict__.get("name") and not _shadowed(cls):
            _REGISTRY[cls.name] = cls()

    # -- help ------------------------------------------------------------------

    @property
    def help(self) -> str:
        import inspect

        return inspect.cleandoc(self.__doc__ or self.name)

    @property
    def summary(self) -> str:
        lines = [line.strip() for line in (self.__doc__ or self.name).splitlines()]
        return next(line for line in lines if line).rstrip(".")

    # -- client half -------------------------------------------------------------

    def make_message(self, **props: Any) -> dict:
        """The request of this command with ``props`` (None values left out)."""
        from circus.client import make_message

        return make_message(self.name, **{k: v for k, v in props.items() if v is not None})

    def message(self, *args: str, **opts: Any) -> dict:
        """The request for circusctl words ``args`` and flags ``opts``.

        Default: one positional argument per required property, and the
        flags as properties. Raises ArgumentError on a wrong argument count.
        """
        if len(args) != len(self.properties):
            raise exc.ArgumentError("Invalid number of arguments")
        return self.make_message(**dict(zip(self.properties, args)), **opts)

    def console_msg(self, reply: dict) -> str:
        """The text circusctl prints for an ok ``reply``."""
        return "ok"

    def console_error(self, reply: dict) -> str:
        """The text circusctl prints (on stderr) for an error ``reply``."""
        return "error: %s" % reply.get("reason", "unknown error")

    # -- daemon half -------------------------------------------------------------

    def validate(self, props: dict) -> None:
        """Raise MessageError unless ``props`` has the required properties."""
        for key in self.properties:
            if key not in props:
                raise exc.MessageError("message invalid %r is missing" % key)
        if self.waiting:
            optional(props, "waiting", bool)

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        """Start the work: return the reply keys, or an awaitable of them.

        Everything that can be refused (a bad name, a duplicate) is refused
        here, and quick changes are made here; the long part (stopping,
        spawning) is returned as an awaitable. The controller awaits it only
        when the request says ``waiting``, otherwise it answers at once and
        lets the awaitable run in the background.
        """
        if type(self).execute is Command.execute:
            raise NotImplementedError(self.name)
        # A command written for Circus: its execute() is the daemon half,
        # returning the reply keys (or an awaitable of them).
        return self.execute(arbiter, props)

    async def execute(self, arbiter: Arbiter, props: dict) -> Optional[dict]:
        """Validate, prepare and finish the command; return the reply keys."""
        self.validate(props)
        outcome = self.prepare(arbiter, props)
        if isinstance(outcome, Awaitable):
            return await outcome
        return outcome


class OptionalNameCommand(Command):
    """A command about every watcher, or about the one its optional ``name`` names."""

    usage = "[<name>]"

    def message(self, *args: str, **opts: Any) -> dict:
        if len(args) > 1:
            raise exc.ArgumentError("Invalid number of arguments")
        return self.make_message(name=args[0] if args else None, **self.flag_props(bool(args), opts))

    def flag_props(self, named: bool, opts: dict) -> dict:
        """The properties circusctl's flags ``opts`` give (``named``: a name was given)."""
        return {}

    def validate(self, props: dict) -> None:
        super().validate(props)
        optional(props, "name", str)


# -- helpers for the daemon half ---------------------------------------------------

_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def _describe(types):
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def optional(props: dict, key: str, *types: type, default: Any = None) -> Any:
    """``props[key]`` if present and not null, checked against ``types``; else ``default``.

    ``bool`` is never taken for ``int`` (JSON ``true`` is not 1), and an
    ``int`` is fine where a ``float`` is expected.
    """
    value = props.get(key)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types) or (float in types and isinstance(value, int))
    if not ok:
        raise exc.MessageError(
            "message invalid: %r must be %s, got %r" % (key, _describe(types), value)
        )
    return value


def required(props: dict, key: str, *types: type) -> Any:
    """``props[key]``, which must be present, checked as in :func:`optional`."""
    if props.get(key) is None:
        raise exc.MessageError("message invalid %r is missing" % key)
    return optional(props, key, *types)


def find_watcher(arbiter: Arbiter, name: str) -> Watcher:
    """The watcher called ``name`` (any case); MessageError if there is none."""
    try:
        return arbiter.get_watcher(name)
    except KeyError:
        raise exc.MessageError("program %s not found" % name) from None


def check_signal(value: int | str, key: str = "signum") -> int:
    """A signal number from a number or a name; MessageError if unknown."""
    from circus.convert import to_signum

    try:
        return to_signum(value)
    except ValueError as error:
        raise exc.MessageError("signal invalid: %r: %s" % (key, error)) from None


def check_watcher_options(options: dict) -> dict:
    """Check ``add``/``set`` options against the option table; return checked values."""
    from circus import options as table

    try:
        return table.check_settable(options)
    except ValueError as error:
        raise exc.MessageError(str(error)) from None


def check_owner(arbiter: Arbiter, uid: int | str | None) -> None:
    """In endpoint_owner mode, refuse a ``uid`` other than the owner's.

    Whoever may use the control socket must not run processes as someone
    else. Names and numbers of the same user are the same uid.
    """
    if not getattr(arbiter, "endpoint_owner_mode", False):
        return
    from circus.convert import to_uid

    owner = arbiter.endpoint_owner
    try:
        same = uid is not None and to_uid(uid) == to_uid(owner)
    except ValueError:
        same = False
    if not same:
        raise exc.MessageError("uid does not match endpoint_owner (%s)" % owner)


def match_watchers(arbiter: Arbiter, pattern: str, method: str = "glob") -> list[Watcher]:
    """Watchers whose name matches ``pattern`` (case-insensitive), in priority order.

    ``simple`` is an exact name, ``glob`` an fnmatch pattern, ``regex`` a
    regular expression matched at the start of the name. No match is a
    MessageError, as is an unknown method or a bad regular expression.
    """
    if method == "simple":
        return [find_watcher(arbiter, pattern)]
    if method == "glob":
        import fnmatch

        def matches(name):
            return fnmatch.fnmatchcase(name.lower(), pattern.lower())

    elif method == "regex":
        import re

        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise exc.MessageError("invalid regex %r: %s" % (pattern, error)) from None

        def matches(name):
            return regex.match(name) is not None

    else:
        raise exc.MessageError("unknown match method %s" % method)
    found = [w for w in arbiter.iter_watchers() if matches(w.name)]
    if not found:
        raise exc.MessageError("program %s not found" % pattern)
    return found


# -- helpers for the client half -----------------------------------------------------


def format_info(info: object) -> str:
    """One process line: ``<pid>  <cmdline> <user> <nice> <rss> <vms> <cpu> <mem> <ctime>``."""
    if not isinstance(info, dict):
        return str(info)  # "No such process (stopped?)"
    fields = ("cmdline", "username", "nice", "mem_info1", "mem_info2", "cpu", "mem", "ctime")
    return "%s  %s" % (info.get("pid"), " ".join(str(info.get(f, "N/A")) for f in fields))


def int_arg(value: str, what: str) -> int:
    """A command-line word as an int; ArgumentError naming ``what`` otherwise."""
    try:
        return int(value)
    except ValueError:
        raise exc.ArgumentError("%s must be an integer, got %r" % (what, value)) from None


async def as_key(key: str, awaitable: Awaitable[Any]) -> dict:
    """``{key: await awaitable}``: a long part whose result is one reply key."""
    return {key: await awaitable}


async def discard(awaitable: Awaitable[Any]) -> None:
    """Await ``awaitable`` for its effect; the reply has no result keys."""
    await awaitable
