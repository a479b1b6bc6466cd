"""The man pages circusd(1), circusctl(1) and circus.ini(5), in roff.

They are written from what the Sphinx docs read: circusd's and circusctl's
argument parsers, the command registry (``circus.commands``) and the option
table (``circus.options``). The tree ships them generated, in ``docs/man``,
and ``pip install`` puts them under ``share/man``; after changing an option,
a command or a flag, write them again with::

    python -m circus.manpages docs/man

(a unit test fails while the shipped pages differ from what this prints).
"""

import argparse
import signal
import sys
from pathlib import Path
from typing import Callable, Sequence

from circus import __version__, options
from circus.option_text import LIVE_TEXT, default_text, key_text

_SECTION_TITLES = {
    "circus": "[circus]",
    "watcher": "[watcher:NAME]",
    "socket": "[socket:NAME]",
}


def _escape(text: str) -> str:
    """``text`` safe as roff input text: backslashes escaped, no control line."""
    text = text.replace("\\", "\\e")
    return "\\&" + text if text.startswith((".", "'")) else text


def _literal(text: str) -> str:
    """``text`` escaped, its hyphens as the minus sign of options and commands."""
    return _escape(text).replace("-", "\\-")


def _bold(text: str) -> str:
    return "\\fB%s\\fR" % _literal(text)


class Page:
    """One man page being written: a header, then sections of paragraphs and items."""

    def __init__(self, name: str, section: int, summary: str) -> None:
        self.lines = [
            '.TH "%s" "%d" "" "circus %s" "circus manual"' % (name.upper(), section, __version__),
            ".nh",  # no hyphenation: it would split option names
            ".SH NAME",
            "%s \\- %s" % (_literal(name), _escape(summary)),
        ]

    def heading(self, title: str) -> None:
        self.lines.append('.SH "%s"' % _escape(title.upper()))

    def para(self, *lines: str) -> None:
        self.lines.append(".PP")
        self.lines += [_escape(line) for line in lines]

    def raw(self, *lines: str) -> None:
        """Lines already in roff."""
        self.lines += lines

    def item(self, term: str, *lines: str) -> None:
        """A tagged paragraph: ``term`` (roff), then ``lines`` (text), one a line."""
        self.lines += [".TP", term]
        for index, line in enumerate(lines):
            self.lines += [".br"] if index else []
            self.lines.append(_escape(line))

    def example(self, *lines: str) -> None:
        self.lines += [".PP", ".RS", ".nf"]
        self.lines += [_escape(line) for line in lines]
        self.lines += [".fi", ".RE"]

    def see_also(self, *pages: str) -> None:
        self.heading("see also")
        refs = [page.rstrip(")").split("(") for page in pages]
        self.raw(",\n".join("\\fB%s\\fR(%s)" % (_literal(name), number) for name, number in refs))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _parser_items(page: Page, parser: argparse.ArgumentParser) -> None:
    """One item per visible argument of ``parser``."""
    for action in parser._actions:  # argparse has no public list of its arguments
        if action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        term = ", ".join(_literal(s) for s in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or "|".join(action.choices or ()) or action.dest.upper()
            term += " \\fI%s\\fR" % _literal(str(metavar))
        page.item("\\fB%s\\fR" % term, action.help or "")


def _signal_items(page: Page) -> None:
    from circus.signals import IGNORED_SIGNALS, STOP_SIGNALS

    def names(signals):
        return ", ".join(signal.Signals(s).name for s in signals)

    page.item(_bold(names(STOP_SIGNALS)), "Stop every watcher gracefully, close the sockets, remove the pid file, exit 0.")
    page.item(_bold(names([signal.SIGHUP])),
              "Read the configuration file again and apply the differences (as circusctl reloadconfig).")
    page.item(_bold(names([signal.SIGUSR2])),
              "Upgrade circusd in place (as circusctl upgrade): check the configuration with the code on disk, "
              "then re-execute circusd on it, keeping its pid, its sockets and its running processes.")
    page.item(_bold(names(IGNORED_SIGNALS)), "Logged and ignored: they never kill circusd nor orphan its processes.")


def circusd_page() -> str:
    from circus.circusd import build_parser

    page = Page("circusd", 1, "run programs, watch them and bind their sockets")
    page.heading("synopsis")
    page.raw(".B circusd", "[\\fIoptions\\fR] [\\fIconfig\\fR]")
    page.heading("description")
    page.para(
        "circusd reads the ini file config (see circus.ini(5)), binds the sockets it declares,",
        "starts the processes of its watchers and keeps them running: a process that dies is",
        "replaced, a watcher can be started, stopped, resized and reconfigured while circusd",
        "runs, through circusctl(1) or any client of its JSON protocol over ZeroMQ.",
        "Without config, circusd prints its usage and exits.",
    )
    page.heading("options")
    _parser_items(page, build_parser())
    page.heading("signals")
    _signal_items(page)
    page.heading("exit status")
    page.para("0 after a stop by signal or by the quit command; 1 when the configuration cannot be",
              "loaded, an endpoint or a socket cannot be bound, or the pid file names a live process.")
    page.heading("example")
    page.example("circusd --log-level debug /etc/circus/circus.ini",
                 "circusd --daemon --pidfile /run/circusd.pid circus.ini")
    page.see_also("circusctl(1)", "circus.ini(5)")
    return page.text()


def _command_term(command) -> str:
    words = "\\fB%s\\fR" % _literal(command.name)
    if command.usage:
        words += " \\fI%s\\fR" % _literal(command.usage)
    return words


def _flag_text(flag) -> str:
    names = "--" + flag.name + (", -" + flag.short if flag.short else "")
    if flag.kind is not bool:
        names += " " + (flag.metavar or flag.name.upper())
    return "%s: %s." % (names, flag.help.rstrip("."))


def circusctl_page() -> str:
    from circus.circusctl import _main_parser
    from circus.commands import get_commands

    commands = get_commands()
    page = Page("circusctl", 1, "control a running circusd")
    page.heading("synopsis")
    page.raw(".B circusctl", "[\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]",
             ".br", ".B circusctl completion", "\\fIbash\\fR|\\fIzsh\\fR|\\fIfish\\fR")
    page.heading("description")
    page.para(
        "circusctl sends one command to circusd(1) over its ZeroMQ control endpoint and prints",
        "the reply. Without a command it opens an interactive shell (help lists the commands,",
        "tab completes command and watcher names).",
    )
    page.heading("options")
    page.para("Global options go before the command or after it.")
    _parser_items(page, _main_parser(commands))
    page.heading("commands")
    for name in sorted(commands):
        command = commands[name]
        page.item(_command_term(command), command.summary + ".", *map(_flag_text, command.options))
    page.item("\\fBcompletion\\fR \\fIshell\\fR",
              "Print the completion script of bash, zsh or fish (see COMPLETION).")
    page.heading("completion")
    page.para("The script completes command names, the watcher names of the running circusd",
              "(asked with the --endpoint given on the line) and the option names of set and get.")
    page.example("# bash, in ~/.bashrc", 'eval "$(circusctl completion bash)"',
                 "# zsh, in ~/.zshrc (after compinit)", 'eval "$(circusctl completion zsh)"',
                 "# fish", "circusctl completion fish > ~/.config/fish/completions/circusctl.fish")
    page.heading("environment")
    page.item(_bold("CIRCUSCTL_ENDPOINT"), "The control endpoint (or comma-separated endpoints) when --endpoint is not given.")
    page.heading("exit status")
    page.para("0 ok (and every --json output), 1 no reply or bad arguments,",
              "2 unknown command or bad global option, 3 error reply.")
    page.heading("example")
    page.example("circusctl --endpoint ipc:///run/circus/ctl.sock status",
                 "circusctl incr web 2 --waiting", "circusctl set web graceful_timeout 10")
    page.see_also("circusd(1)", "circus.ini(5)")
    return page.text()


def _row_facts(row: options.Option) -> str:
    default = default_text(row)
    facts = [] if default is None else ["Default: %s." % default]
    facts.append("Live change: %s." % LIVE_TEXT[row.live])
    return " ".join(facts)


def ini_page() -> str:
    page = Page("circus.ini", 5, "configuration file of circusd")
    page.heading("description")
    page.para(
        "circusd(1) reads an ini file: a [circus] section for the daemon, one [watcher:NAME]",
        "section per group of processes, one [socket:NAME] section per socket circusd binds,",
        "[env:NAMES] sections adding environment variables to the watchers they name, and",
        "[plugin:NAME] sections loading plugins (use = dotted.path of the class, the other",
        "keys are the plugin's). Values may use $(circus.env.VAR) for an environment",
        "variable of circusd, $(circus.sockets.NAME) for the fd of a socket and",
        "$(circus.wid) for the number of a process within its watcher.",
    )
    for section in options.SECTIONS:
        page.heading("%s section" % _SECTION_TITLES[section])
        for row in options.rows(section):
            page.item(_bold(key_text(row)), row.doc, _row_facts(row))
    page.heading("example")
    page.example(
        "[circus]", "endpoint = ipc:///run/circus/ctl.sock", "",
        "[socket:web]", "host = 0.0.0.0", "port = 8000", "",
        "[watcher:web]", "cmd = python -m myapp --fd $(circus.sockets.web)",
        "use_sockets = true", "numprocesses = 4",
    )
    page.see_also("circusd(1)", "circusctl(1)")
    return page.text()


PAGES: dict[str, Callable[[], str]] = {
    "circusd.1": circusd_page,
    "circusctl.1": circusctl_page,
    "circus.ini.5": ini_page,
}


def write(directory: Path) -> list[Path]:
    """Write every page into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, render in PAGES.items():
        path = directory / filename
        path.write_text(render())
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circus.manpages", description="Write the man pages.")
    parser.add_argument("directory", type=Path, help="where to write circusd.1, circusctl.1, circus.ini.5")
    args = parser.parse_args(argv)
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
