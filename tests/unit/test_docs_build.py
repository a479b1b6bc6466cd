"""The documentation builds without a warning (the option and command pages are generated)."""

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_sphinx_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(DOCS), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "html" / "configuration.html").read_text()
    assert "numprocesses" in page and "graceful_timeout" in page
    assert "reloadconfig" in (tmp_path / "html" / "commands.html").read_text()
