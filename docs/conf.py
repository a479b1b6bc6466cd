"""Sphinx configuration of the circus documentation."""

import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # autodoc imports circus from this tree


def _version():
    """'0.19.0' from circus/__init__.py, without importing the package."""
    with open(os.path.join(ROOT, "circus", "__init__.py")) as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "version_info" for t in node.targets
            ):
                return ".".join(str(p) for p in ast.literal_eval(node.value))
    raise RuntimeError("version_info not found in circus/__init__.py")


project = "circus"
author = "the circus developers"
copyright = "the circus developers"
release = _version()
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
# The option table directive (circus-options) lives in docs/_ext.
if os.path.exists(os.path.join(HERE, "_ext", "optiontable.py")):
    sys.path.insert(0, os.path.join(HERE, "_ext"))
    extensions.append("optiontable")
if os.path.exists(os.path.join(HERE, "_ext", "commandlist.py")):
    extensions.append("commandlist")

master_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
autodoc_member_order = "bysource"
