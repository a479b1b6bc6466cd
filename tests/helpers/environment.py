"""Where the tree is, and the environment a child interpreter needs to import it."""

import os
import shlex
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def repo_env(extra=None):
    """``os.environ`` with the tree first in PYTHONPATH, updated with ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def circusctl_on_path(directory, extra=None):
    """``repo_env(extra)`` whose PATH finds a ``circusctl`` of this tree, written into ``directory``.

    For shells and scripts that run ``circusctl`` by name. CIRCUSCTL_ENDPOINT
    is left out, so that only the endpoints given on the command line count.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "circusctl"
    script.write_text("#!/bin/sh\nexec %s -m circus.circusctl \"$@\"\n" % shlex.quote(sys.executable))
    script.chmod(0o755)
    env = repo_env(dict({"PATH": "%s%s%s" % (directory, os.pathsep, os.environ["PATH"])}, **(extra or {})))
    env.pop("CIRCUSCTL_ENDPOINT", None)
    return env


def system_tool(name):
    """The path of program ``name`` (PATH, then /usr/sbin and /sbin); skip the test without it.

    .ci/run installs the tools the tests drive (groff, man, zsh, fish, nginx,
    logrotate) with apt-get when it can.
    """
    import pytest

    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip("%s is not installed (.ci/run installs it with apt-get)" % name)
    return found
