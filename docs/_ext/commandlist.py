"""Sphinx extension: the commands page, from the command classes' docstrings.

Usage in a page::

    .. circus-commands::

renders, for every command of ``circus.commands.get_commands()`` in name
order, a section titled with the command name whose body is the command's
docstring (summary line, ``ZMQ message`` and ``Command line``). Enable it in
conf.py with ``extensions.append("commandlist")`` (``docs/_ext`` on sys.path).
"""

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

from circus.commands import get_commands

# The docstrings underline their parts with "-"; command titles use "~" so
# that the parts nest under them, whatever the page uses above.
_TITLE = "~"


def render():
    """The reStructuredText of every command, as lines."""
    lines = []
    commands = get_commands()
    for name in sorted(commands):
        lines += [name, _TITLE * len(name), ""]
        lines += commands[name].help.splitlines()
        lines.append("")
    return lines


class CommandList(Directive):
    has_content = False

    def run(self):
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(render(), source="circus.commands"), node)
        return node.children


def setup(app):
    app.add_directive("circus-commands", CommandList)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
