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
from circus.option_text import LIVE_TEXT, default_text, key_text


def _default(row):
    text = default_text(row)
    return "" if text is None else "``%s``" % text


def _key(row):
    return "``%s``" % key_text(row)


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
            "     - %s" % LIVE_TEXT[row.live],
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
