"""Where the tree is, and the environment a child interpreter needs to import it."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def repo_env(extra=None):
    """``os.environ`` with the tree first in PYTHONPATH, updated with ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env
