"""Packaging of circus: ``pip install .`` (``.[test]``, ``.[docs]`` for extras)."""

import ast
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    """``version_info = (0, 19, 0)`` in circus/__init__.py -> ``'0.19.0'``.

    Parsed, not imported: the package's dependencies may not be installed yet.
    """
    with open(os.path.join(HERE, "circus", "__init__.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "version_info" for t in node.targets
        ):
            return ".".join(str(part) for part in ast.literal_eval(node.value))
    raise RuntimeError("version_info not found in circus/__init__.py")


def read_readme():
    with open(os.path.join(HERE, "README.rst")) as f:
        return f.read()


setup(
    name="circus",
    version=read_version(),
    description="A process and socket supervisor",
    long_description=read_readme(),
    long_description_content_type="text/x-rst",
    packages=find_packages(include=["circus", "circus.*"]),
    package_data={"circus.web": ["templates/*.html", "static/*.js", "static/*.css"]},
    python_requires=">=3.9",
    install_requires=[
        "pyzmq",
        "tornado>=6",
        "psutil",
        "setproctitle",
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "hypothesis", "redis", "selenium", "sphinx", "uvicorn", "gunicorn"],
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
        "Topic :: System :: Monitoring",
    ],
)
