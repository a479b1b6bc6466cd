"""The Python floor is the same everywhere it is stated, and true."""

import glob
import os
import re
import runpy
import shutil
import subprocess
import sys
import types

import pytest

import circus
from helpers import REPO_ROOT


def _setup_keywords(monkeypatch):
    """What setup.py passes to setuptools.setup() (setuptools need not be installed)."""
    captured = {}
    fake = types.ModuleType("setuptools")
    fake.setup = lambda **kw: captured.update(kw)
    fake.find_packages = lambda **kw: []
    monkeypatch.setitem(sys.modules, "setuptools", fake)
    monkeypatch.chdir(REPO_ROOT)
    runpy.run_path(str(REPO_ROOT / "setup.py"))
    return captured


def test_python_requires_is_the_floor_circus_declares(monkeypatch):
    floor = ".".join(map(str, circus.python_requires))
    assert _setup_keywords(monkeypatch)["python_requires"] == ">=" + floor
    assert sys.version_info >= circus.python_requires


def test_readme_installation_page_and_tox_state_the_same_floor():
    floor = "%d.%d" % circus.python_requires
    readme = (REPO_ROOT / "README.rst").read_text().split("\n\n")[1]
    assert "Python %s+" % floor in readme
    assert "Python %s or later" % floor in (REPO_ROOT / "docs" / "installation.rst").read_text()
    envlist = re.search(r"^envlist = (.*)$", (REPO_ROOT / "tox.ini").read_text(), re.M).group(1)
    assert envlist.split(", ")[0] == "py" + floor.replace(".", "")


def test_the_floor_is_not_below_what_the_code_uses():
    # asyncio.timeout() is new in Python 3.11.
    users = [p.name for p in (REPO_ROOT / "circus").rglob("*.py") if "asyncio.timeout(" in p.read_text()]
    assert users, "nothing uses asyncio.timeout any more: the floor may go down"
    assert circus.python_requires >= (3, 11), users


OLDER = [v for v in ("3.9", "3.10") if tuple(map(int, v.split("."))) < circus.python_requires]


def _interpreter(version):
    """A working python``version`` on this machine (pyenv's own builds first: its shims may refuse), or None."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python" + version)))
    candidates.append(shutil.which("python" + version))
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


@pytest.mark.parametrize("version", OLDER)
def test_an_older_python_refuses_to_import_circus_naming_the_floor(version):
    interpreter = _interpreter(version)
    if interpreter is None:
        pytest.skip("no working python%s on this machine" % version)
    done = subprocess.run([interpreter, "-c", "import circus"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        "ImportError: circus 0.19.0 needs Python %d.%d or later; this is Python %s" % (circus.python_requires + (version,)))
