"""Shell completion of circusctl: ``circusctl completion bash|zsh|fish``.

Each script is a thin shell function that hands the words of the line to
``circusctl completion --words -- WORD...`` (bash: ``--line`` with the line up
to the cursor, since bash splits ``ipc://...`` at its colons) and offers what
it prints, one candidate a line. The candidates are computed here, once for
the three shells:

- the command names of the registry (``circus.commands``), and ``completion``;
- the watcher names of the running circusd, asked with ``list`` on the
  ``--endpoint`` given on the line, for the commands whose
  first argument is a watcher name; nothing when circusd does not answer;
- the keys of the option table for ``set`` (the keys a live watcher accepts)
  and ``get`` (every watcher key);
- the global options and the command's flags for a word starting with ``-``.
"""

import shlex
import sys
from typing import IO, Mapping, Sequence

from circus.commands import Command

SHELLS = ("bash", "zsh", "fish")

# Global options of circusctl that take a value.
VALUED = ("--endpoint", "--timeout", "--ssh", "--ssh_keyfile")
GLOBAL_FLAGS = ("--endpoint", "--timeout", "--json", "--prettify", "--ssh", "--ssh_keyfile", "--help", "--version")
_LIST_TIMEOUT = 1.0

_BASH = """\
# bash completion of circusctl, printed by `circusctl completion bash`.
# Load it from ~/.bashrc:  eval "$(circusctl completion bash)"
_circusctl() {
    local IFS=$'\\n'
    COMPREPLY=( $(command "${COMP_WORDS[0]}" completion --line "${COMP_LINE:0:COMP_POINT}" 2>/dev/null) )
}
complete -o default -F _circusctl circusctl
"""

_ZSH = """\
#compdef circusctl
# zsh completion of circusctl, printed by `circusctl completion zsh`.
# Load it from ~/.zshrc after compinit:  eval "$(circusctl completion zsh)"
# or save it as _circusctl in a directory of $fpath.
_circusctl() {
    local -a candidates
    candidates=( ${(f)"$(command ${words[1]} completion --words -- "${(@)words[2,CURRENT]}" 2>/dev/null)"} )
    compadd -a candidates
}
if (( $+functions[compdef] )); then
    compdef _circusctl circusctl
fi
"""

_FISH = """\
# fish completion of circusctl, printed by `circusctl completion fish`.
# Save it:  circusctl completion fish > ~/.config/fish/completions/circusctl.fish
function __circusctl_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    command $tokens[1] completion --words -- $tokens[2..-1] "$current" 2>/dev/null
end
complete -c circusctl -f -a '(__circusctl_complete)'
"""

SCRIPTS = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}


def takes_name(command: Command) -> bool:
    """Whether the first argument of ``command`` is a watcher name."""
    return command.usage.startswith(("<name>", "[<name>]"))


def watcher_names(endpoints: Sequence[str]) -> list[str]:
    """The watcher names circusd gives to ``list``; empty if it does not answer.

    ``endpoints`` are the ``--endpoint`` values of the line (none: the
    default one, or CIRCUSCTL_ENDPOINT). Never through ``--ssh``: a tunnel
    asking for a password would hang the shell.
    """
    from circus.circusctl import call
    from circus.client import make_message
    from circus.exc import CallError

    options = {"endpoint": list(endpoints) or None, "timeout": _LIST_TIMEOUT}
    try:
        reply = call(options, make_message("list"))
    except (CallError, ValueError):
        return []
    return reply.get("watchers", []) if reply.get("status") == "ok" else []


def option_keys(command_name: str) -> list[str]:
    """The keys ``set`` (live-settable ones) or ``get`` (all) accept, from the option table."""
    from circus import options

    rows = [row for row in options.rows("watcher") if not row.prefix]
    if command_name == "set":
        rows = [row for row in rows if options.settable(row.name) is not None]
    return [row.name for row in rows]


def _parse(words: Sequence[str], commands: Mapping[str, Command]):
    """``(command name or None, its positional arguments, the --endpoint values)``."""
    command, args, endpoints = None, [], []
    valued = set(VALUED)
    index = 0
    while index < len(words):
        word = words[index]
        flag, equals, value = word.partition("=")
        if word in valued and index + 1 < len(words):
            if word == "--endpoint":
                endpoints.append(words[index + 1])
            index += 1
        elif equals and flag == "--endpoint":
            endpoints.append(value)
        elif word.startswith("-"):
            pass
        elif command is None:
            command = word
            if word in commands:
                valued |= {"--" + f.name for f in commands[word].options if f.kind is not bool}
                valued |= {"-" + f.short for f in commands[word].options if f.short and f.kind is not bool}
        else:
            args.append(word)
        index += 1
    return command, args, endpoints


def candidates(words: Sequence[str], commands: Mapping[str, Command]) -> list[str]:
    """What may replace the last of ``words`` (the words after ``circusctl``, the last one partial)."""
    if not words:
        words = [""]
    current = words[-1]
    name, args, endpoints = _parse(words[:-1], commands)
    command = commands.get(name) if name else None
    if current.startswith("-"):
        found = list(GLOBAL_FLAGS)
        if command is not None:
            found += ["--" + f.name for f in command.options]
    elif name is None:
        found = sorted(list(commands) + ["completion"])
    elif name == "completion":
        found = list(SHELLS) if not args else []
    elif command is None:
        found = []
    elif not args and takes_name(command):
        found = watcher_names(endpoints)
    elif name == "set" and len(args) % 2 == 1 or name == "get" and args:
        found = option_keys(name)
    else:
        found = []
    return [c for c in found if c.startswith(current)]


def line_words(line: str) -> list[str]:
    """The words after the program name of a (partial) command line; the last one may be ``""``."""
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: the user is still typing
        words = line.split()
    if not line or line[-1].isspace():
        words.append("")
    return words[1:]


def main(argv: Sequence[str], commands: Mapping[str, Command], out: IO[str] | None = None) -> int:
    """``circusctl completion SHELL`` (print the script) or the scripts' ``--words``/``--line`` call."""
    out = out or sys.stdout
    if argv[:1] == ["--line"] and len(argv) == 2:
        found = candidates(line_words(argv[1]), commands)
    elif argv[:2] == ["--words", "--"]:
        found = candidates(argv[2:], commands)
    elif len(argv) == 1 and argv[0] in SCRIPTS:
        out.write(SCRIPTS[argv[0]])
        return 0
    else:
        print("usage: circusctl completion %s" % "|".join(SHELLS), file=sys.stderr)
        return 2
    out.write("".join(c + "\n" for c in found))
    return 0
