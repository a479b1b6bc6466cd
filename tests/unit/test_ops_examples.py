"""examples/logrotate.conf, nginx.conf and Dockerfile agree with the ini files
they go with, and their own tools accept them (each skipped, with a reason,
when the tool is missing); the ini files themselves are loaded by
test_config.test_every_example_parses."""

import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from circus.config import get_config
from helpers import system_tool

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def streams(config):
    """Every (class, filename) of the watchers' output streams."""
    for watcher in config["watchers"]:
        for name in ("stdout_stream", "stderr_stream"):
            stream = watcher.get(name) or {}
            if stream.get("filename"):
                yield stream["class"], stream["filename"]


# -- logrotate -----------------------------------------------------------------


def logrotate_rules(text):
    """``{pattern: [directive, ...]}`` of a logrotate file (no nesting)."""
    rules = {}
    for patterns, body in re.findall(r"^([^#\s][^{]*)\{([^}]*)\}", text, flags=re.M):
        directives = [line.split("#")[0].strip() for line in body.splitlines()]
        for pattern in patterns.split():
            rules[pattern] = [d for d in directives if d]
    return rules


def test_logrotate_rotates_every_watched_file_of_its_ini_in_create_mode():
    rules = logrotate_rules((EXAMPLES / "logrotate.conf").read_text())
    files = list(streams(get_config(str(EXAMPLES / "logrotate.ini"))))
    assert files and all(cls == "WatchedFileStream" for cls, _ in files)
    for _, filename in files:
        matching = [p for p in rules if fnmatch.fnmatch(filename, p)]
        assert matching, "%s is rotated by no rule" % filename
        directives = [d.split()[0] for p in matching for d in rules[p]]
        assert "create" in directives and "copytruncate" not in directives and "postrotate" not in directives


def test_logrotate_debug_mode_accepts_the_snippet(tmp_path):
    logrotate = system_tool("logrotate")
    conf = tmp_path / "circus"
    shutil.copy(EXAMPLES / "logrotate.conf", conf)
    conf.chmod(0o644)  # logrotate refuses a group- or world-writable file
    done = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(conf)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    assert "rotating pattern: /var/log/circus/*.log" in done.stdout + done.stderr


def test_logrotate_rules_parser_sees_the_directives():
    assert logrotate_rules("/a/*.log /b.log {\n  daily # often\n  create\n}\n") == {
        "/a/*.log": ["daily", "create"], "/b.log": ["daily", "create"]}


# -- nginx ---------------------------------------------------------------------


def nginx_blocks(text):
    """The nginx config as nested ``(name args, [children])``; braces must balance."""
    tokens = re.findall(r"[{};]|\"[^\"]*\"|[^\s{};]+", re.sub(r"#[^\n]*", "", text))
    root, stack, words = [], [], []
    current = root
    for token in tokens:
        if token == "{":
            block = (" ".join(words), [])
            current.append(block)
            stack.append(current)
            current, words = block[1], []
        elif token == "}":
            assert stack and not words, "unbalanced } or a directive without ;"
            current = stack.pop()
        elif token == ";":
            current.append((" ".join(words), None))
            words = []
        else:
            words.append(token)
    assert not stack and not words, "unclosed block or a directive without ;"
    return root


def find(blocks, prefix):
    """Every entry of ``blocks`` (recursively) whose text starts with ``prefix``."""
    for text, children in blocks:
        if text.startswith(prefix):
            yield text, children
        if children:
            yield from find(children, prefix)


def test_nginx_proxies_to_the_unix_socket_circusd_binds():
    blocks = nginx_blocks((EXAMPLES / "nginx.conf").read_text())
    assert [text for text, _ in blocks if _ is not None] == ["events", "http"]
    (upstream, servers), = find(blocks, "upstream ")
    name = upstream.split()[1]
    assert [text for text, _ in find(blocks, "proxy_pass ")] == ["proxy_pass http://%s" % name]
    sockets = get_config(str(EXAMPLES / "nginx.ini"))["sockets"]
    assert [text for text, _ in servers] == ["server unix:%s" % s["path"] for s in sockets]
    watchers = get_config(str(EXAMPLES / "nginx.ini"))["watchers"]
    assert all(w["use_sockets"] and "$(circus.sockets.web)" in w["cmd"] for w in watchers)


def test_the_nginx_parser_refuses_unbalanced_braces():
    with pytest.raises(AssertionError):
        nginx_blocks("http { server { listen 80; }")
    with pytest.raises(AssertionError):
        nginx_blocks("events { worker_connections 1 }")


def test_nginx_t_accepts_the_config(tmp_path):
    nginx = system_tool("nginx")
    (tmp_path / "logs").mkdir()
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(EXAMPLES / "nginx.conf"), "-g", "pid %s;" % (tmp_path / "nginx.pid")],
        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# -- Dockerfile ----------------------------------------------------------------


def dockerfile_instructions(text):
    """``[(INSTRUCTION, arguments)]``, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in joined.splitlines() if line.strip()]  # fmt: skip


def test_the_dockerfile_runs_circusd_as_init_on_the_copied_example_config():
    instructions = dockerfile_instructions((EXAMPLES / "Dockerfile").read_text())
    assert instructions[0][0] == "FROM"
    cmds = [args for name, args in instructions if name == "CMD"]
    assert len(cmds) == 1
    argv = json.loads(cmds[0])  # exec form: circusd gets the signals itself
    assert argv[:2] == ["circusd", "--init"]
    copies = {}
    for name, args in instructions:
        if name == "COPY":
            *sources, destination = args.split()
            for source in sources:
                assert (ROOT / source).exists(), "COPY of a missing %s" % source
                target = destination + os.path.basename(source) if destination.endswith("/") else destination
                copies[target] = source
    assert copies[argv[-1]] == "examples/docker.ini"
    config = get_config(str(ROOT / copies[argv[-1]]))
    for watcher in config["watchers"]:
        program = watcher["cmd"].split()[1]
        assert copies[program].startswith("examples/"), program
    assert ("STOPSIGNAL", "SIGTERM") in instructions


def test_the_dockerfile_installs_what_setup_py_reads():
    instructions = dockerfile_instructions((EXAMPLES / "Dockerfile").read_text())
    copied = " ".join(args for name, args in instructions if name == "COPY")
    for needed in ("setup.py", "README.rst", "MANIFEST.in", "circus", "docs/man"):
        assert needed in copied.split(), needed
