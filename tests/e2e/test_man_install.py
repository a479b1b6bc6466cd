"""``pip install`` puts the man pages where man finds them."""

import os
import shutil
import subprocess
import sys

from helpers import REPO_ROOT, system_tool

# What a source distribution holds: enough for setup.py to build and install.
SOURCES = ("setup.py", "README.rst", "MANIFEST.in", "circus", "docs/man")


def test_pip_install_puts_the_man_pages_under_share_man(tmp_path):
    man = system_tool("man")
    tree = tmp_path / "src"
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy(source, tree / name)
    prefix = tmp_path / "prefix"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--prefix", str(prefix),
                           str(tree)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    share = prefix / "share" / "man"
    assert sorted(p.name for p in share.glob("man*/*")) == ["circus.ini.5", "circusctl.1", "circusd.1"]
    env = dict(os.environ, MANPATH=str(share), MANPAGER="cat", PAGER="cat", MANWIDTH="80", LC_ALL="C.UTF-8")
    for page, title in (("circusd", "CIRCUSD(1)"), ("circusctl", "CIRCUSCTL(1)"), ("5 circus.ini", "CIRCUS.INI(5)")):
        shown = subprocess.run([man, *page.split()], capture_output=True, text=True, env=env, timeout=60)
        assert shown.returncode == 0 and shown.stdout.startswith(title), shown.stderr
