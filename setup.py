"""Packaging of circus: ``pip install .`` (``.[test]``, ``.[docs]`` for extras)."""

import ast
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_dotted(name):
    """``name = (0, 19, 0)`` in circus/__init__.py -> ``'0.19.0'``.

    Parsed, not imported: the package's dependencies may not be installed
    yet, and an older Python refuses to import it.
    """
    with open(os.path.join(HERE, "circus", "__init__.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ".".join(str(part) for part in ast.literal_eval(node.value))
    raise RuntimeError("%s not found in circus/__init__.py" % name)


def read_readme():
    with open(os.path.join(HERE, "README.rst")) as f:
        return f.read()


setup(
    name="circus",
    version=read_dotted("version_info"),
    description="A process and socket supervisor",
    long_description=read_readme(),
    long_description_content_type="text/x-rst",
    packages=find_packages(include=["circus", "circus.*"]),
    package_data={"circus.web": ["templates/*.html", "static/*.js", "static/*.css"]},
    python_requires=">=" + read_dotted("python_requires"),
    # Written by ``python -m circus.manpages docs/man`` (a unit test keeps them current).
    data_files=[
        ("share/man/man1", ["docs/man/circusd.1", "docs/man/circusctl.1"]),
        ("share/man/man5", ["docs/man/circus.ini.5"]),
    ],
    install_requires=[
        "pyzmq",
        "tornado>=6",
        "psutil",
        "setproctitle",
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "hypothesis", "redis", "selenium", "sphinx", "uvicorn", "gunicorn", "mypy", "types-psutil", "prometheus_client"],
        "redis": ["redis"],
        "docs": ["sphinx"],
    },
    entry_points={
        "console_scripts": [
            "circusd=circus.circusd:main",
            "circusctl=circus.circusctl:main",
            "circus-plugin=circus.plugins:main",
            "circushttpd=circus.web.circushttpd:main",
            "circusd-stats=circus.stats:main",
            "circus-top=circus.stats.client:main",
        ],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: No Input/Output (Daemon)",
        "Intended Audience :: System Administrators",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: System :: Monitoring",
    ],
)
