"""Sphinx extension: render the option table of circus.options into the docs.

Usage in a page::

    .. circus-options:: watcher

renders every row of that section (``circus``, ``watcher`` or ``socket``) as a
table of key, default, live change and description.  Enable it in conf.py with
``sys.path.insert(0, os.path.abspath("_ext"))`` and ``extensions = ["optiontable"]``.
"""

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

from circus import options
from circus.convert import signal_name

_LIVE = {
    options.Live.NONE: "at once",
    options.Live.MANAGE: "next manage pass",
    options.Live.RELOAD: "graceful restart",
    options.Live.READONLY: "restart circusd",
}


def _default(row):
    if row.prefix or row.default is None:
        return ""
    if row.name == "stop_signal":
        return "``%s``" % signal_name(row.default)
    if isinstance(row.default, bool):
        return "``%s``" % str(row.default).lower()
    if row.default == "":
        return '``""``'
    return "``%s``" % row.default


def _key(row):
    if not row.prefix:
        return "``%s``" % row.name
    return "``%sNAME``" % row.name if row.name.endswith("_") else "``%sOPTION``" % row.name


def _text(doc):
    """A doc line as literal text: no emphasis, no substitution, no role."""
    for char in "\\*`|":
        doc = doc.replace(char, "\\" + char)
    return doc


def render(section):
    """The reStructuredText list-table of ``section``'s rows, as lines."""
    rows = options.rows(section)
    if not rows:
        raise ValueError("no option section %r (one of %s)" % (section, ", ".join(options.SECTIONS)))
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 20 20 15 45",
        "",
        "   * - key",
        "     - default",
        "     - live change",
        "     - meaning",
    ]
    for row in rows:
        lines += [
            "   * - %s" % _key(row),
            "     - %s" % _default(row),
            "     - %s" % _LIVE[row.live],
            "     - %s" % _text(row.doc),
        ]
    return lines


class CircusOptions(Directive):
    """``.. circus-options:: SECTION``"""

    required_arguments = 1
    has_content = False

    def run(self):
        try:
            lines = render(self.arguments[0])
        except ValueError as exc:
            raise self.error(str(exc)) from None
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source="circus.options"), self.content_offset, node)
        return node.children


def setup(app):
    app.add_directive("circus-options", CircusOptions)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
