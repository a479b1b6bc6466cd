"""circusctl: the command-line front end of the control protocol.

``circusctl [options] command [args]`` sends one command and prints the
reply; without a command it opens an interactive shell. Every command, its
flags and its output come from the command classes (``circus.commands``).

Exit codes: 0 ok (and every ``--json`` output), 1 no reply / bad arguments,
2 unknown command or bad global option, 3 error reply.

Only the standard library, pyzmq and the light client-side modules of circus
are imported, so that ``circusctl status`` starts fast.
"""

import argparse
import json
import os
import shlex
import sys
from typing import IO, Any, Mapping, Sequence

from circus import __version__
from circus.client import CircusClient
from circus.client_defaults import DEFAULT_ENDPOINT_DEALER, DEFAULT_ENDPOINT_SUB
from circus.commands import Command, get_commands
from circus.commands.logs import Logs
from circus.exc import ArgumentError, CallError

#: The package version, as code written for Circus imports it from here.
VERSION = __version__

USAGE = "circusctl [options] command [args]"

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_ERROR_REPLY = 0, 1, 2, 3


def _timed_out_hint(endpoint, timeout):
    return (
        "Timed out.\n"
        "\n"
        "No reply from circusd at %s within %s seconds. Either:\n"
        "\n"
        "  1. circusd does not listen there: compare --endpoint (or the\n"
        "     CIRCUSCTL_ENDPOINT variable) with [circus] endpoint in its config;\n"
        "  2. the command takes longer than that (a --waiting stop or reload\n"
        "     lasts as long as the graceful timeouts): raise --timeout.\n"
        "\n"
        "See circusctl --help." % (endpoint, timeout)
    )


# -- argument parsing --------------------------------------------------------------


def _add_global_options(parser, suppress=False):
    """The global options; ``suppress`` for a command's parser (no defaults)."""

    def default(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--endpoint", action="append", default=default(None),
                        help="connection endpoint; repeat it (or give a comma-separated list) to ask several circusd")
    parser.add_argument("--timeout", type=float, default=default(5.0), help="connection timeout")
    parser.add_argument("--json", action="store_true", default=default(False), help="output to JSON")
    parser.add_argument("--prettify", action="store_true", default=default(False), help="prettify output")
    parser.add_argument("--ssh", default=default(None), help="SSH Server in the format user@host:port")
    parser.add_argument(
        "--ssh_keyfile", default=default(None), help="the path to the keyfile to authorise the user"
    )


def _main_parser(commands):
    listing = "\n".join("  %-22s%s" % (name, commands[name].summary) for name in sorted(commands))
    listing += "\n  %-22s%s" % ("completion SHELL", "Print the completion script of bash, zsh or fish")
    parser = argparse.ArgumentParser(
        prog="circusctl",
        usage=USAGE,
        description="Controls a Circus daemon\n\nCommands:\n" + listing,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    _add_global_options(parser)
    parser.add_argument("--help", action="store_true", help="Show help and exit")
    parser.add_argument("--version", action="store_true", help="display version and exit")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def command_parser(command: Command) -> argparse.ArgumentParser:
    """The parser of one command's words and flags (global options allowed too)."""
    parser = argparse.ArgumentParser(
        prog="circusctl [options] command [args] %s" % command.name,
        description=command.summary,
    )
    _add_global_options(parser, suppress=True)
    for flag in command.options:
        names = ["--" + flag.name] + (["-" + flag.short] if flag.short else [])
        if flag.kind is bool:
            parser.add_argument(*names, action="store_true", help=flag.help)
        else:
            parser.add_argument(
                *names,
                type=flag.kind,
                default=flag.default,
                choices=flag.choices,
                metavar=flag.metavar,
                help=flag.help,
            )
    parser.add_argument("args", nargs="*", metavar=command.usage or "args")
    return parser


def parse_command_args(
    command: Command, words: Sequence[str], defaults: Mapping[str, Any]
) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """``(positional words, flags, global options)`` of a command line.

    ``defaults`` holds the global options given before the command; those
    given after it win. argparse errors exit (status 2).
    """
    parsed = command_parser(command).parse_intermixed_args(words)
    values = vars(parsed)
    args = values.pop("args")
    flags = {flag.name: values.pop(flag.name) for flag in command.options}
    options = dict(defaults)
    options.update(values)
    return args, flags, options


# -- output ------------------------------------------------------------------------


def print_json(reply: dict, prettify: bool, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if not prettify:
        print(json.dumps(reply), file=out)
        return
    text = json.dumps(reply, indent=2, sort_keys=True)
    if out.isatty():
        try:
            from pygments import highlight
            from pygments.formatters import TerminalFormatter
            from pygments.lexers import JsonLexer
        except ImportError:
            pass
        else:
            text = highlight(text, JsonLexer(), TerminalFormatter()).rstrip("\n")
    print(text, file=out)


def show_reply(command: Command, reply: dict, options: Mapping[str, Any]) -> int:
    """Print ``reply`` as the options ask; return the exit status."""
    if options["json"]:
        print_json(reply, options["prettify"])
        return EXIT_OK
    if reply.get("status") == "error":
        print(command.console_error(reply), file=sys.stderr)
        return EXIT_ERROR_REPLY
    text = command.console_msg(reply)
    if text:
        print(text)
    return EXIT_OK


# -- running commands ----------------------------------------------------------------


def control_endpoints(options: Mapping[str, Any]) -> list[str]:
    """Every endpoint ``--endpoint`` (or CIRCUSCTL_ENDPOINT) names, the default one without them."""
    from circus.multi_endpoint import split_endpoints

    given = options.get("endpoint")
    return split_endpoints([given] if isinstance(given, str) else given, DEFAULT_ENDPOINT_DEALER)


def control_endpoint(options: Mapping[str, Any]) -> str:
    return control_endpoints(options)[0]


def call(options: Mapping[str, Any], msg: dict) -> dict:
    """Send ``msg`` to circusd and return the reply (CallError on time out)."""
    client = CircusClient(
        endpoint=control_endpoint(options),
        timeout=options["timeout"],
        ssh_server=options.get("ssh"),
        ssh_keyfile=options.get("ssh_keyfile"),
    )
    try:
        return client.call(msg)
    finally:
        client.stop()


def listen(topics: Sequence[str], options: Mapping[str, Any]) -> int:
    """Print circusd's events as they arrive, until interrupted."""
    from circus.consumer import CircusConsumer

    given = options.get("endpoint")
    endpoint = (given[0] if isinstance(given, list) else given) or DEFAULT_ENDPOINT_SUB
    with CircusConsumer(topics, endpoint=endpoint, ssh_server=options.get("ssh"),
                        ssh_keyfile=options.get("ssh_keyfile")) as events:
        try:
            for topic, body in events:
                print("%s: %s" % (topic.decode("utf8", "replace"), body.decode("utf8", "replace")))
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def run(command: Command, args: Sequence[str], flags: dict[str, Any], options: Mapping[str, Any]) -> int:
    """Run one command with parsed arguments; return the exit status."""
    try:
        if command.name == "listen":
            return listen(command.message(*args)["properties"]["topics"], options)
        if isinstance(command, Logs) and flags.get("follow"):
            return command.follow(args, flags, options, lambda msg: call(options, msg))
        msg = command.message(*args, **flags)
        endpoints = control_endpoints(options)
        if len(endpoints) > 1:
            return _run_many(command, msg, options, endpoints)
        reply = call(options, msg)
    except ArgumentError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILURE
    except CallError as error:
        if str(error) == "Timed out.":
            print(_timed_out_hint(control_endpoint(options), options["timeout"]), file=sys.stderr)
        else:
            print(error, file=sys.stderr)
        return EXIT_FAILURE
    return show_reply(command, reply, options)


def _run_many(command: Command, msg: dict, options: Mapping[str, Any], endpoints: Sequence[str]) -> int:
    from circus.multi_endpoint import ask_all, show

    replies = ask_all(endpoints, msg, lambda endpoint, m: call(dict(options, endpoint=endpoint), m))
    return show(replies, command.console_msg, options)


def run_words(command: Command, words: Sequence[str], defaults: Mapping[str, Any]) -> int:
    """Parse a command's words and run it; return the exit status."""
    args, flags, options = parse_command_args(command, words, defaults)
    return run(command, args, flags, options)


# -- completion (circus.completion) -------------------------------------------------


def complete(words: Sequence[str], cword: int, commands: Mapping[str, Command], out: IO[str] | None = None) -> None:
    """Print the completions of word ``cword`` of ``words`` (bash's COMP_WORDS), space-separated."""
    from circus.completion import candidates

    current = words[cword] if cword < len(words) else ""
    print(" ".join(candidates([*words[1:cword], current], commands)), file=out or sys.stdout)


# -- interactive shell ---------------------------------------------------------------


def shell(options: Mapping[str, Any], commands: Mapping[str, Command]) -> int:
    """The interactive shell (``circusctl`` without a command)."""
    import cmd

    class CircusShell(cmd.Cmd):
        prompt = "(circusctl) "

        def default(self, line):
            words = shlex.split(line)
            command = commands.get(words[0]) if words else None
            if command is None:
                return super().default(line)  # "*** Unknown syntax: ..."
            try:
                run_words(command, words[1:], options)
            except SystemExit:
                pass  # argparse already printed what is wrong
            return False

        def emptyline(self):
            return False  # cmd.Cmd would repeat the last command

        def do_help(self, arg):
            if arg in commands:
                print(commands[arg].help)
            elif arg:
                print("*** No help on %s" % arg)
            else:
                print("Commands (help <command> for details):")
                for name in sorted(commands):
                    print("  %-22s%s" % (name, commands[name].summary))

        def do_EOF(self, arg):
            print()
            return True

        def completenames(self, text, *ignored):
            return [name for name in sorted(commands) + ["help"] if name.startswith(text)]

        def complete_help(self, text, *ignored):
            return [name for name in sorted(commands) if name.startswith(text)]

        def completedefault(self, text, line, begidx, endidx):
            from circus.completion import watcher_names

            return [n for n in watcher_names(control_endpoints(options)) if n.startswith(text)]

    print("circusctl %s" % __version__)
    run_words(commands["status"], [], options)
    history = _load_history()
    try:
        CircusShell().cmdloop()
    except KeyboardInterrupt:
        print()
    finally:
        _save_history(history)
    return EXIT_OK


def _load_history():
    """Load ~/.circusctl_history into readline; the path, or None without readline."""
    try:
        import readline
    except ImportError:
        return None
    path = os.path.expanduser("~/.circusctl_history")
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # no history yet
    return path


def _save_history(path):
    if path is None:
        return
    import readline

    try:
        readline.set_history_length(1000)
        readline.write_history_file(path)
    except OSError:
        pass  # a read-only home is no reason to fail


# -- entry point ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """The ``circusctl`` console script; returns the exit status."""
    commands = get_commands()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["completion"]:
        from circus import completion

        return completion.main(argv[1:], commands)
    if "AUTO_COMPLETE" in os.environ:
        words = os.environ.get("COMP_WORDS", "").split()
        complete(words, int(os.environ.get("COMP_CWORD", len(words))), commands)
        return EXIT_FAILURE
    parser = _main_parser(commands)
    parsed = parser.parse_args(argv)
    if parsed.version:
        print("circusctl %s" % __version__)
        return EXIT_OK
    command = commands.get(parsed.command) if parsed.command else None
    if parsed.command and command is None:
        parser.error("unknown command %r (circusctl --help lists them)" % parsed.command)
    if parsed.help:
        if command is None:
            parser.print_help()
        else:
            print(command.help)
        return EXIT_OK
    options = {k: v for k, v in vars(parsed).items() if k not in ("help", "version", "command", "args")}
    if command is None:
        return shell(options, commands)
    return run_words(command, parsed.args, options)


if __name__ == "__main__":
    sys.exit(main())
