"""reloadconfig: a new configuration file applied to a running arbiter.

:func:`circus.reload_plan.plan_reload` says what differs; this module
builds and binds what the new file needs, then changes the arbiter to match.
"""

import logging
import time

from circus import rolling
from circus.arbiter import build_watcher
from circus.config import get_config
from circus.depends import start_in_order
from circus.helper_watchers import settings_of, with_internal_watchers
from circus.reload_plan import LIVE_CIRCUS_KEYS, plan_reload, uses_socket
from circus.sockets import CircusSocket, CircusSockets

logger = logging.getLogger("circus.arbiter")


async def reload_from_config(arbiter, config_file=None):
    """Re-read the config file and apply only the difference.

    Everything that can fail (reading the file, building the new
    watchers, binding the new sockets) happens before anything running is
    touched, so a bad file leaves the system exactly as it was.
    """
    async with arbiter.exclusive("reloadconfig"):
        new_cfg = get_config(config_file or arbiter.config_file)
        old_full = with_internal_watchers(arbiter._cfg, _internal_settings(arbiter, arbiter._cfg))
        new_full = with_internal_watchers(new_cfg, _internal_settings(arbiter, new_cfg))
        plan = plan_reload(old_full, new_full)
        _check_socket_users(plan, new_full["watchers"])
        for key in plan.circus_needs_restart:
            logger.warning("[circus] %s changed: it takes effect after a restart", key)
        new_watchers = {w["name"].lower(): w for w in new_full["watchers"]}
        old_watchers = {w["name"].lower(): w for w in old_full["watchers"]}
        rolled = {}  # name -> options: replaced in place by a rolling reload
        for name in plan.watchers_replaced:
            changes = rolling.config_changes(arbiter.get_watcher(name), old_watchers[name], new_watchers[name])
            if changes is not None:
                rolled[name] = changes
        plan.watchers_replaced = [n for n in plan.watchers_replaced if n not in rolled]
        built = {
            name: build_watcher(new_watchers[name])
            for name in plan.watchers_added + plan.watchers_replaced
        }
        new_sockets = {s["name"]: s for s in new_cfg["sockets"]}
        old_sockets = {s["name"]: s for s in arbiter._cfg["sockets"]}
        # A socket changed but kept at its address can only be bound once
        # the old one is closed; every other new socket is bound now.
        in_place = {n for n in plan.sockets_changed if _same_address(old_sockets[n], new_sockets[n])}
        fresh = CircusSockets(
            CircusSocket.load_from_config(new_sockets[name])
            for name in plan.sockets_added + plan.sockets_changed
        )
        try:
            for name, sock in fresh.items():
                if name not in in_place:
                    sock.bind_and_listen()
        except BaseException:
            fresh.close_all()
            raise
        await _apply(arbiter, plan, new_cfg, built, fresh, in_place)
        await _roll(arbiter, rolled, old_watchers, new_watchers)
        return plan


async def _apply(arbiter, plan, new_cfg, built, fresh, in_place=()):
    for key, value in plan.circus_applied.items():
        setattr(arbiter, key, value)
    for name in plan.watchers_removed + plan.watchers_replaced:
        watcher = arbiter.get_watcher(name)
        arbiter._unregister(watcher)
        if name in plan.watchers_removed:
            watcher.notify_event("remove", {"time": time.time()})
        await watcher.stop()
    for name in plan.sockets_removed + plan.sockets_changed:
        arbiter.sockets.pop(name).close()
    for name in in_place:
        fresh[name].bind_and_listen()
    for name, sock in fresh.items():
        arbiter.sockets[name] = sock
        logger.info("socket %r listening at %s", name, sock.location)
    for name, size in plan.watchers_resized.items():
        await arbiter.get_watcher(name).set_numprocesses(size)
    by_priority = [built[n] for n in sorted(built, key=lambda n: -built[n].priority)]
    for watcher in by_priority:
        arbiter._register(watcher)
        if watcher.name.lower() in plan.watchers_added:
            watcher.notify_event("add", {"time": time.time()})
    await start_in_order(by_priority, _autostart, lambda: arbiter._stopping)
    for watcher in arbiter.watchers:
        if any(uses_socket(watcher._cfg or {}, s) for s in fresh) and watcher.name.lower() not in built:
            await watcher.restart()
    arbiter._cfg = new_cfg
    logger.info(
        "configuration reloaded: %d added, %d removed, %d replaced, %d resized",
        len(plan.watchers_added),
        len(plan.watchers_removed),
        len(plan.watchers_replaced),
        len(plan.watchers_resized),
    )


async def _roll(arbiter, rolled, old_watchers, new_watchers):
    """Roll the changed watchers with readiness; a failed one keeps its old config (and says so)."""
    failures = []
    for name, changes in rolled.items():
        watcher = arbiter.get_watcher(name)
        try:
            await rolling.apply_or_undo(watcher, watcher.check_options(changes))
        except rolling.ReloadFailed as exc:
            failures.append(str(exc))
            _keep_old_config(arbiter, old_watchers[name])
            continue
        watcher._cfg = dict(new_watchers[name])
    if failures:
        raise rolling.ReloadFailed("; ".join(failures))


def _keep_old_config(arbiter, old):
    """The stored config keeps ``old`` for that watcher, so that the next reloadconfig tries again."""
    watchers = arbiter._cfg["watchers"]
    for index, cfg in enumerate(watchers):
        if cfg["name"].lower() == old["name"].lower():
            watchers[index] = old


async def _autostart(watcher):
    if watcher.autostart:
        await watcher.start()


def _internal_settings(arbiter, cfg):
    """What the internal watchers are built from on a reload to ``cfg``.

    Only the live [circus] keys come from the file: the others (endpoints,
    statsd, httpd...) wait for a restart, so circusd-stats and the plugins
    must keep using the endpoints circusd really has.
    """
    settings = settings_of(arbiter)
    settings.update((k, v) for k, v in cfg["circus"].items() if k in LIVE_CIRCUS_KEYS and k in settings)
    return settings


def _check_socket_users(plan, watchers):
    """Refuse a reload that removes a socket a watcher of the new file still uses."""
    for watcher in watchers:
        for name in plan.sockets_removed:
            if uses_socket(watcher, name):
                raise ValueError(
                    "watcher %r uses socket %r, which the new configuration removes; "
                    "keep its [socket:%s] section or change the watcher" % (watcher["name"], name, name)
                )


def _same_address(old, new):
    """True when two socket configs name the same fixed address (port 0 never is)."""
    if not new.get("path") and not new.get("port"):
        return False
    return all(old.get(k) == new.get(k) for k in ("path", "host", "port", "family"))
