"""The watchers circusd runs for itself: circusd-stats, circushttpd and the plugins.

Each is a watcher dict, as the config loader makes for a ``[watcher:]``
section, running circus code in circusd's own interpreter with the
endpoints circusd really has.
"""

import os
import shlex
import sys

from circus import options as option_table
from circus.environment import add_pythonpath_to_sys_path
from circus.naming import resolve_name
from circus.watcher_keys import place_key, plugin_watcher_name


def _python_command(code, *args):
    """``cmd`` and ``args`` running ``code`` in circusd's own interpreter."""
    return shlex.quote(sys.executable), ["-c", code] + [str(a) for a in args]


def _log_args(settings):
    if settings.get("debug"):
        return ["--log-level", "debug"]
    args = []
    if settings.get("loglevel"):
        args += ["--log-level", settings["loglevel"]]
    if settings.get("logoutput") and settings["logoutput"] != "-":
        args += ["--log-output", settings["logoutput"]]
    return args


def _helper_watcher(name, code, args, close_outputs, settings):
    """A singleton running ``code`` in circusd's interpreter with circusd's sockets."""
    cmd, args = _python_command(code, *args, *_log_args(settings))
    close = close_outputs and not settings.get("debug")
    return {
        "name": name,
        "cmd": cmd,
        "args": args,
        "singleton": True,
        "use_sockets": True,
        "copy_env": True,
        "copy_path": True,
        "close_child_stdout": close,
        "close_child_stderr": close,
    }


def _curve_args(settings, server=False):
    """The key files a helper needs when circusd's channels use CurveZMQ."""
    curve = settings.get("curve")
    return curve.helper_args(server) if curve is not None else []


def _stats_watcher(settings):
    return _helper_watcher(
        "circusd-stats",
        "from circus import stats; stats.main()",
        [
            "--endpoint", settings["endpoint"],
            "--pubsub", settings["pubsub_endpoint"],
            "--statspoint", settings["stats_endpoint"],
            *_curve_args(settings, server=True),
        ],
        settings["statsd_close_outputs"],
        settings,
    )


def _httpd_args(settings):
    """The console's login and TLS options; ValueError now (circusd's start) for an unusable file."""
    args = []
    if settings.get("httpd_auth"):
        from circus.web.auth import load_users

        load_users(settings["httpd_auth"])
        args += ["--auth", settings["httpd_auth"], "--session-timeout", settings["httpd_session_timeout"]]
    for key in ("httpd_certfile", "httpd_keyfile"):
        path = settings.get(key)
        if path:
            if not os.access(path, os.R_OK):
                raise ValueError("cannot read the %s %s" % (key, path))
            args += ["--" + key[len("httpd_"):], path]
    return args


def _httpd_watcher(settings):
    resolve_name("circus.web.circushttpd", silent=False)
    return _helper_watcher(
        "circushttpd",
        "from circus.web import circushttpd; circushttpd.main()",
        ["--fd", "$(circus.sockets.circushttpd)", "--endpoint", settings["endpoint"], *_curve_args(settings),
         *_httpd_args(settings)],
        settings["httpd_close_outputs"],
        settings,
    )


def _plugin_watcher(settings, plugin):
    """A ``[plugin:NAME]`` section (or a ``plugins=`` dict) -> the watcher running it."""
    plugin = dict(plugin)
    use = plugin.pop("use", None)
    if not use:
        raise ValueError("plugin %r needs 'use' (the dotted path of its class)" % plugin.get("name"))
    env = plugin.pop("env", None)
    # Before the import: [env] PYTHONPATH may be where the plugin lives.
    add_pythonpath_to_sys_path(env)
    resolve_name(use)  # fail at load, naming the path, not in a crash loop
    name = plugin_watcher_name(plugin.pop("name", use))
    watcher = {"name": name, "singleton": True, "copy_env": True, "copy_path": True, "priority": 1}
    if env:
        watcher["env"] = env
    config = {"name": name}
    for key, value in plugin.items():
        # Every key reaches the plugin (Flapping reads its own max_retry and
        # retry_in); the watcher keys also configure the plugin's watcher.
        config[key] = value
        if option_table.lookup("watcher", key) is not None:
            place_key(watcher, key, value)
    close = not settings.get("debug")
    # Output given a stream is kept: discarding it would leave the stream empty.
    watcher.setdefault("close_child_stdout", close and "stdout_stream" not in watcher)
    watcher.setdefault("close_child_stderr", close and "stderr_stream" not in watcher)
    conf = ":::".join("%s:%s" % (k, str(v).strip()) for k, v in sorted(config.items()))
    watcher["cmd"], watcher["args"] = _python_command(
        "from circus import plugins; plugins.main()",
        "--endpoint", settings["endpoint"],
        "--pubsub", settings["pubsub_endpoint"],
        "--check-delay", settings["check_delay"],
        "--config", conf,
        *_curve_args(settings),
        *_log_args(settings),
        use,
    )
    return watcher


# The [circus] values the internal watchers are built from.
SETTINGS = (
    "endpoint", "pubsub_endpoint", "stats_endpoint", "statsd", "statsd_close_outputs",
    "httpd", "httpd_close_outputs", "check_delay", "debug", "loglevel", "logoutput", "curve",
    "httpd_auth", "httpd_session_timeout", "httpd_certfile", "httpd_keyfile",
)


def settings_of(arbiter):
    """``SETTINGS`` as ``arbiter`` has them: the endpoints circusd really has."""
    return {key: getattr(arbiter, key, None) for key in SETTINGS}


def internal_watchers(settings, plugins):
    """Watcher dicts for circusd-stats, the web console and the plugins."""
    result = []
    if settings.get("statsd"):
        result.append(_stats_watcher(settings))
    if settings.get("httpd"):
        result.append(_httpd_watcher(settings))
    result += [_plugin_watcher(settings, plugin) for plugin in plugins or []]
    return result


def with_internal_watchers(cfg, settings=None):
    """``cfg`` whose watcher list includes the internal watchers, built from
    ``settings`` (by default the file's ``[circus]`` values)."""
    settings = cfg["circus"] if settings is None else settings
    return dict(cfg, watchers=cfg["watchers"] + internal_watchers(settings, cfg.get("plugins")))
