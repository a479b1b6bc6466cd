"""Ini file -> validated configuration dicts.

``get_config(path)`` reads the main file and its includes, checks every
section and key against the option table (``circus.options``), resolves the
environments of the watchers and returns plain dicts for the arbiter.  Any
problem raises ``ConfigError`` naming the file, the section and the key; this
module owns no default and no key list of its own.
"""

import configparser
import fnmatch
import glob
import logging
import os
import re
from dataclasses import dataclass, field

from circus import options
from circus.depends import DependencyError, start_order
from circus.exc import ConfigError
from circus.sockets import check_address
from circus.substitute import parse_env_dict, replace_gnu_args
from circus.watcher_keys import place_key, plugin_watcher_name

logger = logging.getLogger("circus.config")

_REM = re.compile(r"^rem(\s|$)", re.IGNORECASE)
_KINDS = ("env:", "watcher:", "socket:", "plugin:")


@dataclass
class _Section:
    """One section, merged over all files: each key remembers the file it came from."""

    title: str
    filename: str
    items: dict = field(default_factory=dict)  # key -> (value, filename)

    def value(self, key, default=None):
        return self.items[key][0] if key in self.items else default

    def error(self, message, key=None):
        filename = self.items[key][1] if key in self.items else self.filename
        return ConfigError(message, filename, self.title, key)


# -- reading files ---------------------------------------------------------


def _parser():
    parser = configparser.ConfigParser(
        interpolation=None,
        strict=True,
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=(";", "#"),
        empty_lines_in_values=False,
    )
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # option names are case-sensitive
    return parser


def _lines(filename):
    """The file's lines, with ``rem`` comment lines blanked (line numbers kept)."""
    try:
        with open(filename, encoding="utf-8") as stream:
            text = stream.read()
    except UnicodeDecodeError as exc:
        raise ConfigError("is not UTF-8 text (%s)" % exc.reason, filename) from None
    except OSError as exc:
        raise ConfigError("cannot be read: %s" % exc.strerror, filename) from None
    return ["\n" if _REM.match(line) else line for line in text.splitlines(True)]


def _parse_error(exc, filename):
    """A ConfigError for a configparser error, naming the line."""
    if isinstance(exc, configparser.DuplicateOptionError):
        return ConfigError(
            "key defined twice in the same section (line %s)" % exc.lineno,
            filename, exc.section, exc.option,
        )
    if isinstance(exc, configparser.DuplicateSectionError):
        return ConfigError("section defined twice (line %s)" % exc.lineno, filename, exc.section)
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return ConfigError(
            "line %d: %r comes before any [section]" % (exc.lineno, exc.line.strip()), filename
        )
    if isinstance(exc, configparser.ParsingError):
        lineno, line = exc.errors[0]
        return ConfigError(
            "line %d: cannot parse %r (expected 'key = value')" % (lineno, line.strip()), filename
        )
    return ConfigError(str(exc), filename)


def _read(filename):
    """``[(title, {key: value})]`` of one file, in file order."""
    parser = _parser()
    try:
        parser.read_file(_lines(filename), source=filename)
    except configparser.Error as exc:
        raise _parse_error(exc, filename) from None
    return [
        (title, {key: "" if value == '""' else value for key, value in parser.items(title)})
        for title in parser.sections()
    ]


def _merge(sections, filename, parsed):
    """Merge a file's sections into ``sections``: what is already there wins."""
    for title, items in parsed:
        section = sections.setdefault(title, _Section(title, filename))
        for key, value in items.items():
            section.items.setdefault(key, (value, filename))


# -- includes --------------------------------------------------------------


def _include_patterns(circus, base_dir):
    """``[(key, pattern)]`` from include and include_dir of the main [circus]."""
    environ = dict(os.environ)
    patterns = []
    for word in replace_gnu_args(circus.value("include", ""), env=environ).split():
        patterns.append(("include", os.path.join(base_dir, word)))
    for word in replace_gnu_args(circus.value("include_dir", ""), env=environ).split():
        directory = os.path.join(base_dir, word)
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise circus.error("%r is not a directory" % word, "include_dir")
        patterns.append(("include_dir", os.path.join(directory, "*.ini")))
    return patterns


def _included_files(circus, base_dir):
    """Files named by the includes, sorted within each pattern, each once."""
    files = []
    for key, pattern in _include_patterns(circus, base_dir):
        matches = sorted(glob.glob(pattern))
        if not matches:
            if os.path.islink(pattern):
                raise circus.error("%r is a broken link" % pattern, key)
            logger.warning("%s: [circus] %s %r matches no file", circus.filename, key, pattern)
        for match in matches:
            if os.path.isdir(match):
                raise circus.error("%r names a directory, not a file" % match, key)
            if not os.path.exists(match):
                raise circus.error("%r is a broken link" % match, key)
            match = os.path.abspath(match)
            if match not in files:
                files.append(match)
    return files


def _load_sections(path):
    """All sections of the main file and its includes, merged (first wins)."""
    if not os.path.exists(path):
        raise ConfigError("the configuration file does not exist", path)
    if os.path.isdir(path):
        raise ConfigError("is a directory, not a configuration file", path)
    parsed = _read(path)
    if not parsed:
        raise ConfigError("has no section: is it empty?", path)
    sections: dict[str, _Section] = {}
    _merge(sections, path, parsed)
    circus = sections.get("circus", _Section("circus", path))
    for included in _included_files(circus, os.path.dirname(path)):
        if included == path:
            continue
        parsed = _read(included)
        if not parsed:
            logger.warning("%s: included file has no section", included)
        for title, items in parsed:
            if title == "circus" and ({"include", "include_dir"} & set(items)):
                logger.warning("%s [circus]: includes are not nested; ignored", included)
        _merge(sections, included, parsed)
    return sections


# -- sections ----------------------------------------------------------------


def _kind(section):
    """('circus'|'env'|'env:'|'watcher:'|'socket:'|'plugin:', name) of a section."""
    if section.title in ("circus", "env"):
        return section.title, None
    for kind in _KINDS:
        if section.title.startswith(kind):
            name = section.title[len(kind):].strip()
            if not name:
                raise section.error("has no name after %r" % kind)
            return kind, name
    raise section.error(
        "unknown section type (known: [circus], [env], [env:PATTERNS], "
        "[watcher:NAME], [socket:NAME], [plugin:NAME])"
    )


def _convert(section, row, key, value):
    try:
        return row.convert(value)
    except ValueError as exc:
        raise section.error(str(exc), key) from None


def _expanded(section, variables):
    """The section's items with ``$(circus.env.X)`` filled from ``variables``."""
    return {key: replace_gnu_args(value, env=variables) for key, (value, _) in section.items.items()}


def _circus_section(section, environ):
    config = options.defaults("circus")
    for key, value in _expanded(section, environ).items():
        row = options.lookup("circus", key)
        if row is None:
            logger.warning("%s [circus] %s: unknown key, ignored", section.items[key][1], key)
            continue
        config[key] = _convert(section, row, key, value)
    if "stats_endpoint" in section.items and not config["statsd"]:
        logger.warning("[circus] stats_endpoint is set: statsd is turned on")
        config["statsd"] = True
    return config


def _socket_section(section, name, environ):
    config = {"name": name.lower()}
    for key, value in _expanded(section, environ).items():
        row = options.lookup("socket", key)
        if row is None:
            logger.warning("%s [%s] %s: unknown key, ignored", section.items[key][1], section.title, key)
            continue
        config[key] = _convert(section, row, key, value)
    try:
        check_address(config["name"], config.get("family"), config.get("path"))
    except ValueError as exc:
        raise section.error(str(exc), "family") from None
    return config


def _plugin_section(section, name, base_env, env_patterns, environ):
    """The plugin's keys as text, plus ``env``: what [env] (and a matching
    [env:...]) give its watcher, PYTHONPATH included."""
    name = plugin_watcher_name(name)
    env, variables = _watcher_env(name, False, base_env, env_patterns, environ)
    config = _expanded(section, variables)
    if not config.get("use", "").strip():
        raise section.error("a plugin needs 'use = dotted.path.to.PluginClass'", "use")
    for key, value in config.items():
        # Checked here, so that a bad watcher key names its file and line;
        # circus.helper_watchers builds the watcher from the text by the same rule.
        _watcher_key(section, key, value, {})
    config["name"] = name
    if env:
        config["env"] = env
    return config


# -- watchers ----------------------------------------------------------------


def _env_patterns(sections):
    """``[(patterns, section)]`` of the [env:...] sections, in file order."""
    return [
        ([word.strip() for word in name.split(",") if word.strip()], section)
        for section in sections
        for kind, name in [_kind(section)]
        if kind == "env:"
    ]


def _watcher_env(name, copy_env, base_env, env_patterns, environ):
    """(W, variables): the watcher's environment and what its values expand against.

    W holds only config values (``$NAME`` expanded); with copy_env it starts
    from circusd's environment, whose values are left untouched.
    """
    own = dict(base_env)
    for patterns, section in env_patterns:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            own.update(_expanded(section, {**environ, **base_env}))
    variables = {**environ, **base_env, **own}
    env = dict(environ) if copy_env else {}
    env.update(parse_env_dict(own))
    return env, variables


def _watcher_key(section, key, value, watcher):
    """Put one ini key of a watcher where it belongs in the watcher dict (see circus.watcher_keys)."""
    if key == "name":
        raise section.error("the name comes from the section title", key)
    try:
        place_key(watcher, key, value)
    except ValueError as exc:
        raise section.error(str(exc), key) from None
    if key.startswith("hooks.") and key[len("hooks."):] not in options.HOOK_NAMES:
        logger.warning("%s [%s] %s: unknown hook, never called", section.items[key][1], section.title, key)


def _check_watcher(section, watcher, socket_names):
    if not watcher.get("cmd", "").strip():
        raise section.error("a watcher needs a cmd", "cmd")
    try:
        options.check_singleton(watcher["name"], watcher.get("singleton"), watcher.get("numprocesses", 1))
    except ValueError as exc:
        raise section.error(str(exc), "numprocesses") from None
    try:
        options.check_readiness(watcher["name"], watcher.get("ready"), watcher.get("ready_address"), watcher.get("ready_url"))
    except ValueError as exc:
        raise section.error(str(exc), "ready") from None
    for key in ("copy_path", "virtualenv"):
        if watcher.get(key) and not watcher.get("copy_env"):
            raise section.error("needs copy_env = true", key)
    stdin_socket = watcher.get("stdin_socket")
    if stdin_socket is not None and stdin_socket.lower() not in socket_names:
        raise section.error("no [socket:%s] section" % stdin_socket, "stdin_socket")
    for family in ("stdout_stream", "stderr_stream"):
        stream = watcher.get(family)
        if stream is None or "class" in stream:
            continue
        if "filename" not in stream:
            raise section.error("a stream needs a class or a filename", family + ".class")
        stream["class"] = "FileStream"


def _watcher_section(section, name, base_env, env_patterns, environ, socket_names):
    copy_env = False
    if "copy_env" in section.items:
        value = replace_gnu_args(section.value("copy_env"), env={**environ, **base_env})
        copy_env = _convert(section, options.lookup("watcher", "copy_env"), "copy_env", value)
    env, variables = _watcher_env(name, copy_env, base_env, env_patterns, environ)
    watcher = {"name": name, "env": env, "rlimits": {}, "hooks": {}, "options": {}}
    for key, value in _expanded(section, variables).items():
        _watcher_key(section, key, value, watcher)
    _check_watcher(section, watcher, socket_names)
    return watcher


def _check_depends(watchers):
    """Every depends_on names a watcher of the file, and there is no cycle."""
    try:
        start_order({config["name"]: config.get("depends_on") or [] for config, _ in watchers})
    except DependencyError as exc:
        section = next(s for c, s in watchers if c["name"] == exc.watcher)
        raise section.error(str(exc), "depends_on") from None


def _unique(configs, what, sections):
    seen = {}
    for config, section in zip(configs, sections):
        folded = config["name"].lower()
        if folded in seen:
            raise section.error("%s %r is defined twice (names ignore case)" % (what, config["name"]))
        seen[folded] = config


# -- entry point -------------------------------------------------------------


def get_config(path: str) -> dict:
    """The configuration in ``path`` as dicts (shape: docs/configuration.rst).

    Raises ConfigError naming the file, section and key of the first problem.
    """
    path = os.path.abspath(path)
    merged = list(_load_sections(path).values())
    kinds = [(section, *_kind(section)) for section in merged]
    environ = dict(os.environ)
    env_section = next((s for s, kind, _ in kinds if kind == "env"), _Section("env", path))
    base_env = _expanded(env_section, environ)
    global_env = {**environ, **base_env}

    circus_section = next((s for s, kind, _ in kinds if kind == "circus"), _Section("circus", path))
    sockets = [(_socket_section(s, name, global_env), s) for s, kind, name in kinds if kind == "socket:"]
    _unique([c for c, _ in sockets], "socket", [s for _, s in sockets])
    socket_names = {config["name"] for config, _ in sockets}
    env_patterns = _env_patterns(merged)
    watchers = [
        (_watcher_section(s, name, base_env, env_patterns, environ, socket_names), s)
        for s, kind, name in kinds
        if kind == "watcher:"
    ]
    _unique([c for c, _ in watchers], "watcher", [s for _, s in watchers])
    _check_depends(watchers)
    plugin_sections = [(s, name) for s, kind, name in kinds if kind == "plugin:"]
    plugins = [_plugin_section(s, name, base_env, env_patterns, environ) for s, name in plugin_sections]
    _unique(plugins, "plugin", [s for s, _ in plugin_sections])
    return {
        "circus": _circus_section(circus_section, global_env),
        "watchers": sorted((config for config, _ in watchers), key=lambda c: c["name"]),
        "sockets": sorted((config for config, _ in sockets), key=lambda c: c["name"]),
        "plugins": sorted(plugins, key=lambda c: c["name"]),
        "env": parse_env_dict(base_env),
        "config_file": path,
    }
