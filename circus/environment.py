"""The environment a watcher's processes get.

Built from the watcher's ``env`` (the ``[env:NAME]`` section, or ``env`` sent
by ``add``/``set``), on top of circusd's own environment with ``copy_env``,
with circusd's ``sys.path`` as PYTHONPATH with ``copy_path``, and with a
virtualenv's ``bin`` and site-packages with ``virtualenv``.
"""

import os
import site
import sys


def build_env(name, env, copy_env=False, copy_path=False, virtualenv=None, virtualenv_py_ver=None):
    """The environment of watcher ``name``'s processes; ValueError naming the watcher if inconsistent."""
    full = dict(os.environ) if copy_env else {}
    full.update(env)
    if copy_path:
        if not copy_env:
            raise ValueError("watcher %r: copy_path needs copy_env" % name)
        full["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if virtualenv:
        if not copy_env:
            raise ValueError("watcher %r: virtualenv needs copy_env" % name)
        _add_virtualenv(name, full, virtualenv, virtualenv_py_ver)
    return full


def _add_virtualenv(name, env, virtualenv, py_ver):
    version = py_ver or "%d.%d" % sys.version_info[:2]
    site_packages = os.path.join(virtualenv, "lib", "python%s" % version, "site-packages")
    if not os.path.isdir(site_packages):
        raise ValueError("watcher %r: %s does not exist" % (name, site_packages))
    env["PATH"] = os.pathsep.join([os.path.join(virtualenv, "bin"), env.get("PATH", os.defpath)])
    paths = [site_packages]
    for entry in sorted(os.listdir(site_packages)):
        if entry.endswith(".pth"):
            with open(os.path.join(site_packages, entry)) as pth:
                paths += [
                    os.path.join(site_packages, line.strip())
                    for line in pth
                    if line.strip() and not line.startswith(("#", "import"))
                ]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)


def add_pythonpath_to_sys_path(env):
    """Make hooks importable from the PYTHONPATH of a watcher's environment."""
    for path in (env or {}).get("PYTHONPATH", "").split(os.pathsep):
        if path and path not in sys.path:
            site.addsitedir(path)
