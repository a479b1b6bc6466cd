"""What a configuration reload changes: a pure diff of two loaded configs.

``plan = plan_reload(old, new)`` says which sockets and watchers to add,
remove or replace; the arbiter then applies it. Keeping the plan apart from
the effect lets it be tested without processes.
"""

from dataclasses import dataclass, field

from circus import options

# [circus] keys a running circusd can take without a restart: the table's
# ``live`` column says so, nobody else.
LIVE_CIRCUS_KEYS = frozenset(
    row.name for row in options.rows("circus") if row.live is not options.Live.READONLY
)


@dataclass
class ReloadPlan:
    circus_applied: dict = field(default_factory=dict)
    circus_needs_restart: list = field(default_factory=list)
    sockets_added: list = field(default_factory=list)
    sockets_removed: list = field(default_factory=list)
    sockets_changed: list = field(default_factory=list)
    watchers_added: list = field(default_factory=list)
    watchers_removed: list = field(default_factory=list)
    watchers_replaced: list = field(default_factory=list)
    watchers_resized: dict = field(default_factory=dict)

    @property
    def empty(self):
        return not any(
            (
                self.circus_applied,
                self.sockets_added,
                self.sockets_removed,
                self.sockets_changed,
                self.watchers_added,
                self.watchers_removed,
                self.watchers_replaced,
                self.watchers_resized,
            )
        )


def _by_name(items, lower=False):
    return {(item["name"].lower() if lower else item["name"]): item for item in items}


def uses_socket(watcher_cfg, socket_name):
    """True when a watcher's command refers to ``socket_name``."""
    text = "%s %s" % (watcher_cfg.get("cmd", ""), watcher_cfg.get("args") or "")
    return "circus.sockets.%s" % socket_name.lower() in text.lower()


def plan_reload(old, new):
    """Compare two ``config.get_config`` results; returns a ReloadPlan."""
    plan = ReloadPlan()
    for key, value in new["circus"].items():
        if old["circus"].get(key) != value:
            if key in LIVE_CIRCUS_KEYS:
                plan.circus_applied[key] = value
            else:
                plan.circus_needs_restart.append(key)

    old_sockets, new_sockets = _by_name(old["sockets"]), _by_name(new["sockets"])
    plan.sockets_added = sorted(set(new_sockets) - set(old_sockets))
    plan.sockets_removed = sorted(set(old_sockets) - set(new_sockets))
    plan.sockets_changed = sorted(
        name for name in set(old_sockets) & set(new_sockets) if old_sockets[name] != new_sockets[name]
    )
    touched_sockets = set(plan.sockets_removed) | set(plan.sockets_changed)

    old_watchers, new_watchers = _by_name(old["watchers"], True), _by_name(new["watchers"], True)
    plan.watchers_added = sorted(set(new_watchers) - set(old_watchers))
    plan.watchers_removed = sorted(set(old_watchers) - set(new_watchers))
    for name in sorted(set(old_watchers) & set(new_watchers)):
        before, after = old_watchers[name], new_watchers[name]
        if any(uses_socket(after, sock) for sock in touched_sockets):
            plan.watchers_replaced.append(name)
        elif before == after:
            continue
        elif _without(before, "numprocesses") == _without(after, "numprocesses"):
            plan.watchers_resized[name] = after.get("numprocesses", 1)
        else:
            plan.watchers_replaced.append(name)
    return plan


def _without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}
